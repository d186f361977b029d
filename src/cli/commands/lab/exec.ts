/** `starling lab exec CITY -- CMD…` and `starling lab curl CITY URL`: from inside the lab. */
import { spawn } from 'node:child_process';
import { APPS_DOMAIN, namespaceFor, startProbe } from '../../../lab/index.js';
import { StarlingError } from '../../../shared/index.js';
import { usageError } from '../../kit/index.js';
import { asLabUser, labFromOpts } from './common.js';
import { implement } from '../../kit/index.js';
import { labCurlCmd, labExecCmd } from './meta.js';

export const runLabExecCmd = implement(labExecCmd, (opts) =>
  asLabUser(opts, async () => {
    const ctx = labFromOpts(opts);
    const ns = namespaceFor(ctx, opts.city);
    const [cmd = '', ...args] = opts.cmd;
    return new Promise<number>((resolve, reject) => {
      const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: 'inherit' });
      child.on('error', (e) => reject(new StarlingError('ERR_LAB_EXEC', `cannot run ip netns exec: ${e.message}`, { hint: 'install iproute2' })));
      child.on('close', (code, signal) => resolve(code ?? (signal === 'SIGINT' ? 130 : 1)));
    });
  }),
);

export const runLabCurlCmd = implement(labCurlCmd, (opts) =>
  asLabUser(opts, async () => {
    const ctx = labFromOpts(opts);
    const ns = namespaceFor(ctx, opts.city);
    if (!/^http:\/\/[^/\s]+/.test(opts.url)) throw usageError(`URL must be an http:// URL, e.g. http://${ctx.plan.serviceAddress}/, got "${opts.url}"`);
    let { url } = opts;
    let host = opts.host ?? ctx.appHost;
    // An app's own name (http://my-app.starling.test/): the lab has no DNS, so it is the anycast address with that Host.
    const u = new URL(url);
    if (u.hostname.endsWith(`.${APPS_DOMAIN}`)) {
      host = opts.host ?? u.host;
      u.hostname = ctx.plan.serviceAddress;
      url = u.toString();
    }
    const run = startProbe(ns, { mode: 'fetch', url, host, include: opts.include, timeoutMs: 5000 }, undefined, { output: 'inherit' });
    return run.exited;
  }),
);
