/** `starling regions list`: the regions that have hosts, with their capacity. */
import type { Command } from '../../args.js';
import { callControl, controlOptions, resolveControl } from '../../control-client.js';
import { jsonOption } from '../certs/common.js';
import { printJson, table } from '../../output.js';

/** A region as GET /v1/regions answers it. */
export interface RegionJson {
  code: string;
  name: string;
  lat: number | null;
  lon: number | null;
  hosts: number;
  capacity: { machines: number };
}

export const regionsList: Command = {
  noun: 'regions',
  verb: 'list',
  aliases: ['ls'],
  summary: 'the regions that have hosts: code, name, hosts, machine capacity',
  options: { ...jsonOption, ...controlOptions },
  async run(opts) {
    const { regions } = await callControl<{ regions: RegionJson[] }>(resolveControl(opts), 'GET', '/v1/regions');
    if (opts.json === true) printJson(regions);
    else if (regions.length === 0) console.log('no region has hosts yet; an agent registers its host when it starts (starling agent run)');
    else console.log(formatRegions(regions));
    return 0;
  },
};

export function formatRegions(regions: readonly RegionJson[]): string {
  const rows = [['CODE', 'NAME', 'HOSTS', 'CAPACITY (MACHINES)']];
  for (const r of regions) rows.push([r.code, r.name, String(r.hosts), String(r.capacity.machines)]);
  return table(rows);
}
