import { loadControlConfig, startControlFromConfig } from '../../../control/index.js';
import { SystemClock, stderrLogger } from '../../../shared/index.js';
import { implement } from '../../kit/index.js';
import { controlRun } from './meta.js';

/**
 * `starling control run`: the control plane's API server in the foreground. The token, the secrets
 * key and (with TLS on, the default) a self-signed certificate are created on first start. SIGTERM or SIGINT closes the server, then the store.
 */
export const runControlRun = implement(controlRun, async (opts) => {
  const logger = stderrLogger(opts['log-level']).child({ component: 'control' });
  const config = await loadControlConfig(opts.config);
  const running = await startControlFromConfig(config, { logger, clock: new SystemClock() });
  return new Promise<number>((resolve) => {
    const stop = (signal: string): void => {
      logger.info('signal received: stopping', { signal });
      running.close().then(
        () => resolve(0),
        () => resolve(1),
      );
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
});
