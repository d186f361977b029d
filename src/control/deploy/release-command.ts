/**
 * `[deploy] release_command`: run once per deploy, in a temporary machine of the new release,
 * before any machine of the app is created, replaced or stopped (as flyctl does). The machine is a
 * MachineDoc with role `release_command` (contract/documents.ts): its agent runs the release's
 * image, env and secrets with the command in place of the image's CMD, restart `never`, no checks,
 * never routed (contract/machine-config.ts). Exit 0: the deploy goes on. Anything else — a
 * non-zero exit, a signal, a machine that cannot start, no host with room, no end within
 * `deploy.release_command_timeout` — fails the deploy with nothing replaced: the old release
 * keeps serving. Either way the machine's document goes in the same transaction that records the
 * result in the deploy document, so a resumed deploy never runs a command that has succeeded.
 *
 * After a control-plane crash (the deploy resumed, `releaseCommandStep` with `resumed`): a run the
 * deploy document records as `running` is judged by what its machine's agent reported, kept in
 * machine_details even after the machine is gone — an exit 0 counts as success and is not run
 * again; a failure reported before the crash fails the deploy; no result yet (still running, or
 * never started) → that machine is removed and the command runs again from the start, with a new
 * machine and a new timeout (two runs at once could apply a migration twice; one killed midway is
 * what a migration's transaction is for).
 */
import { LIVE_TAIL_LINES, type MachineDetailsDoc, type MachineExitDoc } from '../../contract/index.js';
import type { DeployFailure, ReleaseCommandRun } from './types.js';

export type ReleaseCommandStep =
  /** Nothing to run: the command succeeded (this deploy records it). */
  | { kind: 'skip' }
  /** Place a new machine, after removing `remove` (leftovers: an earlier attempt, another deploy's). */
  | { kind: 'start'; attempt: number; remove: string[]; why: string | null }
  /** Until a report arrives, or `until` (epoch ms: the timeout). */
  | { kind: 'wait'; until: number }
  | { kind: 'succeeded' }
  | { kind: 'failed'; reason: string; exit: MachineExitDoc | null };

export interface ReleaseCommandInput {
  run: ReleaseCommandRun | undefined;
  /** The first look of a runner loop: a `running` run was started by a loop that is gone. */
  resumed: boolean;
  /** The app's machines with a role now (MachineDoc.role). */
  present: readonly { id: string }[];
  /** What the agent last reported of `run.machine` (kept after it is gone). */
  details: MachineDetailsDoc | undefined;
  now: number;
}

/** What the machine's reports say of the command: its result, or undefined while it may still be running. */
export function releaseCommandResult(d: MachineDetailsDoc | undefined): { ok: true } | { ok: false; reason: string } | undefined {
  if (!d) return undefined;
  if (d.exit && !d.exit.will_restart) {
    if (d.exit.code === 0 && d.exit.signal === null) return { ok: true };
    return { ok: false, reason: d.exit.signal !== null ? `was killed by ${d.exit.signal}` : `exited with code ${d.exit.code ?? 'unknown'}` };
  }
  if (d.state === 'failed') {
    const why = [...d.events].reverse().find((e) => e.type === 'failed')?.message ?? 'failed on its host';
    return { ok: false, reason: `could not run: ${why}` };
  }
  return undefined;
}

export function releaseCommandStep(i: ReleaseCommandInput): ReleaseCommandStep {
  const run = i.run;
  const others = (keep?: string): string[] => i.present.map((m) => m.id).filter((id) => id !== keep);
  if (!run) return { kind: 'start', attempt: 1, remove: others(), why: null };
  if (run.state === 'succeeded') return { kind: 'skip' };
  const result = releaseCommandResult(i.details);
  if (run.state === 'failed') return { kind: 'failed', reason: result && !result.ok ? result.reason : `exited with code ${run.exit_code ?? 'unknown'}`, exit: i.details?.exit ?? null };
  if (result?.ok) return { kind: 'succeeded' };
  if (result) return { kind: 'failed', reason: result.reason, exit: i.details?.exit ?? null };
  if (i.resumed) {
    return {
      kind: 'start',
      attempt: run.attempt + 1,
      remove: others(),
      why: `the control plane stopped while the release command ran on machine ${run.machine}, which reported no result: removed, running the command again`,
    };
  }
  if (!i.present.some((m) => m.id === run.machine)) return { kind: 'failed', reason: `did not finish: its machine ${run.machine} was removed`, exit: i.details?.exit ?? null };
  const until = Date.parse(run.started_at) + run.timeout_ms;
  if (i.now >= until) return { kind: 'failed', reason: `did not finish within ${formatMs(run.timeout_ms)} (deploy.release_command_timeout)`, exit: null };
  return { kind: 'wait', until };
}

/** The deploy's `failure`: the machine, why, its exit and last lines (what `starling deploy` prints). */
export function releaseCommandFailure(run: ReleaseCommandRun, reason: string, exit: MachineExitDoc | null, d: MachineDetailsDoc | undefined): DeployFailure {
  return {
    machine: run.machine,
    region: run.region,
    host: run.host,
    reason: `release command ${JSON.stringify(run.command)} ${reason}`,
    exit,
    check: null,
    log_tail: (d?.log_tail ?? []).slice(-LIVE_TAIL_LINES),
  };
}

/** 300000 → "5m", 90000 → "90s", 1500 → "1500ms". */
export function formatMs(ms: number): string {
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
