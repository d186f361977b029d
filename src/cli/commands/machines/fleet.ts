/**
 * `machines list` through the control plane: an app's machines on every host (docs/control-api.md
 * "Machines API"), as a table.
 */
import { appPath, callControl, resolveControl, type ControlFlagValues } from '../../control-client.js';
import { table } from '../../output.js';
import type { MachineJson } from '../deploy/follow.js';
import { groupColumn } from '../status/status.js';

/** One machine as `GET /v1/apps/{app}/machines` lists it (fly's machine object and the control plane's fields). */
export type FleetMachine = MachineJson & { cordoned?: boolean; desired_state?: string };

export async function fleetList(opts: ControlFlagValues, app: string): Promise<FleetMachine[]> {
  return (await callControl<{ machines: FleetMachine[] }>(resolveControl(opts), 'GET', appPath(app, '/machines'))).machines;
}

export function formatFleet(machines: readonly FleetMachine[]): string {
  const rows = [['ID', 'GROUP', 'REGION', 'HOST', 'RELEASE', 'STATE', 'CHECKS']];
  for (const m of [...machines].sort((a, b) => a.region.localeCompare(b.region) || a.host.localeCompare(b.host) || a.id.localeCompare(b.id))) {
    rows.push([m.id, groupColumn(m), m.region, m.host, `v${m.release}`, `${m.state}${m.cordoned ? ' (cordoned)' : ''}`, checksOf(m)]);
  }
  return table(rows);
}

/** The control plane knows whether every check passes (what routing needs), not each check. */
function checksOf(m: FleetMachine): string {
  if (m.healthy) return 'passing';
  return m.state === 'started' ? 'failing' : '-';
}
