import { callAdminApi, loadAgentConfig } from '../../../agent/index.js';
import type { AnnouncerStatus } from '../../../announcer/index.js';
import { printJson, table } from '../../output.js';
import { implement } from '../../kit/index.js';
import { agentBgpStatus } from './meta.js';

type Prefix = AnnouncerStatus['prefixes'][number];

/**
 * `starling agent bgp status`: what the running agent's BIRD says about each BGP session, and each
 * anycast prefix with why it is announced or withdrawn. `--json` prints the AnnouncerStatus as the
 * admin API returns it (GET /v1/bgp/status; keys documented in the README, `null` when unknown).
 */
export const runAgentBgpStatus = implement(agentBgpStatus, async (opts) => {
  const config = await loadAgentConfig(opts.config);
  const st = await callAdminApi<AnnouncerStatus>(config.agent, 'GET', '/v1/bgp/status');
  if (opts.json) printJson(st);
  else console.log(formatStatus(st));
  return 0;
});

export function formatStatus(st: AnnouncerStatus): string {
  const bird = st.bird.running
    ? `running (pid ${st.bird.pid ?? '?'})`
    : `not running${st.bird.lastError ? `: ${st.bird.lastError}` : ''}`;
  const out = [
    table([
      ['bird', bird + (st.bird.running && st.bird.lastError ? `; last error: ${st.bird.lastError}` : '')],
      ['health', st.health.healthy ? 'passing' : typeof st.health.lastResult !== 'boolean' ? 'not checked yet' : 'failing'],
      ['drain', st.drain],
    ]),
    '',
  ];
  if (st.sessions.length === 0) {
    out.push(st.bird.running ? 'sessions: none reported by BIRD' : 'sessions: unknown (BIRD is not running)');
  } else {
    const rows = [['PEER', 'NEIGHBOR', 'STATE', 'SINCE', 'EXPORTED', 'LAST ERROR']];
    for (const s of st.sessions) {
      const state = s.bgpState ?? s.state;
      rows.push([s.name, s.neighbor ?? '-', state, s.since ?? '-', typeof s.exported === 'number' ? String(s.exported) : '-', s.lastError ?? '-']);
    }
    out.push(table(rows));
  }
  out.push('');
  const rows = [['PREFIX', 'STATE', 'SINCE', 'WHY']];
  for (const p of st.prefixes) rows.push([p.prefix, p.announced ? 'announced' : 'withdrawn', p.since, why(p, st)]);
  out.push(table(rows));
  return out.join('\n');
}

/** The reason in words, with what would change it. */
function why(p: Prefix, st: AnnouncerStatus): string {
  const pending = p.announced ? '' : ' (not applied: BIRD unreachable)';
  switch (p.reason) {
    case 'healthy':
      return `health check passing${pending}`;
    case 'unhealthy':
      if (st.health.lastResult === true && st.health.dampingLeftMs > 0) {
        return `health check passing again; held back by damping for ${(st.health.dampingLeftMs / 1000).toFixed(1)} s`;
      }
      return 'health check failing';
    case 'draining':
      return 'draining: tagged GRACEFUL_SHUTDOWN (65535:0) and prepended; withdrawal follows the drain delay';
    case 'drained':
      return 'drained (starling agent undrain announces it again)';
    case 'starting':
      return 'starting: waiting for the health check';
    case 'stopped':
      return 'agent stopped';
  }
}
