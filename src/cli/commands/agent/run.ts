import { loadAgentConfig, startAgent } from '../../../agent/index.js';
import { StarlingError, stderrLogger, type Level } from '../../../shared/index.js';
import type { Command, OptionSpec } from '../../args.js';

export const DEFAULT_AGENT_CONFIG = '/etc/starling/agent.toml';

/** `--config FILE`, shared by every `starling agent …` command: the CLI talks to the agent it names. */
export const agentConfigOption: Record<string, OptionSpec> = {
  config: { type: 'string', value: 'FILE', description: "the agent's static config (agent.toml)", default: DEFAULT_AGENT_CONFIG },
};

/**
 * `starling agent run`: the per-host agent in the foreground (systemd runs it). SIGTERM or SIGINT
 * stops it cleanly: BIRD stops first, so the sessions close and the routes leave the upstreams,
 * then the proxy drains the connections it still holds.
 */
export const agentRun: Command = {
  noun: 'agent',
  verb: 'run',
  summary: 'run the host agent: proxy, BIRD announcer and local admin API',
  options: {
    ...agentConfigOption,
    'log-level': { type: 'string', value: 'LEVEL', description: 'debug, info, warn or error (to stderr)', default: 'info' },
  },
  async run(opts) {
    const level = String(opts['log-level']) as Level;
    if (!['debug', 'info', 'warn', 'error'].includes(level)) {
      throw new StarlingError('ERR_USAGE', `--log-level must be debug, info, warn or error, got "${level}"`, { fault: 'user' });
    }
    const logger = stderrLogger(level);
    const config = await loadAgentConfig(String(opts.config));
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
  },
};
