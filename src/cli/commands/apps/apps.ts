/**
 * `starling apps create|list|destroy`: apps on the control plane (docs/control-api.md). An app is a
 * name and a primary region; its releases and secrets hang off it and go when it is destroyed.
 */
import { StarlingError } from '../../../shared/index.js';
import type { Command } from '../../args.js';
import { callControl, controlOptions, resolveControl, type ControlTarget } from '../../control-client.js';
import { jsonOption } from '../certs/common.js';
import { printJson, table } from '../../output.js';

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

function usage(message: string, hint?: string): StarlingError {
  return new StarlingError('ERR_USAGE', message, { fault: 'user', hint });
}

/** `--primary-region`, or the first region that has hosts when there is one. */
async function primaryRegion(target: ControlTarget, given: unknown): Promise<string> {
  if (typeof given === 'string' && given !== '') return given;
  const { regions } = await callControl<RegionsReply>(target, 'GET', '/v1/regions');
  const first = regions[0];
  if (!first) throw usage('--primary-region REGION is required: no region has hosts yet', 'name one from the catalog, e.g. --primary-region ams');
  return first.code;
}

export const appsCreate: Command = {
  noun: 'apps',
  verb: 'create',
  summary: 'create an app on the control plane',
  args: ['NAME'],
  options: {
    'primary-region': { type: 'string', value: 'REGION', description: 'where its machines go first (default: the first region with hosts)' },
    org: { type: 'string', value: 'ORG', description: "the org it belongs to (default: the token's org; the operator's: personal)" },
    ...jsonOption,
    ...controlOptions,
  },
  async run(opts) {
    const name = String(opts.name);
    const target = resolveControl(opts);
    const region = await primaryRegion(target, opts['primary-region']);
    const org = typeof opts.org === 'string' && opts.org !== '' ? { org: opts.org } : {};
    const app = await callControl<AppJson>(target, 'POST', '/v1/apps', { name, primary_region: region, ...org });
    if (opts.json === true) printJson(app);
    else console.log(`created app ${app.name} in org ${app.org} (primary region ${app.primary_region})\nnext: set its secrets (starling secrets set --app ${app.name} NAME=VALUE), then deploy it`);
    return 0;
  },
};

export const appsList: Command = {
  noun: 'apps',
  verb: 'list',
  aliases: ['ls'],
  summary: 'the apps on the control plane',
  options: { ...jsonOption, ...controlOptions },
  async run(opts) {
    const { apps } = await callControl<{ apps: AppJson[] }>(resolveControl(opts), 'GET', '/v1/apps');
    apps.sort((a, b) => a.name.localeCompare(b.name));
    if (opts.json === true) printJson(apps);
    else if (apps.length === 0) console.log('no apps yet; create one with: starling apps create NAME --primary-region REGION');
    else console.log(formatApps(apps));
    return 0;
  },
};

export function formatApps(apps: readonly AppJson[]): string {
  const rows = [['NAME', 'ORG', 'PRIMARY REGION', 'RELEASE', 'SECRETS VERSION', 'CREATED']];
  for (const a of apps) rows.push([a.name, a.org, a.primary_region, a.release_version === 0 ? '-' : `v${a.release_version}`, String(a.secrets_version), a.created_at]);
  return table(rows);
}

export const appsDestroy: Command = {
  noun: 'apps',
  verb: 'destroy',
  aliases: ['rm'],
  summary: 'destroy an app with its releases and secrets (needs --yes)',
  args: ['NAME'],
  options: {
    yes: { type: 'boolean', description: 'really destroy it: its releases and secrets go too, for good' },
    ...controlOptions,
  },
  async run(opts) {
    const name = String(opts.name);
    if (opts.yes !== true) {
      throw usage(`not destroying app ${name} without --yes: its releases and secrets would go too, and it cannot be undone`, `starling apps destroy ${name} --yes`);
    }
    await callControl(resolveControl(opts), 'DELETE', `/v1/apps/${encodeURIComponent(name)}`);
    console.log(`destroyed app ${name} with its releases and secrets`);
    return 0;
  },
};
