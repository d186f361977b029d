/**
 * `starling hosts add|list|remove`: the hosts of the platform (the operator only). `add` prints the
 * one-time join token the host's agent trades for its own credential; `remove` revokes that
 * credential at once.
 */
import type { HostDoc } from '../../../contract/index.js';
import { callControl, resolveControl } from '../../control-client.js';
import { implement, usageError } from '../../kit/index.js';
import { printJson, table } from '../../output.js';
import { writeSecret } from '../tokens/secret-out.js';
import { hostsAdd, hostsList, hostsRemove } from './meta.js';

export const runHostsAdd = implement(hostsAdd, async (opts) => {
  const body = { id: opts.name, region: opts.region, expires_in_s: opts.expiry / 1000 };
  const { join_token, ...h } = await callControl<{ host: string; region: string; join_token: string; expires_at: string }>(resolveControl(opts), 'POST', '/v1/hosts', body);
  const file = writeSecret(opts.write, join_token);
  if (opts.json) printJson(file ? { ...h, written_to: file } : { ...h, join_token });
  else {
    const where = file ? `written to ${file} (0600)` : `(shown once):\n\n${join_token}\n`;
    console.log(
      `host ${h.host} added in region ${h.region}; its join token, good once until ${h.expires_at}, ${where}\n` +
        'put it in the file [control] join_token_file of the host\'s agent.toml names (mode 0600) and start the agent: it joins at start',
    );
  }
  return 0;
});

export const runHostsList = implement(hostsList, async (opts) => {
  const out = await callControl<{ hosts: HostDoc[]; pending: { host: string; region: string; expires_at: string }[] }>(resolveControl(opts), 'GET', '/v1/hosts');
  if (opts.json) {
    printJson(out);
    return 0;
  }
  const rows = [['HOST', 'REGION', 'STATE', 'CAPACITY', 'PROXY', 'LAST SEEN']];
  for (const h of [...out.hosts].sort((a, b) => a.id.localeCompare(b.id))) rows.push([h.id, h.region, h.healthy === false ? 'down' : 'up', String(h.capacity.machines), h.proxy ?? '-', h.last_seen ?? '-']);
  for (const p of out.pending) rows.push([p.host, p.region, `not joined (token until ${p.expires_at})`, '-', '-', '-']);
  console.log(rows.length === 1 ? 'no hosts yet; add one with: starling hosts add NAME --region REGION' : table(rows));
  return 0;
});

export const runHostsRemove = implement(hostsRemove, async (opts) => {
  const { name } = opts;
  if (!opts.yes) throw usageError(`not removing host ${name} without --yes: its agent is cut off at once`, `starling hosts remove ${name} --yes`);
  const q = opts.force ? '?force=true' : '';
  const out = await callControl<{ deleted: string; machines: number }>(resolveControl(opts), 'DELETE', `/v1/hosts/${encodeURIComponent(name)}${q}`);
  console.log(`removed host ${out.deleted}${out.machines > 0 ? ` and the ${out.machines} machine(s) placed on it` : ''}; its credential no longer works`);
  return 0;
});
