import { loadAgentConfig, startAgent } from '../../../agent/index.js';
import { stderrLogger } from '../../../shared/index.js';
import { implement } from '../../kit/index.js';
import { agentRun } from './meta.js';

/**
 * `starling agent run`: the per-host agent in the foreground (systemd runs it). SIGTERM or SIGINT
 * stops it cleanly: BIRD stops first, so the sessions close and the routes leave the upstreams,
 * then the proxy drains the connections it still holds.
 */
export const runAgentRun = implement(agentRun, async (opts) => {
  const logger = stderrLogger(opts['log-level']);
  const config = await loadAgentConfig(opts.config);
  const agent = await startAgent(config, { logger });
  return new Promise<number>((resolve) => {
    const stop = (signal: string): void => {
      logger.info('signal received: stopping', { signal });
      agent.stop().then(
        () => resolve(0),
        () => resolve(1),
      );
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
});
