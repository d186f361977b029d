/**
 * The machines commands through the control plane: an app's machines on every host, and start,
 * stop and destroy of one of them wherever it runs (docs/control-api.md "Machines"). The control
 * plane relays start and stop to the machine's host; destroy removes the placement, and the host's
 * reconciler stops and removes the machine.
 */
import { StarlingError, isStarlingError } from '../../../shared/index.js';
import { appPath, callControl, resolveControl, type ControlFlagValues } from '../../control-client.js';
import { table } from '../../output.js';
import type { MachineJson } from '../deploy/follow.js';

/** One machine as `GET /v1/apps/{app}/machines` lists it. */
export type FleetMachine = MachineJson;

/** What the control plane answers to start and stop (the agent's answer, and the host). */
export interface FleetChange {
  previous_state?: string;
  machine?: { state?: string } | null;
  host: string;
}

export async function fleetList(opts: ControlFlagValues, app: string): Promise<FleetMachine[]> {
  return (await callControl<{ machines: FleetMachine[] }>(resolveControl(opts), 'GET', appPath(app, '/machines'))).machines;
}

export function formatFleet(machines: readonly FleetMachine[]): string {
  const rows = [['ID', 'REGION', 'HOST', 'RELEASE', 'STATE', 'CHECKS']];
  for (const m of [...machines].sort((a, b) => a.region.localeCompare(b.region) || a.host.localeCompare(b.host) || a.id.localeCompare(b.id))) {
    rows.push([m.id, m.region, m.host, `v${m.release}`, m.state, checksOf(m)]);
  }
  return table(rows);
}

/** The control plane knows whether every check passes (what routing needs), not each check. */
function checksOf(m: FleetMachine): string {
  if (m.healthy) return 'passing';
  return m.state === 'started' ? 'failing' : '-';
}

/** start, stop or destroy of one machine; its refusals come back with what to do next. */
export async function fleetChange(opts: ControlFlagValues, app: string, id: string, method: 'POST' | 'DELETE', suffix: string, body?: unknown): Promise<FleetChange> {
  try {
    return await callControl<FleetChange>(resolveControl(opts), method, appPath(app, `/machines/${encodeURIComponent(id)}${suffix}`), body, { timeoutMs: 130_000 });
  } catch (e) {
    if (isStarlingError(e, 'ERR_MACHINE_NOT_FOUND')) throw new StarlingError(e.code, e.message, { fault: 'user', cause: e, hint: `list the app's machines: starling machines list --app ${app}` });
    throw e;
  }
}
