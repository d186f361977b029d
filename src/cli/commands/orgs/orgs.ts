/** `starling orgs create|list`: organisations, which own apps and tokens (docs/control-api.md). */
import type { Command } from '../../args.js';
import { callControl, controlOptions, resolveControl } from '../../control-client.js';
import { jsonOption } from '../certs/common.js';
import { printJson, table } from '../../output.js';

export interface OrgJson {
  name: string;
  created_at: string;
  apps: number;
}

export const orgsCreate: Command = {
  noun: 'orgs',
  verb: 'create',
  summary: 'create an organisation (the platform operator only)',
  args: ['NAME'],
  options: { ...jsonOption, ...controlOptions },
  async run(opts) {
    const org = await callControl<OrgJson>(resolveControl(opts), 'POST', '/v1/orgs', { name: String(opts.name) });
    if (opts.json === true) printJson(org);
    else console.log(`created org ${org.name}\nnext: give it a token: starling tokens create --org ${org.name} --scope admin`);
    return 0;
  },
};

export const orgsList: Command = {
  noun: 'orgs',
  verb: 'list',
  aliases: ['ls'],
  summary: "the organisations you see (the operator sees all; a token its own)",
  options: { ...jsonOption, ...controlOptions },
  async run(opts) {
    const { orgs } = await callControl<{ orgs: OrgJson[] }>(resolveControl(opts), 'GET', '/v1/orgs');
    orgs.sort((a, b) => a.name.localeCompare(b.name));
    if (opts.json === true) printJson(orgs);
    else console.log(table([['NAME', 'APPS', 'CREATED'], ...orgs.map((o) => [o.name, String(o.apps), o.created_at])]));
    return 0;
  },
};
