/**
 * The processes of `npm run bench:tls`: the nginx origin and the TLS-terminating proxies under test
 * (Starling's `proxy serve`, nginx, Caddy, the platform's agent), each started fresh for a round,
 * checked with a probe connection (tls-setup.ts) before wrk is pointed at it, and stopped after.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { caddyTlsProxyConf, startCaddy } from './caddy.js';
import { BENCH_HOST, nginxOriginConf, nginxTlsProxyConf } from './configs.js';
import { freePort, HOST, waitFor200 } from './net.js';
import { diagNodeArgs } from './node-diag.js';
import { logTail, spawnManaged, stop, type Managed } from './procs.js';
import type { TlsOptions, TlsProxy } from './tls-args.js';
import { PLATFORM_HOST, type PlatformCase } from './tls-platform.js';
import { waitForTls, type TlsProbeResult } from './tls-setup.js';
import { BenchError } from './util.js';

/** dist/bench/lib/tls-proxies.js → dist/src/cli/main.js */
export const STARLING_MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface Tools {
  nginx: string;
  wrk: string;
  /** '' when Caddy is not installed (then it is not among the proxies). */
  caddy: string;
}

/** What the proxy's TLS port negotiated with a probe connection (see waitForTls). */
export interface Negotiated {
  protocol: string;
  cipher: string;
  group: string;
}

export interface Setup {
  tools: Tools;
  dir: string;
  opts: TlsOptions;
  originPort: number;
  origin: Managed;
  routesFile: string;
  certsDir: string;
  certFile: string;
  keyFile: string;
  certPem: string;
  keyPem: string;
  opensslConf: string;
  wrkScript: string;
  /** Set when the platform case runs. */
  platform: PlatformCase | undefined;
}

/** SNI and Host each proxy is loaded with: the platform serves its apps under the apps_domain. */
export const hostOf = (proxy: TlsProxy): string => (proxy === 'platform' ? PLATFORM_HOST : BENCH_HOST);

async function ready<T>(what: string, proc: Managed, check: () => Promise<T>): Promise<T> {
  try {
    return await check();
  } catch (e) {
    const reason = proc.hasExited() ? `${(e as Error).message} (${await proc.exited})` : (e as Error).message;
    throw new BenchError(`${reason}\n--- ${what} output (${proc.logFile}) ---\n${logTail(proc) || '(empty)'}`);
  }
}

function startNginx(tools: Tools, dir: string, name: string, conf: string): Managed {
  const confFile = join(dir, `${name}.conf`);
  writeFileSync(confFile, conf);
  for (const sub of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, `${name}-temp`, sub), { recursive: true });
  return spawnManaged(name, tools.nginx, ['-c', confFile, '-p', dir, '-e', join(dir, `${name}-error.log`), '-g', 'daemon off;'], join(dir, `${name}.out`));
}

export async function startOrigin(tools: Tools, dir: string): Promise<{ proc: Managed; port: number }> {
  const port = await freePort();
  const proc = startNginx(tools, dir, 'origin', nginxOriginConf(dir, 'origin', port, 1));
  await ready('origin nginx', proc, () => waitFor200('origin nginx', port, '/', { stillRunning: () => !proc.hasExited() }));
  return { proc, port };
}

export interface Started {
  proc: Managed;
  port: number;
  negotiated: Negotiated;
  /** Stops the proxy (and, for the platform, its control plane). */
  stop(): Promise<void>;
}

function starlingArgs(s: Setup, ports: { http: number; tls: number; admin: number }): string[] {
  return [
    `--openssl-config=${s.opensslConf}`,
    ...diagNodeArgs(s.opts),
    STARLING_MAIN,
    'proxy',
    'serve',
    '--routes',
    s.routesFile,
    '--region',
    'fra',
    '--listen',
    `${HOST}:${ports.http}`,
    '--tls-listen',
    `${HOST}:${ports.tls}`,
    '--certs',
    s.certsDir,
    '--admin',
    `${HOST}:${ports.admin}`,
    '--access-log',
    'off',
    '--log-level',
    'warn',
    '--workers',
    '1',
  ];
}

export async function startProxy(proxy: TlsProxy, round: number, s: Setup): Promise<Started> {
  const port = await freePort();
  const tag = `${proxy}-r${round}`;
  const alive = (p: Managed) => () => !p.hasExited();
  const verify = (p: Managed) => waitForTls(`${proxy} proxy`, port, hostOf(proxy), s.certPem, { stillRunning: alive(p) });
  let proc: Managed;
  let probe: TlsProbeResult;
  let stopIt = (): Promise<void> => stop(proc);
  switch (proxy) {
    case 'nginx': {
      const conf = nginxTlsProxyConf(s.dir, tag, port, s.originPort, { certFile: s.certFile, keyFile: s.keyFile });
      proc = startNginx(s.tools, s.dir, tag, conf);
      probe = await ready('nginx proxy', proc, () => verify(proc));
      break;
    }
    case 'caddy': {
      const conf = caddyTlsProxyConf(s.dir, port, s.originPort, { certFile: s.certFile, keyFile: s.keyFile });
      proc = startCaddy(s.tools.caddy, s.dir, tag, conf);
      probe = await ready('caddy proxy', proc, () => verify(proc));
      break;
    }
    case 'starling': {
      const [http, admin] = [await freePort(), await freePort()];
      proc = spawnManaged(tag, process.execPath, starlingArgs(s, { http, tls: port, admin }), join(s.dir, `${tag}.out`));
      probe = await ready('starling proxy', proc, async () => {
        await waitFor200('starling admin', admin, '/healthz', { stillRunning: alive(proc) });
        return verify(proc);
      });
      break;
    }
    case 'platform': {
      if (!s.platform) throw new BenchError('the platform case was not prepared');
      const r = await s.platform.startRound(round, port);
      proc = r.proc;
      stopIt = () => r.stop();
      try {
        // The agent started with an empty state dir: the certificate it serves came over the feed.
        probe = await ready('platform agent', proc, () => verify(proc));
      } catch (e) {
        await r.stop();
        throw e;
      }
      break;
    }
  }
  return { proc, port, negotiated: { protocol: probe.protocol ?? 'unknown', cipher: probe.cipher, group: probe.group ?? 'unknown' }, stop: stopIt };
}
