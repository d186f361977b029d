/** `starling regions list`: the regions that have hosts, with their capacity. */
import { callControl, resolveControl } from '../../control-client.js';
import { implement } from '../../kit/index.js';
import { printJson, table } from '../../output.js';
import { regionsList } from './meta.js';

/** A region as GET /v1/regions answers it. */
export interface RegionJson {
  code: string;
  name: string;
  lat: number | null;
  lon: number | null;
  hosts: number;
  capacity: { machines: number };
}

export const runRegionsList = implement(regionsList, async (opts) => {
  const { regions } = await callControl<{ regions: RegionJson[] }>(resolveControl(opts), 'GET', '/v1/regions');
  if (opts.json) printJson(regions);
  else if (regions.length === 0) console.log('no region has hosts yet; an agent registers its host when it starts (starling agent run)');
  else console.log(formatRegions(regions));
  return 0;
});

export function formatRegions(regions: readonly RegionJson[]): string {
  const rows = [['CODE', 'NAME', 'HOSTS', 'CAPACITY (MACHINES)']];
  for (const r of regions) rows.push([r.code, r.name, String(r.hosts), String(r.capacity.machines)]);
  return table(rows);
}
