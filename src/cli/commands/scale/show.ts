/**
 * `starling scale show --app APP`, as `fly scale show`: the machines per region (placed, and how
 * many of them are started) and the VM size of the deployed release (its `[[vm]]` cpus and memory),
 * and the same per process group.
 */
import { parseAppConfigDocument } from '../../../contract/index.js';
import { appPath, callControl, resolveControl } from '../../control-client.js';
import { implement } from '../../kit/index.js';
import { printJson, table } from '../../output.js';
import { scaleShow } from './meta.js';

interface StatusAnswer {
  app: { name: string; deployed_release?: number | null };
  machines: { region: string; state: string; release: number; process_group?: string; role?: string }[];
}

interface RegionRow { region: string; count: number; started: number }

/** What `--json` prints (README "scale show"). */
export interface ScaleShowJson {
  app: string;
  release: number | null;
  vm: { cpus: number; memory_mb: number } | null;
  count: number;
  regions: RegionRow[];
  /** Per process group (`app` without [processes]): its VM size (null: no release deployed) and machines. */
  groups: { group: string; vm: { cpus: number; memory_mb: number } | null; count: number; regions: RegionRow[] }[];
}

function byRegion(machines: readonly { region: string; state: string }[]): RegionRow[] {
  const by = new Map<string, RegionRow>();
  for (const m of machines) {
    const row = by.get(m.region) ?? { region: m.region, count: 0, started: 0 };
    row.count++;
    if (m.state === 'started') row.started++;
    by.set(m.region, row);
  }
  return [...by.values()].sort((a, b) => a.region.localeCompare(b.region));
}

export const runScaleShow = implement(scaleShow, async (opts) => {
  const target = resolveControl(opts);
  const { app } = opts;
  const status = await callControl<StatusAnswer>(target, 'GET', appPath(app, '/status'));
  const release = status.app.deployed_release ?? null;
  let vm: ScaleShowJson['vm'] = null;
  const sizes = new Map<string, { cpus: number; memory_mb: number }>();
  if (release) {
    const r = await callControl<{ config: unknown }>(target, 'GET', appPath(app, `/releases/${release}`));
    const c = parseAppConfigDocument(r.config, `release ${release} of app ${app}`).config;
    vm = { cpus: c.vm.cpus, memory_mb: c.vm.memory_mb };
    for (const g of c.processes) sizes.set(g.name, { cpus: g.vm.cpus, memory_mb: g.vm.memory_mb });
  }
  const machines = status.machines.filter((m) => m.role === undefined);
  const groupNames = [...new Set([...sizes.keys(), ...machines.map((m) => m.process_group ?? 'app')])].sort();
  const groups = groupNames.map((group) => {
    const mine = machines.filter((m) => (m.process_group ?? 'app') === group);
    return { group, vm: sizes.get(group) ?? null, count: mine.length, regions: byRegion(mine) };
  });
  const out: ScaleShowJson = { app, release, vm, count: machines.length, regions: byRegion(machines), groups };
  if (opts.json) return printJson(out), 0;
  const sizeOf = (v: ScaleShowJson['vm']): string => (v ? `${v.cpus} cpu${v.cpus === 1 ? '' : 's'}, ${v.memory_mb} MB` : 'no release deployed');
  console.log(`app ${app}: ${out.count} machine${out.count === 1 ? '' : 's'}${release ? ` of release v${release}` : ''}; VM size ${sizeOf(vm)}`);
  if (out.regions.length === 0) return console.log(`no machines; add some with: starling scale count N --app ${app}`), 0;
  // One group (`app`, as before process groups): by region; several: by group and region, with each group's size.
  if (groups.length === 1 && groups[0]!.group === 'app') {
    console.log(table([['REGION', 'COUNT', 'STARTED'], ...out.regions.map((r) => [r.region, String(r.count), String(r.started)])]));
    return 0;
  }
  const rows = [['GROUP', 'VM', 'REGION', 'COUNT', 'STARTED']];
  for (const g of groups) {
    if (g.regions.length === 0) rows.push([g.group, sizeOf(g.vm), '-', '0', '0']);
    for (const r of g.regions) rows.push([g.group, sizeOf(g.vm), r.region, String(r.count), String(r.started)]);
  }
  console.log(table(rows));
  return 0;
});
