import type { MachineView } from '../../../agent/machines-port.js';
import type { Command } from '../../args.js';
import { jsonOption } from '../certs/common.js';
import { printJson, table } from '../../output.js';
import { agentOf, appOf, callJson, checksText, machinePath, machinesOptions } from './common.js';

/** `starling machines list --app APP`: the app's machines on the agent's host. */
export const machinesList: Command = {
  noun: 'machines',
  verb: 'list',
  aliases: ['ls'],
  summary: "an app's machines on this host: state, region, image, address, checks",
  options: { ...machinesOptions, ...jsonOption },
  async run(opts) {
    const app = appOf(opts);
    const machines = await callJson<MachineView[]>(await agentOf(opts), 'GET', machinePath(app));
    if (opts.json === true) printJson(machines);
    else if (machines.length === 0) console.log(`app ${app} has no machines here; create one with: starling machines run IMAGE --app ${app}`);
    else console.log(formatMachines(machines));
    return 0;
  },
};

export function formatMachines(machines: readonly MachineView[]): string {
  const rows = [['ID', 'STATE', 'REGION', 'IMAGE', 'PRIVATE IP', 'CHECKS', 'CREATED']];
  for (const m of machines) rows.push([m.id, m.state, m.region, m.image_ref, m.private_ip ?? '-', checksText(m), m.created_at]);
  return table(rows);
}
