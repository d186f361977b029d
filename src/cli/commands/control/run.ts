import { loadControlConfig, startControlFromConfig } from '../../../control/index.js';
import { StarlingError, SystemClock, stderrLogger, type Level } from '../../../shared/index.js';
import type { Command } from '../../args.js';

export const DEFAULT_CONTROL_CONFIG = '/etc/starling/control.toml';

/**
 * `starling control run`: the control plane's API server in the foreground. The token, the secrets
 * key and (with TLS on, the default) a self-signed certificate are created on first start. SIGTERM or SIGINT closes the server, then the store.
 */
export const controlRun: Command = {
  noun: 'control',
  verb: 'run',
  summary: 'run the control plane: HTTP API over the state store',
  options: {
    config: { type: 'string', value: 'FILE', description: "the control plane's config (control.toml)", default: DEFAULT_CONTROL_CONFIG },
    'log-level': { type: 'string', value: 'LEVEL', description: 'debug, info, warn or error (to stderr)', default: 'info' },
  },
  async run(opts) {
    const level = String(opts['log-level']) as Level;
    if (!['debug', 'info', 'warn', 'error'].includes(level)) {
      throw new StarlingError('ERR_USAGE', `--log-level must be debug, info, warn or error, got "${level}"`, { fault: 'user' });
    }
    const logger = stderrLogger(level).child({ component: 'control' });
    const config = await loadControlConfig(String(opts.config));
    const running = await startControlFromConfig(config, { logger, clock: new SystemClock() });
    return new Promise<number>((resolve) => {
      const stop = (signal: string): void => {
        logger.info('signal received: stopping', { signal });
        running
          .close()
          .then(
            () => resolve(0),
            () => resolve(1),
          );
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
  },
};
