/** `starling lab exec CITY -- CMD…` and `starling lab curl CITY URL`: from inside the lab. */
import { spawn } from 'node:child_process';
import { isIP } from 'node:net';
import { APPS_DOMAIN, labTrust, namespaceFor, startProbe } from '../../../lab/index.js';
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
    const m = /^(https?):\/\/[^/\s]+/.exec(opts.url);
    if (!m) throw usageError(`URL must be an http:// or https:// URL, e.g. http://${ctx.plan.serviceAddress}/ or https://${ctx.appHost}/, got "${opts.url}"`);
    const secure = m[1] === 'https';
    if (opts.http2 && !secure) throw usageError('--http2 is HTTP/2 over TLS (chosen by ALPN): give an https:// URL');
    if (opts['4'] && opts['6']) throw usageError('give -4 (IPv4) or -6 (IPv6), not both');
    const family = opts['6'] ? 6 : 4;
    let { url } = opts;
    let host = opts.host ?? ctx.appHost;
    // An app's own name (http(s)://my-app.starling.test/): the lab has no DNS for clients, so it is the
    // anycast address of the family asked for (IPv4 unless -6) with that Host (and SNI).
    const u = new URL(url);
    const literal = isIP(u.hostname.replace(/^\[(.*)\]$/, '$1'));
    if (u.hostname.endsWith(`.${APPS_DOMAIN}`)) {
      host = opts.host ?? u.host;
      u.hostname = family === 6 ? `[${ctx.plan.serviceAddress6}]` : ctx.plan.serviceAddress;
      url = u.toString();
    } else if (literal !== 0 && (opts['4'] || opts['6']) && literal !== family) {
      throw usageError(`-${family} asks for IPv${family}, but ${u.hostname} is an IPv${literal} address: give the IPv${family} one (${family === 6 ? `http://[${ctx.plan.serviceAddress6}]/` : `http://${ctx.plan.serviceAddress}/`}) or an app's name`);
    }
    // https: Pebble's root, recorded at lab up (labRootPem names the problem when there is none).
    const tls = secure ? labTrust(ctx) : {};
    const run = startProbe(ns, { mode: 'fetch', url, host, include: opts.include, http2: opts.http2, timeoutMs: 5000, ...tls }, undefined, { output: 'inherit' });
    return run.exited;
  }),
);
