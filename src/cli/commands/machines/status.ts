/**
 * `starling machines status ID --app APP`: one machine as the control plane knows it — placement,
 * state, last exit, checks and the newest events its agent reported — also once it is gone
 * (replaced, retired, failed), for as long as the control plane keeps it.
 */
import { appPath, callControl, resolveControl } from '../../control-client.js';
import { implement } from '../../kit/index.js';
import { printJson, table } from '../../output.js';
import type { MachineJson } from '../deploy/follow.js';
import { machinesStatus } from './meta.js';

export interface MachineStatusJson extends Omit<MachineJson, 'created_at' | 'last_event' | 'app'> {
  /** Null for a gone machine shown from its details alone. */
  created_at: string | null;
  reported_at: string | null;
  exit: { code: number | null; signal: string | null; at: string; exits: number; will_restart: boolean } | null;
  checks: { name: string; status: string; output: string; failures: number }[];
  events: { at: string; type: string; message: string }[];
  gone_at: string | null;
}

export const runMachinesStatus = implement(machinesStatus, async (opts) => {
  const { app } = opts;
  const s = await callControl<MachineStatusJson>(resolveControl(opts), 'GET', appPath(app, `/machines/${encodeURIComponent(opts.id)}/status`));
  if (opts.json) printJson(s);
  else console.log(formatMachineStatus(s));
  return 0;
});

export function formatMachineStatus(s: MachineStatusJson): string {
  const lines = [
    `machine ${s.id}  region ${s.region}  host ${s.host}  release v${s.release}`,
    s.gone_at ? `state: gone since ${s.gone_at} (was ${s.state})` : `state: ${s.state}${s.healthy ? ', healthy' : ''}${s.reported_at ? ` (reported ${s.reported_at})` : ''}`,
  ];
  if (s.exit) {
    const how = s.exit.signal !== null ? `killed by ${s.exit.signal}` : `exit code ${s.exit.code ?? '?'}`;
    lines.push(`last exit: ${how} at ${s.exit.at}${s.exit.exits > 1 ? ` (${s.exit.exits} exits)` : ''}${s.exit.will_restart ? ', restarting' : ''}`);
  }
  if (s.checks.length > 0) {
    lines.push('', table([['CHECK', 'STATUS', 'OUTPUT'], ...s.checks.map((c) => [c.name, c.status, c.output])]));
  }
  lines.push('');
  if (s.events.length === 0) lines.push('no events reported yet');
  else lines.push(table([['TIME', 'EVENT'], ...s.events.map((e) => [e.at, e.message])]));
  return lines.join('\n');
}
