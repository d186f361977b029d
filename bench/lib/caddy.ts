/**
 * Caddy as a peer of `bench:proxy` and `bench:tls` (Debian package `caddy`): its JSON config,
 * written into the benchmark's temp dir, and how it is started. Caddy is what Kamal, Coolify and
 * Uncloud users run in front of their apps today.
 *
 * The config keeps Caddy to what the other peers do: one core (`GOMAXPROCS=1`, as nginx and
 * HAProxy run one worker), `reverse_proxy` to the origin with up to 64 idle kept-alive connections
 * (nginx's `keepalive 64`), no admin endpoint, no access log, no automatic HTTPS (no ACME, no
 * redirect listener on :80), HTTP/1.1 only (no HTTP/3 UDP listener). Its data and config dirs
 * point into the temp dir, so nothing is written under $HOME.
 * Config reference: https://caddyserver.com/docs/json/
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { spawnManaged, type Managed } from './procs.js';

/** The environment Caddy runs with: `procs` OS threads running Go code (1: one core), state inside `dir`. */
export function caddyEnv(dir: string, procs: number): Record<string, string> {
  return { GOMAXPROCS: String(procs), XDG_DATA_HOME: join(dir, 'caddy-data'), XDG_CONFIG_HOME: join(dir, 'caddy-config') };
}

function reverseProxy(originPort: number): object {
  return {
    handler: 'reverse_proxy',
    upstreams: [{ dial: `127.0.0.1:${originPort}` }],
    transport: { protocol: 'http', keep_alive: { enabled: true, max_idle_conns_per_host: 64 } },
  };
}

function config(dir: string, apps: Record<string, object>): string {
  const cfg = {
    admin: { disabled: true, config: { persist: false } },
    logging: { logs: { default: { level: 'WARN' } } },
    storage: { module: 'file_system', root: join(dir, 'caddy-data') },
    apps,
  };
  return `${JSON.stringify(cfg, null, 2)}\n`;
}

/** Plain HTTP reverse proxy on 127.0.0.1:`port` to the origin, any Host. */
export function caddyProxyConf(dir: string, port: number, originPort: number): string {
  return config(dir, { http: httpApp(port, originPort, {}) });
}

/** The one server both configs run: HTTP/1.1 on 127.0.0.1:`port`, everything to the origin; `extra` adds to it. */
function httpApp(port: number, originPort: number, extra: object): object {
  return {
    grace_period: '1s',
    servers: {
      bench: { listen: [`127.0.0.1:${port}`], automatic_https: { disable: true }, protocols: ['h1'], routes: [{ handle: [reverseProxy(originPort)] }], ...extra },
    },
  };
}

/**
 * TLS-terminating reverse proxy: the benchmark's certificate and key files (the ones nginx gets),
 * TLS 1.3 only, session tickets off (as `NumTickets 0` on nginx and Starling, so that every new
 * connection is a full handshake), no OCSP stapling (the certificate is self-signed). Go's TLS 1.3
 * cipher suites cannot be configured: with hardware AES it picks TLS_AES_128_GCM_SHA256.
 */
export function caddyTlsProxyConf(dir: string, port: number, originPort: number, tls: { certFile: string; keyFile: string }): string {
  return config(dir, {
    tls: {
      certificates: { load_files: [{ certificate: tls.certFile, key: tls.keyFile }] },
      session_tickets: { disabled: true },
      disable_ocsp_stapling: true,
    },
    http: httpApp(port, originPort, { tls_connection_policies: [{ protocol_min: 'tls1.3' }] }),
  });
}

/** Writes `conf` as `${tag}.json` in `dir` and runs `caddy run --config` on it (foreground), GOMAXPROCS=`procs`. */
export function startCaddy(bin: string, dir: string, tag: string, conf: string, procs = 1): Managed {
  const confFile = join(dir, `${tag}.json`);
  writeFileSync(confFile, conf);
  return spawnManaged(tag, bin, ['run', '--config', confFile], join(dir, `${tag}.out`), caddyEnv(dir, procs));
}
