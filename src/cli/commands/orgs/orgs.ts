/** `starling orgs create|list`: organisations, which own apps and tokens (docs/control-api.md). */
import { callControl, resolveControl } from '../../control-client.js';
import { implement } from '../../kit/index.js';
import { printJson, table } from '../../output.js';
import { orgsCreate, orgsList } from './meta.js';

export interface OrgJson {
  name: string;
  created_at: string;
  apps: number;
}

export const runOrgsCreate = implement(orgsCreate, async (opts) => {
  const org = await callControl<OrgJson>(resolveControl(opts), 'POST', '/v1/orgs', { name: opts.name });
  if (opts.json) printJson(org);
  else console.log(`created org ${org.name}\nnext: give it a token: starling tokens create --org ${org.name} --scope admin`);
  return 0;
});

export const runOrgsList = implement(orgsList, async (opts) => {
  const { orgs } = await callControl<{ orgs: OrgJson[] }>(resolveControl(opts), 'GET', '/v1/orgs');
  orgs.sort((a, b) => a.name.localeCompare(b.name));
  if (opts.json) printJson(orgs);
  else console.log(table([['NAME', 'APPS', 'CREATED'], ...orgs.map((o) => [o.name, String(o.apps), o.created_at])]));
  return 0;
});
