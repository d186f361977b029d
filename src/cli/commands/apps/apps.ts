/**
 * `starling apps create|list|destroy`: apps on the control plane (docs/control-api.md). An app is a
 * name and a primary region; its releases and secrets hang off it and go when it is destroyed.
 */
import { callControl, resolveControl, type ControlTarget } from '../../control-client.js';
import { implement, usageError as usage } from '../../kit/index.js';
import { printJson, table } from '../../output.js';
import { appsCreate, appsDestroy, appsList } from './meta.js';

/** An app as the API answers it (GET /v1/apps/{app}). */
export interface AppJson {
  name: string;
  org: string;
  primary_region: string;
  created_at: string;
  release_version: number;
  secrets_version: number;
}

interface RegionsReply {
  regions: { code: string; name: string; hosts: number }[];
}

/** `--primary-region`, or the first region that has hosts when there is one. */
async function primaryRegion(target: ControlTarget, given: string | undefined): Promise<string> {
  if (given !== undefined && given !== '') return given;
  const { regions } = await callControl<RegionsReply>(target, 'GET', '/v1/regions');
  const first = regions[0];
  if (!first) throw usage('--primary-region REGION is required: no region has hosts yet', 'name one from the catalog, e.g. --primary-region ams');
  return first.code;
}

export const runAppsCreate = implement(appsCreate, async (opts) => {
  const { name } = opts;
  const target = resolveControl(opts);
  const region = await primaryRegion(target, opts['primary-region']);
  const org = opts.org !== undefined && opts.org !== '' ? { org: opts.org } : {};
  const app = await callControl<AppJson>(target, 'POST', '/v1/apps', { name, primary_region: region, ...org });
  if (opts.json) printJson(app);
  else console.log(`created app ${app.name} in org ${app.org} (primary region ${app.primary_region})\nnext: set its secrets (starling secrets set --app ${app.name} NAME=VALUE), then deploy it`);
  return 0;
});

export const runAppsList = implement(appsList, async (opts) => {
  const { apps } = await callControl<{ apps: AppJson[] }>(resolveControl(opts), 'GET', '/v1/apps');
  apps.sort((a, b) => a.name.localeCompare(b.name));
  if (opts.json) printJson(apps);
  else if (apps.length === 0) console.log('no apps yet; create one with: starling apps create NAME --primary-region REGION');
  else console.log(formatApps(apps));
  return 0;
});

export function formatApps(apps: readonly AppJson[]): string {
  const rows = [['NAME', 'ORG', 'PRIMARY REGION', 'RELEASE', 'SECRETS VERSION', 'CREATED']];
  for (const a of apps) rows.push([a.name, a.org, a.primary_region, a.release_version === 0 ? '-' : `v${a.release_version}`, String(a.secrets_version), a.created_at]);
  return table(rows);
}

export const runAppsDestroy = implement(appsDestroy, async (opts) => {
  const { name } = opts;
  if (!opts.yes) {
    throw usage(`not destroying app ${name} without --yes: its releases and secrets would go too, and it cannot be undone`, `starling apps destroy ${name} --yes`);
  }
  await callControl(resolveControl(opts), 'DELETE', `/v1/apps/${encodeURIComponent(name)}`);
  console.log(`destroyed app ${name} with its releases and secrets`);
  return 0;
});
