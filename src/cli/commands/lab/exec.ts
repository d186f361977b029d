/** `starling lab exec CITY -- CMD…` and `starling lab curl CITY URL`: from inside the lab. */
import { spawn } from 'node:child_process';
import { namespaceFor, startProbe } from '../../../lab/index.js';
import { StarlingError } from '../../../shared/index.js';
import { optionList, type Command } from '../../args.js';
import { asLabUser, labFromOpts, nameOption } from './common.js';

export const labExecCmd: Command = {
  noun: 'lab',
  verb: 'exec',
  args: ['CITY', 'CMD...'],
  summary: "run a command in a city's client namespace (or a PoP host's, a router's, the control plane's)",
  options: { ...nameOption },
  run: (opts) =>
    asLabUser(opts, async () => {
      const ctx = labFromOpts(opts);
      const ns = namespaceFor(ctx, String(opts.city));
      const [cmd = '', ...args] = optionList(opts, 'cmd');
      return new Promise<number>((resolve, reject) => {
        const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: 'inherit' });
        child.on('error', (e) => reject(new StarlingError('ERR_LAB_EXEC', `cannot run ip netns exec: ${e.message}`, { hint: 'install iproute2' })));
        child.on('close', (code, signal) => resolve(code ?? (signal === 'SIGINT' ? 130 : 1)));
      });
    }),
};

export const labCurlCmd: Command = {
  noun: 'lab',
  verb: 'curl',
  args: ['CITY', 'URL'],
  summary: "an HTTP GET from a city's client namespace; Host is the demo app's unless --host says otherwise",
  options: {
    host: { type: 'string', value: 'HOST', description: 'the Host header (default: demo.starling.test, the demo app)' },
    include: { type: 'boolean', description: 'print the status line and the response headers too' },
    ...nameOption,
  },
  run: (opts) =>
    asLabUser(opts, async () => {
      const ctx = labFromOpts(opts);
      const ns = namespaceFor(ctx, String(opts.city));
      const url = String(opts.url);
      if (!/^http:\/\/[^/\s]+/.test(url)) throw new StarlingError('ERR_USAGE', `URL must be an http:// URL, e.g. http://${ctx.plan.serviceAddress}/, got "${url}"`, { fault: 'user' });
      const host = typeof opts.host === 'string' ? opts.host : ctx.appHost;
      const run = startProbe(ns, { mode: 'fetch', url, host, include: opts.include === true, timeoutMs: 5000 }, undefined, { output: 'inherit' });
      return run.exited;
    }),
};
