import { callAdminApi, loadAgentConfig, type DrainReply } from '../../../agent/index.js';
import { implement } from '../../kit/index.js';
import { agentUndrain } from './meta.js';

/** `starling agent undrain`: ends a drain; the prefixes are announced again while the health check passes. */
export const runAgentUndrain = implement(agentUndrain, async (opts) => {
  const config = await loadAgentConfig(opts.config);
  const reply = await callAdminApi<DrainReply>(config.agent, 'POST', '/v1/undrain');
  console.log(
    reply.changed
      ? 'undrained: GRACEFUL_SHUTDOWN tag and prepends removed; prefixes announced while the health check passes'
      : 'not draining: nothing to undo',
  );
  return 0;
});
