import type { MachineView } from '../../../runtime/index.js';
import { implement } from '../../kit/index.js';
import { printJson, table } from '../../output.js';
import { agentOf, appOf, callJson, checksText, machinePath } from './common.js';
import { machinesList } from './meta.js';

/** `starling machines list --app APP`: the app's machines on the agent's host. */
export const runMachinesList = implement(machinesList, async (opts) => {
  const app = appOf(opts);
  const machines = await callJson<MachineView[]>(await agentOf(opts), 'GET', machinePath(app));
  if (opts.json) printJson(machines);
  else if (machines.length === 0) console.log(`app ${app} has no machines here; create one with: starling machines run IMAGE --app ${app}`);
  else console.log(formatMachines(machines));
  return 0;
});

export function formatMachines(machines: readonly MachineView[]): string {
  const rows = [['ID', 'STATE', 'REGION', 'IMAGE', 'PRIVATE IP', 'CHECKS', 'CREATED']];
  for (const m of machines) rows.push([m.id, m.state, m.region, m.image_ref, m.private_ip ?? '-', checksText(m), m.created_at]);
  return table(rows);
}
