import cluster from 'node:cluster';
import { runPrimary, runWorker, startStandalone, type StandaloneOptions } from '../../../proxy/index.js';
import { StarlingError, stderrLogger, type Level } from '../../../shared/index.js';
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
    'no-fly-headers': { type: 'boolean', description: 'do not add the Fly-* twins of the Starling-* headers' },
    workers: { type: 'string', value: 'N', description: 'proxy processes sharing the listening socket', default: '1' },
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
