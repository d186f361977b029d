/**
 * What the platform Machines API asks of a placed machine (its document's `desired_state`,
 * `desired_version`, `stop_signal`, `stop_timeout_ms` and `overrides`; contract/documents.ts), as
 * the reconciler carries it out.
 *
 * A start, stop or suspend is an event, not a level: each bumps `desired_version`, and the agent
 * carries out each version once. So the proxy's autostart may start a machine stopped through the
 * API (as fly's proxy does, when the app autostarts), and its autostop may stop one started
 * through it, and neither is undone by the next feed batch. A machine made again — a restarted
 * agent makes its placed machines anew — is made in its desired state: a stopped one is made and
 * not started. Suspend is a stop: the sandbox driver cannot keep a machine's memory (as for the
 * proxy's autostop with `auto_stop_machines = "suspend"`).
 */
import type { MachineDoc } from '../contract/index.js';
import type { MachineManager, MachineState } from '../runtime/index.js';

type Machines = Pick<MachineManager, 'get' | 'stop'> & Partial<Pick<MachineManager, 'start'>>;

/** The document asks for the machine not to run. */
export function desiredStopped(doc: MachineDoc): boolean {
  return doc.desired_state === 'stopped' || doc.desired_state === 'suspended';
}

/** What a placement overrides of its release's config, as a key: a different key replaces the machine. */
export function overridesKey(doc: MachineDoc): string {
  return doc.overrides === undefined ? '' : JSON.stringify(doc.overrides);
}

/**
 * The state reported for a placed machine: one made stopped (never started since its agent made
 * it again) is `stopped` to the platform, not `created` — it exists and does not run — so the
 * other hosts' proxies may wake it as any stopped machine.
 */
export function reportedState(state: MachineState, want: MachineDoc | undefined): MachineState {
  return state === 'created' && want !== undefined && desiredStopped(want) ? 'stopped' : state;
}

/** Carries out the placement's desired state once (its desired_version); the slot records it. */
export async function applyDesired(machines: Machines, slot: { app: string; id: string; applied: number }, want: MachineDoc): Promise<void> {
  const { app, id } = slot;
  const version = want.desired_version ?? 0;
  const now = machines.get(app, id)?.state;
  if (desiredStopped(want)) {
    if (now === 'started' || now === 'starting') {
      const signal = want.stop_signal as NodeJS.Signals | undefined;
      await machines.stop(app, id, { signal, timeout_ms: want.stop_timeout_ms, reason: want.desired_state === 'suspended' ? 'suspended through the Machines API (a stop)' : 'stopped through the Machines API' });
    }
  } else if (machines.start && (now === 'stopped' || now === 'created' || now === 'failed')) {
    // No reason: the manager records one as an autostart's.
    await machines.start(app, id);
  }
  slot.applied = version;
}
