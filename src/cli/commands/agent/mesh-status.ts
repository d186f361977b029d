import { callAdminApi, loadAgentConfig } from '../../../agent/index.js';
import type { MeshStatus } from '../../../mesh/index.js';
import { printJson, table } from '../../output.js';
import { implement } from '../../kit/index.js';
import { agentMeshStatus } from './meta.js';

/**
 * `starling agent mesh status`: this host on the WireGuard mesh and each peer, as the device says
 * (GET /v1/mesh/status on the agent's admin API). `--json` prints `{ mesh }` as the API returns it.
 */
export const runAgentMeshStatus = implement(agentMeshStatus, async (opts) => {
  const config = await loadAgentConfig(opts.config);
  const st = await callAdminApi<{ mesh: MeshStatus | null }>(config.agent, 'GET', '/v1/mesh/status');
  if (opts.json) printJson(st);
  else console.log(formatMeshStatus(st.mesh, Date.now()));
  return 0;
});

export function formatMeshStatus(m: MeshStatus | null, now: number): string {
  if (!m) return 'not on the mesh yet: the control plane has not placed this host (is [mesh] in agent.toml, and the control plane reachable?)';
  const ago = (ms: number): string => (ms === 0 ? 'never' : `${Math.max(0, Math.round((now - ms) / 1000))} s ago`);
  const rows = [['PEER', 'ENDPOINT', 'HANDSHAKE', 'RECEIVED', 'SENT']];
  for (const p of [...m.peers].sort((a, b) => a.host.localeCompare(b.host))) rows.push([p.host, p.endpoint ?? '-', ago(p.lastHandshakeMs), `${p.rxBytes} B`, `${p.txBytes} B`]);
  return [table([['interface', m.interface], ['wireguard', m.wireguard ?? '?'], ['address', m.address], ['public key', m.publicKey]]), '', m.peers.length === 0 ? 'peers: none (no other host is on the mesh)' : table(rows)].join('\n');
}
