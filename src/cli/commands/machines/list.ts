import type { MachineView } from '../../../runtime/index.js';
import { implement } from '../../kit/index.js';
import { printJson, table } from '../../output.js';
import { agentOf, appOf, callJson, checksText, isLocal, machinePath } from './common.js';
import { fleetList, formatFleet } from './fleet.js';
import { machinesList } from './meta.js';

/** `starling machines list --app APP`: the app's machines on every host; `--local`: on this host's agent. */
export const runMachinesList = implement(machinesList, async (opts) => {
  const app = appOf(opts);
  if (!isLocal(opts)) {
    const machines = await fleetList(opts, app);
    if (opts.json) printJson(machines);
    else if (machines.length === 0) console.log(`app ${app} has no machines; run some with: starling deploy, or starling scale count N --app ${app}`);
    else console.log(formatFleet(machines));
    return 0;
  }
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
