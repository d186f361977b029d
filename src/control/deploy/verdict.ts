/**
 * When a new machine of a deploy has certainly failed, so the deploy fails at once instead of at
 * its wait timeout. "Certain" means one of these, from what the machine's agent last reported
 * (its state and `machine_details`, contract/documents.ts):
 *
 * 1. it is `failed`: its process exited and its restart policy will not start it again (or it
 *    could not be started at all);
 * 2. it exited and is `stopped` with no restart coming (policy `never`, or an exit with code 0
 *    under `on-failure`: an app that ends is not serving) — stopped by that exit, its last event,
 *    not by a stop asked for later (autostop, a user);
 * 3. it is crash-looping: its process ended CRASH_LOOP_EXITS times since it was created, whatever
 *    the restart policy still allows (`always` would restart it forever);
 * 4. a check failed CHECK_FAILURES_IN_A_ROW runs in a row after its grace period (a machine
 *    listening on the wrong port, or answering 500): the grace period is the app's own word for
 *    how long it may take to come up, and a few runs past it rule out one slow answer.
 *
 * A machine that is merely slow is still failed by the wait timeout (runner.ts).
 */
import { LIVE_TAIL_LINES, type MachineDetailsDoc, type MachineDoc, type MachineStateDoc } from '../../contract/index.js';
import type { DeployFailure } from './types.js';

export const CRASH_LOOP_EXITS = 3;
export const CHECK_FAILURES_IN_A_ROW = 3;

/** Why the machine has certainly failed ("exited with code 1"), or undefined while it may still pass. */
export function certainFailure(m: MachineDoc, s: MachineStateDoc | undefined, d: MachineDetailsDoc | undefined): DeployFailure | undefined {
  if (!s || s.release !== m.release) return undefined;
  const exit = d?.exit ?? null;
  const check = d?.checks.find((c) => c.status === 'critical' && c.failures >= CHECK_FAILURES_IN_A_ROW);
  let reason: string | undefined;
  if (s.state === 'failed') {
    const lastFailure = [...(d?.events ?? [])].reverse().find((e) => e.type === 'failed');
    reason = exit ? exited(exit) : (lastFailure?.message ?? 'failed on its host (see starling machines status)');
  } else if (exit && s.state === 'stopped' && !exit.will_restart && d?.events.at(-1)?.type === 'exit') reason = exited(exit);
  else if (exit && exit.exits >= CRASH_LOOP_EXITS) reason = `is crash-looping: exited ${exit.exits} times (last: ${exited(exit)})`;
  else if (check) reason = `check ${check.name} failed ${check.failures} times in a row: ${plainOutput(check.output)}`;
  if (reason === undefined) return undefined;
  return {
    machine: m.id,
    region: m.region,
    host: m.host,
    reason,
    exit,
    check: check ? { name: check.name, output: check.output } : (firstCritical(d) ?? null),
    log_tail: (d?.log_tail ?? []).slice(-LIVE_TAIL_LINES),
  };
}

/** "machine 3f… (lhr) exited with code 1": the deploy's error. */
export function describeFailure(f: DeployFailure): string {
  return `machine ${f.machine} (${f.region}) ${f.reason}`;
}

function exited(e: NonNullable<MachineDetailsDoc['exit']>): string {
  return e.signal !== null ? `was killed by ${e.signal}` : `exited with code ${e.code ?? 'unknown'}`;
}

function firstCritical(d: MachineDetailsDoc | undefined): { name: string; output: string } | undefined {
  const c = d?.checks.find((x) => x.status === 'critical');
  return c && { name: c.name, output: c.output };
}

/** What a check saw, in words: "connection refused" rather than "connect ECONNREFUSED 10.0.0.2:8080". */
export function plainOutput(output: string): string {
  if (/ECONNREFUSED/.test(output)) return 'connection refused';
  if (/ECONNRESET|socket hang up/.test(output)) return 'connection reset';
  if (/EHOSTUNREACH|ENETUNREACH/.test(output)) return 'machine unreachable';
  const http = /^HTTP (\d{3})$/.exec(output);
  if (http) return `status ${http[1]}`;
  return output;
}
