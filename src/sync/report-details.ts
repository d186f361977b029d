/**
 * What a state report says about why a machine is as it is (docs/control-api.md, "Machine
 * details"): its last exit, its checks, its newest events and its last log lines, bounded in
 * count and length. Secret values never appear: the runtime redacted the log lines already.
 */
import { MAX_MACHINE_EVENTS, MAX_TAIL_LINE_CHARS, type MachineCheckDoc, type MachineLogLineDoc } from '../contract/index.js';
import type { LogEntry, MachineView } from '../runtime/index.js';
import type { MachineReport } from './state-report.js';

export function machineDetails(m: MachineView): Pick<MachineReport, 'exit' | 'checks' | 'events'> {
  // Only what the view carries: a report without these says nothing new about them.
  const out: Pick<MachineReport, 'exit' | 'checks' | 'events'> = {};
  if (m.last_exit !== undefined) out.exit = m.last_exit ? { ...m.last_exit } : null;
  if (m.checks.checks.length > 0) {
    out.checks = m.checks.checks.map((c): MachineCheckDoc => ({ name: c.name, status: c.status, output: c.output.slice(0, MAX_TAIL_LINE_CHARS), failures: c.failures ?? 0 }));
  }
  if (m.events !== undefined) out.events = m.events.slice(-MAX_MACHINE_EVENTS).map((e) => ({ at: e.at, type: e.type, message: e.message.slice(0, MAX_TAIL_LINE_CHARS) }));
  return out;
}

/** Log entries as a report carries them: each message cut to MAX_TAIL_LINE_CHARS (undefined: no logs to read). */
export function tailOf(entries: LogEntry[] | undefined): MachineLogLineDoc[] | undefined {
  return entries?.map((e) => ({ time: e.time, stream: e.stream, message: e.message.length > MAX_TAIL_LINE_CHARS ? `${e.message.slice(0, MAX_TAIL_LINE_CHARS)}…` : e.message }));
}

/** `{ log_tail }` when there is one, else nothing (exactOptionalPropertyTypes: no undefined field). */
export function withTail(tail: MachineLogLineDoc[] | undefined): { log_tail?: MachineLogLineDoc[] } {
  return tail ? { log_tail: tail } : {};
}
