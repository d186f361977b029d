import { callAdminApi, loadAgentConfig, type DrainReply } from '../../../agent/index.js';
import type { Command } from '../../args.js';
import { agentConfigOption } from './run.js';

/** `starling agent undrain`: ends a drain; the prefixes are announced again while the health check passes. */
export const agentUndrain: Command = {
  noun: 'agent',
  verb: 'undrain',
  summary: 'end a drain: announce the prefixes again (untagged) while the proxy is healthy',
  options: { ...agentConfigOption },
  async run(opts) {
    const config = await loadAgentConfig(String(opts.config));
    const reply = JSON.parse(await callAdminApi(config.agent, 'POST', '/v1/undrain')) as DrainReply;
    console.log(
      reply.changed
        ? 'undrained: GRACEFUL_SHUTDOWN tag and prepends removed; prefixes announced while the health check passes'
        : 'not draining: nothing to undo',
    );
    return 0;
  },
};
