/**
 * `starling hosts add|list|remove`: the hosts of the platform (the operator only). `add` prints the
 * one-time join token the host's agent trades for its own credential; `remove` revokes that
 * credential at once.
 */
import { StarlingError } from '../../../shared/index.js';
import type { HostDoc } from '../../../control/index.js';
import type { Command } from '../../args.js';
import { callControl, controlOptions, resolveControl } from '../../control-client.js';
import { jsonOption } from '../certs/common.js';
import { printJson, table } from '../../output.js';
import { parseExpiry, writeOption, writeSecret } from '../tokens/secret-out.js';


export const hostsAdd: Command = {
  noun: 'hosts',
  verb: 'add',
  summary: 'add a host: prints the one-time join token its agent needs',
  args: ['NAME'],
  options: {
    region: { type: 'string', value: 'REGION', description: 'the region (PoP) the host is in (required)' },
    expiry: { type: 'string', value: 'DURATION', description: 'how long the join token is good for, e.g. 1h, 2d', default: '1h' },
    ...writeOption,
    ...jsonOption,
    ...controlOptions,
  },
  async run(opts) {
    if (typeof opts.region !== 'string' || opts.region === '') throw new StarlingError('ERR_USAGE', '--region REGION is required', { fault: 'user', hint: 'a region code of the catalog, e.g. --region fra' });
    const name = String(opts.name);
    const body = { id: name, region: opts.region, expires_in_s: parseExpiry('--expiry', String(opts.expiry)) };
    const { join_token, ...h } = await callControl<{ host: string; region: string; join_token: string; expires_at: string }>(resolveControl(opts), 'POST', '/v1/hosts', body);
    const file = writeSecret(opts, join_token);
    if (opts.json === true) printJson(file ? { ...h, written_to: file } : { ...h, join_token });
    else {
      const where = file ? `written to ${file} (0600)` : `(shown once):\n\n${join_token}\n`;
      console.log(
        `host ${h.host} added in region ${h.region}; its join token, good once until ${h.expires_at}, ${where}\n` +
          'put it in the file [control] join_token_file of the host\'s agent.toml names (mode 0600) and start the agent: it joins at start',
      );
    }
    return 0;
  },
};

export const hostsList: Command = {
  noun: 'hosts',
  verb: 'list',
  aliases: ['ls'],
  summary: 'the hosts: region, health, capacity, and those added but not joined yet',
  options: { ...jsonOption, ...controlOptions },
  async run(opts) {
    const out = await callControl<{ hosts: HostDoc[]; pending: { host: string; region: string; expires_at: string }[] }>(resolveControl(opts), 'GET', '/v1/hosts');
    if (opts.json === true) {
      printJson(out);
      return 0;
    }
    const rows = [['HOST', 'REGION', 'STATE', 'CAPACITY', 'PROXY', 'LAST SEEN']];
    for (const h of [...out.hosts].sort((a, b) => a.id.localeCompare(b.id))) rows.push([h.id, h.region, h.healthy === false ? 'down' : 'up', String(h.capacity.machines), h.proxy ?? '-', h.last_seen ?? '-']);
    for (const p of out.pending) rows.push([p.host, p.region, `not joined (token until ${p.expires_at})`, '-', '-', '-']);
    console.log(rows.length === 1 ? 'no hosts yet; add one with: starling hosts add NAME --region REGION' : table(rows));
    return 0;
  },
};

export const hostsRemove: Command = {
  noun: 'hosts',
  verb: 'remove',
  aliases: ['rm'],
  summary: 'remove a host: its credential stops working at once (needs --yes)',
  args: ['NAME'],
  options: {
    yes: { type: 'boolean', description: 'really remove it: its agent is cut off from the control plane' },
    force: { type: 'boolean', description: 'also drop the machines placed on it (else refused while it has some)' },
    ...controlOptions,
  },
  async run(opts) {
    const name = String(opts.name);
    if (opts.yes !== true) throw new StarlingError('ERR_USAGE', `not removing host ${name} without --yes: its agent is cut off at once`, { fault: 'user', hint: `starling hosts remove ${name} --yes` });
    const q = opts.force === true ? '?force=true' : '';
    const out = await callControl<{ deleted: string; machines: number }>(resolveControl(opts), 'DELETE', `/v1/hosts/${encodeURIComponent(name)}${q}`);
    console.log(`removed host ${out.deleted}${out.machines > 0 ? ` and the ${out.machines} machine(s) placed on it` : ''}; its credential no longer works`);
    return 0;
  },
};
