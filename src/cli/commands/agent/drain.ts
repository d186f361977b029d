import { callAdminApi, loadAgentConfig, type DrainReply } from '../../../agent/index.js';
import { implement } from '../../kit/index.js';
import { agentDrain } from './meta.js';

/**
 * `starling agent drain`: asks the running agent to take this host out of the anycast gracefully
 * (RFC 8326): the routes stay announced for the drain delay, tagged GRACEFUL_SHUTDOWN and with the
 * AS path prepended, so upstreams move traffic elsewhere while this proxy still serves what arrives;
 * then they are withdrawn.
 */
export const runAgentDrain = implement(agentDrain, async (opts) => {
  const config = await loadAgentConfig(opts.config);
  const reply = await callAdminApi<DrainReply>(config.agent, 'POST', '/v1/drain');
  console.log(describeDrain(reply));
  return 0;
});

export function describeDrain(r: DrainReply): string {
  const tagged = `routes tagged GRACEFUL_SHUTDOWN (${r.community})${r.prepend > 0 ? ` and prepended ${r.prepend}×` : ''}`;
  const secs = seconds(r.delay_ms);
  if (r.drain === 'drained') return 'already drained: routes withdrawn; undo with starling agent undrain';
  if (!r.changed) return `already draining: ${tagged}; withdrawn at most ${secs} s after the drain began`;
  return [
    `draining: ${tagged}; withdrawn in ${secs} s`,
    'the proxy keeps serving the connections that still arrive meanwhile; undo with starling agent undrain',
  ].join('\n');
}

function seconds(ms: number): string {
  return String(Math.round(ms / 100) / 10);
}
