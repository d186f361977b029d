/**
 * `starling scale show --app APP`, as `fly scale show`: the machines per region (placed, and how
 * many of them are started) and the VM size of the deployed release (its `[[vm]]` cpus and memory).
 */
import { parseAppConfigDocument } from '../../../contract/index.js';
import { appPath, callControl, resolveControl } from '../../control-client.js';
import { implement } from '../../kit/index.js';
import { printJson, table } from '../../output.js';
import { scaleShow } from './meta.js';

interface StatusAnswer {
  app: { name: string; deployed_release?: number | null };
  machines: { region: string; state: string; release: number }[];
}

/** What `--json` prints (README "scale show"). */
export interface ScaleShowJson {
  app: string;
  release: number | null;
  vm: { cpus: number; memory_mb: number } | null;
  count: number;
  regions: { region: string; count: number; started: number }[];
}

export const runScaleShow = implement(scaleShow, async (opts) => {
  const target = resolveControl(opts);
  const { app } = opts;
  const status = await callControl<StatusAnswer>(target, 'GET', appPath(app, '/status'));
  const release = status.app.deployed_release ?? null;
  let vm: ScaleShowJson['vm'] = null;
  if (release) {
    const r = await callControl<{ config: unknown }>(target, 'GET', appPath(app, `/releases/${release}`));
    const c = parseAppConfigDocument(r.config, `release ${release} of app ${app}`).config;
    vm = { cpus: c.vm.cpus, memory_mb: c.vm.memory_mb };
  }
  const by = new Map<string, { region: string; count: number; started: number }>();
  for (const m of status.machines) {
    const row = by.get(m.region) ?? { region: m.region, count: 0, started: 0 };
    row.count++;
    if (m.state === 'started') row.started++;
    by.set(m.region, row);
  }
  const out: ScaleShowJson = { app, release, vm, count: status.machines.length, regions: [...by.values()].sort((a, b) => a.region.localeCompare(b.region)) };
  if (opts.json) return printJson(out), 0;
  const size = vm ? `${vm.cpus} cpu${vm.cpus === 1 ? '' : 's'}, ${vm.memory_mb} MB` : 'no release deployed';
  console.log(`app ${app}: ${out.count} machine${out.count === 1 ? '' : 's'}${release ? ` of release v${release}` : ''}; VM size ${size}`);
  if (out.regions.length === 0) return console.log(`no machines; add some with: starling scale count N --app ${app}`), 0;
  console.log(table([['REGION', 'COUNT', 'STARTED'], ...out.regions.map((r) => [r.region, String(r.count), String(r.started)])]));
  return 0;
});
