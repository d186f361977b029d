/** `starling proxy …`: what the command table knows of it (serve.ts and forward.ts run them). */
import { appFlag, controlFlags, logLevelFlag } from '../../flags.js';
import { boolean, custom, defineCommand, hostPort, number, oneOf, string } from '../../kit/index.js';
import { lowerRegionCode } from '../regions/meta.js';

const needs = { hint: 'starling proxy serve --routes routes.json --region fra --listen 127.0.0.1:8080' };

/**
 * The proxy's own defaults (DEFAULT_LIMITS in src/proxy), written out so that help needs no proxy
 * code; a unit test keeps them equal.
 */
export const PROXY_DEFAULTS = { maxConnections: 50_000, maxConnectionsPerIp: 1000 } as const;

export const proxyServe = defineCommand({
  noun: 'proxy',
  verb: 'serve',
  summary: 'run the edge proxy alone, with a routes file (demos, tests, benchmarks)',
  options: {
    routes: string({ value: 'FILE', description: 'routes file (JSON or TOML); reloaded when it changes', required: needs }),
    region: custom({ value: 'REGION', description: "this proxy's region, in any case: its machines are preferred", required: needs }, lowerRegionCode),
    listen: hostPort({ description: 'where clients connect', default: '127.0.0.1:8080' }),
    admin: hostPort({ description: '/healthz and /metrics (off when not given)' }),
    'access-log': string({ value: 'off|-|FILE', description: 'JSON access log: off, stdout, or a file', default: '-' }),
    'tls-listen': hostPort({ description: 'HTTPS (HTTP/1.1 and HTTP/2), certificates by SNI from --certs (off when not given)' }),
    certs: string({ value: 'DIR', description: 'certificate store shared by the proxies of every PoP', default: '.starling/certs' }),
    'default-cert': oneOf(['refuse', 'self-signed'], { description: 'handshakes without SNI or for unknown names', default: 'refuse' }),
    'acme-directory': string({ value: 'URL', description: "renew the store's ACME certificates with this CA" }),
    'acme-email': string({ value: 'EMAIL', description: 'contact for the ACME account' }),
    'acme-ca': string({ value: 'FILE', description: "PEM CA to trust for the ACME server's HTTPS (test CAs)" }),
    'no-fly-headers': boolean({ description: 'do not add the Fly-* twins of the Starling-* headers' }),
    workers: number({ value: 'N', description: 'proxy processes sharing the listening socket', integer: true, min: 1, max: 256, default: 1 }),
    'max-connections': number({
      value: 'N',
      description: 'open client connections at most (per worker); more are closed when accepted',
      integer: true,
      min: 1,
      default: PROXY_DEFAULTS.maxConnections,
    }),
    'max-connections-per-ip': number({
      value: 'N',
      description: 'open client connections at most from one IPv4 address or IPv6 /64 (per worker)',
      integer: true,
      min: 1,
      default: PROXY_DEFAULTS.maxConnectionsPerIp,
    }),
    'response-idle-timeout': string({ value: 'DURATION', description: 'cut off a response whose machine sends no body byte for this long', default: '60s' }),
    ...logLevelFlag,
  },
  load: () => import('./serve.js'),
});

/** `starling proxy LOCAL[:REMOTE]`, as `fly proxy`: the noun alone with its ports; `proxy serve` keeps its verb. */
export const proxyForward = defineCommand({
  noun: 'proxy',
  verb: '',
  args: ['LOCAL[:REMOTE]'],
  summary: "forward 127.0.0.1:LOCAL to a machine's port REMOTE (default LOCAL), through the control plane",
  options: {
    ...appFlag(),
    machine: string({ value: 'ID', description: 'the machine (default: the first started one; see starling machines list)' }),
    select: boolean({ short: 's', description: 'pick the machine from a list (needs a terminal)' }),
    ...controlFlags,
  },
  load: () => import('./forward.js'),
});
