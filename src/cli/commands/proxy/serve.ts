import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { parseDuration } from '../../../contract/index.js';
import {
  DEFAULT_LIMITS,
  RESPONSE_IDLE_TIMEOUT_RANGE_MS,
  runPrimary,
  runWorker,
  startStandalone,
  type EdgeLimits,
  type StandaloneOptions,
  type TlsOptions,
} from '../../../proxy/index.js';
import { StarlingError, SystemClock, stderrLogger, type Level } from '../../../shared/index.js';
import { parseHostPort, type Command } from '../../args.js';

export const proxyServe: Command = {
  noun: 'proxy',
  verb: 'serve',
  summary: 'run the edge proxy alone, with a routes file (demos, tests, benchmarks)',
  options: {
    routes: { type: 'string', value: 'FILE', description: 'routes file (JSON or TOML); reloaded when it changes' },
    region: { type: 'string', value: 'REGION', description: "this proxy's region: its machines are preferred" },
    listen: { type: 'string', value: 'HOST:PORT', description: 'where clients connect', default: '127.0.0.1:8080' },
    admin: { type: 'string', value: 'HOST:PORT', description: '/healthz and /metrics (off when not given)' },
    'access-log': { type: 'string', value: 'off|-|FILE', description: 'JSON access log: off, stdout, or a file', default: '-' },
    'tls-listen': { type: 'string', value: 'HOST:PORT', description: 'HTTPS (HTTP/1.1 and HTTP/2), certificates by SNI from --certs (off when not given)' },
    certs: { type: 'string', value: 'DIR', description: 'certificate store shared by the proxies of every PoP', default: '.starling/certs' },
    'default-cert': { type: 'string', value: 'refuse|self-signed', description: 'handshakes without SNI or for unknown names', default: 'refuse' },
    'acme-directory': { type: 'string', value: 'URL', description: "renew the store's ACME certificates with this CA" },
    'acme-email': { type: 'string', value: 'EMAIL', description: 'contact for the ACME account' },
    'acme-ca': { type: 'string', value: 'FILE', description: "PEM CA to trust for the ACME server's HTTPS (test CAs)" },
    'no-fly-headers': { type: 'boolean', description: 'do not add the Fly-* twins of the Starling-* headers' },
    workers: { type: 'string', value: 'N', description: 'proxy processes sharing the listening socket', default: '1' },
    'max-connections': {
      type: 'string',
      value: 'N',
      description: 'open client connections at most (per worker); more are closed when accepted',
      default: String(DEFAULT_LIMITS.maxConnections),
    },
    'max-connections-per-ip': {
      type: 'string',
      value: 'N',
      description: 'open client connections at most from one IPv4 address or IPv6 /64 (per worker)',
      default: String(DEFAULT_LIMITS.maxConnectionsPerIp),
    },
    'response-idle-timeout': {
      type: 'string',
      value: 'DURATION',
      description: 'cut off a response whose machine sends no body byte for this long',
      default: '60s',
    },
    'log-level': { type: 'string', value: 'LEVEL', description: 'debug, info, warn or error (to stderr)', default: 'info' },
  },
  async run(opts) {
    const missing = ['routes', 'region'].filter((k) => typeof opts[k] !== 'string');
    if (missing.length > 0) {
      throw new StarlingError('ERR_USAGE', `missing ${missing.map((m) => `--${m}`).join(' and ')}`, {
        fault: 'user',
        hint: 'starling proxy serve --routes routes.json --region fra --listen 127.0.0.1:8080',
      });
    }
    const level = String(opts['log-level']) as Level;
    if (!['debug', 'info', 'warn', 'error'].includes(level)) {
      throw new StarlingError('ERR_USAGE', `--log-level must be debug, info, warn or error, got "${level}"`, { fault: 'user' });
    }
    const workers = Number(opts.workers);
    if (!Number.isInteger(workers) || workers < 1 || workers > 256) {
      throw new StarlingError('ERR_USAGE', `--workers must be a whole number from 1 to 256, got "${String(opts.workers)}"`, {
        fault: 'user',
      });
    }
    const logger = stderrLogger(level);
    const o: StandaloneOptions = {
      routesPath: String(opts.routes),
      region: String(opts.region),
      listen: parseHostPort(String(opts.listen), '--listen'),
      admin: typeof opts.admin === 'string' ? parseHostPort(opts.admin, '--admin') : undefined,
      accessLog: String(opts['access-log']),
      flyHeaders: opts['no-fly-headers'] !== true,
      logger,
      // The one real clock of this process: every timer of the proxy runs on it.
      clock: new SystemClock(),
      tls: tlsOptions(opts),
      limits: edgeLimitOptions(opts),
    };
    if (workers > 1 && cluster.isPrimary) {
      await runPrimary(o, workers);
      return new Promise<number>(() => undefined);
    }
    if (cluster.isWorker) {
      await runWorker(o, logger);
      return new Promise<number>(() => undefined);
    }
    const running = await startStandalone(o);
    process.on('SIGHUP', () => void running.reload());
    return new Promise<number>((resolve) => {
      let stopping = false;
      const stop = (): void => {
        if (stopping) return;
        stopping = true;
        logger.info('stopping: draining connections');
        running.stop().then(
          () => resolve(0),
          () => resolve(1),
        );
      };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
    });
  },
};

/** --max-connections, --max-connections-per-ip and --response-idle-timeout, checked. */
export function edgeLimitOptions(opts: Record<string, string | boolean | undefined>): EdgeLimits {
  const whole = (flag: string): number => {
    const v = String(opts[flag]);
    const n = /^\d+$/.test(v) ? Number(v) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < 1) {
      throw new StarlingError('ERR_USAGE', `--${flag} must be a whole number of at least 1, got "${v}"`, { fault: 'user' });
    }
    return n;
  };
  const maxConnections = whole('max-connections');
  const maxConnectionsPerIp = whole('max-connections-per-ip');
  if (maxConnectionsPerIp > maxConnections) {
    throw new StarlingError('ERR_USAGE', `--max-connections-per-ip (${maxConnectionsPerIp}) must not exceed --max-connections (${maxConnections})`, {
      fault: 'user',
      hint: `lower --max-connections-per-ip (its default is ${DEFAULT_LIMITS.maxConnectionsPerIp}) or raise --max-connections`,
    });
  }
  const raw = String(opts['response-idle-timeout']);
  // The grammar of durations elsewhere in Starling ("60s", "1m30s", "500ms"); a bare number is seconds.
  const ms = parseDuration(/^\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw);
  const { min, max } = RESPONSE_IDLE_TIMEOUT_RANGE_MS;
  if (ms === undefined || ms < min || ms > max) {
    throw new StarlingError('ERR_USAGE', `--response-idle-timeout must be a duration from 1s to 24h such as "60s" or "2m", got "${raw}"`, {
      fault: 'user',
    });
  }
  return { maxConnections, maxConnectionsPerIp, responseIdleTimeoutMs: ms };
}

function tlsOptions(opts: Record<string, string | boolean | undefined>): TlsOptions | undefined {
  const defaultCert = String(opts['default-cert']);
  if (defaultCert !== 'refuse' && defaultCert !== 'self-signed') {
    throw new StarlingError('ERR_USAGE', `--default-cert must be refuse or self-signed, got "${defaultCert}"`, { fault: 'user' });
  }
  if (typeof opts['tls-listen'] !== 'string') {
    if (typeof opts['acme-directory'] === 'string') {
      throw new StarlingError('ERR_USAGE', '--acme-directory needs --tls-listen (the proxy answers the CA there)', { fault: 'user' });
    }
    return undefined;
  }
  const directoryUrl = opts['acme-directory'];
  let caBundlePem: string | undefined;
  if (typeof opts['acme-ca'] === 'string') {
    try {
      caBundlePem = readFileSync(opts['acme-ca'], 'utf8');
    } catch (e) {
      throw new StarlingError('ERR_USAGE', `cannot read --acme-ca ${opts['acme-ca']}: ${(e as Error).message}`, { fault: 'user' });
    }
  }
  return {
    listen: parseHostPort(opts['tls-listen'], '--tls-listen'),
    certsDir: String(opts.certs),
    defaultCert,
    acme:
      typeof directoryUrl === 'string'
        ? { directoryUrl, email: typeof opts['acme-email'] === 'string' ? opts['acme-email'] : undefined, caBundlePem }
        : undefined,
  };
}
