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
import { SystemClock, stderrLogger } from '../../../shared/index.js';
import { implement, usageError, type OptsOf } from '../../kit/index.js';
import { proxyServe } from './meta.js';

type Opts = OptsOf<typeof proxyServe>;

export const runProxyServe = implement(proxyServe, async (opts) => {
  const { workers } = opts;
  const logger = stderrLogger(opts['log-level']);
  const o: StandaloneOptions = {
    routesPath: opts.routes,
    region: opts.region,
    listen: opts.listen,
    admin: opts.admin,
    accessLog: opts['access-log'],
    flyHeaders: !opts['no-fly-headers'],
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
});

/** --max-connections, --max-connections-per-ip (each checked by the kit) and --response-idle-timeout, checked together. */
export function edgeLimitOptions(opts: Pick<Opts, 'max-connections' | 'max-connections-per-ip' | 'response-idle-timeout'>): EdgeLimits {
  const maxConnections = opts['max-connections'];
  const maxConnectionsPerIp = opts['max-connections-per-ip'];
  if (maxConnectionsPerIp > maxConnections) {
    throw usageError(
      `--max-connections-per-ip (${maxConnectionsPerIp}) must not exceed --max-connections (${maxConnections})`,
      `lower --max-connections-per-ip (its default is ${DEFAULT_LIMITS.maxConnectionsPerIp}) or raise --max-connections`,
    );
  }
  const raw = opts['response-idle-timeout'];
  // The grammar of durations elsewhere in Starling ("60s", "1m30s", "500ms"); a bare number is seconds.
  const ms = parseDuration(/^\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw);
  const { min, max } = RESPONSE_IDLE_TIMEOUT_RANGE_MS;
  if (ms === undefined || ms < min || ms > max) {
    throw usageError(`--response-idle-timeout must be a duration from 1s to 24h such as "60s" or "2m", got "${raw}"`);
  }
  return { maxConnections, maxConnectionsPerIp, responseIdleTimeoutMs: ms };
}

function tlsOptions(opts: Opts): TlsOptions | undefined {
  const listen = opts['tls-listen'];
  const directoryUrl = opts['acme-directory'];
  if (listen === undefined) {
    if (directoryUrl !== undefined) throw usageError('--acme-directory needs --tls-listen (the proxy answers the CA there)');
    return undefined;
  }
  let caBundlePem: string | undefined;
  const caFile = opts['acme-ca'];
  if (caFile !== undefined) {
    try {
      caBundlePem = readFileSync(caFile, 'utf8');
    } catch (e) {
      throw usageError(`cannot read --acme-ca ${caFile}: ${(e as Error).message}`);
    }
  }
  return {
    listen,
    certs: { dir: opts.certs },
    defaultCert: opts['default-cert'],
    acme: directoryUrl !== undefined ? { directoryUrl, email: opts['acme-email'], caBundlePem } : undefined,
  };
}
