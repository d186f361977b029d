/**
 * The deploy's next step, from the machines that exist now: a pure function, so a deploy resumed
 * after a crash takes exactly the step it would have taken, and every strategy is tested on data.
 *
 * The rule that keeps an app serving: an old machine is removed only when a healthy new machine
 * already stands in for it in the same region (its "surplus"); bluegreen waits until every new
 * machine is healthy and then removes all old ones at once. Immediate does not wait for checks.
 *
 * Process groups: every count is per group and region (a "slot"), and a machine stands in only for
 * one of its own group. Machines of a group or region no longer wanted go once every slot is served.
 */
export interface PlanMachine {
  id: string;
  region: string;
  /** Its process group (MachineDoc.process_group; `app` when absent). */
  group: string;
  release: number;
  /** Started and every check passing (as its agent last reported). */
  healthy: boolean;
  /** Reported `failed` (crashed past its restart policy), or gone from its host. */
  failed: boolean;
}

export interface PlanInput {
  /** The release the machines should end on. */
  release: number;
  /** Machines wanted per process group and region at the end (group → region → count). */
  targets: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** New machines that may be starting (not yet healthy) at once. */
  batch: number;
  /** False for `immediate`: new machines count as healthy at once. */
  waitHealth: boolean;
  /** Bluegreen: remove old machines only when every new one is healthy. */
  retireAtEnd: boolean;
  /** The app's machines now. */
  machines: readonly PlanMachine[];
}

export type PlanStep =
  | { kind: 'done' }
  | { kind: 'fail'; ids: string[] }
  | { kind: 'retire'; ids: string[] }
  | { kind: 'create'; places: { group: string; region: string }[] }
  | { kind: 'wait'; ids: string[] };

/** A group and region as one key (neither a group name nor a region code holds a space). */
const slotOf = (m: { group: string; region: string }): string => `${m.group} ${m.region}`;

export function nextStep(p: PlanInput): PlanStep {
  const want = new Map<string, number>();
  for (const [group, regions] of Object.entries(p.targets)) for (const [region, n] of Object.entries(regions)) want.set(slotOf({ group, region }), n);
  const neu = p.machines.filter((m) => m.release === p.release);
  const old = p.machines.filter((m) => m.release !== p.release);
  const failed = neu.filter((m) => m.failed);
  if (p.waitHealth && failed.length > 0) return { kind: 'fail', ids: failed.map((m) => m.id) };
  const ready = (m: PlanMachine): boolean => !p.waitHealth || m.healthy;
  const slots = [...want.keys()].sort();
  const inSlot = (list: readonly PlanMachine[], s: string): PlanMachine[] => list.filter((m) => slotOf(m) === s);

  // New machines beyond a slot's target (say, a scale-down during the deploy) go first.
  const extra: string[] = [];
  for (const s of slots) {
    const mine = inSlot(neu, s).sort((a, b) => Number(ready(a)) - Number(ready(b)));
    extra.push(...mine.slice(0, Math.max(0, mine.length - want.get(s)!)).map((m) => m.id));
  }
  extra.push(...neu.filter((m) => !want.has(slotOf(m))).map((m) => m.id));
  // Old machines in slots the deploy no longer wants can go once the wanted slots are served.
  const allReady = slots.every((s) => inSlot(neu, s).filter(ready).length >= want.get(s)!);

  const retire: string[] = [...extra];
  if (!p.retireAtEnd || allReady) {
    for (const s of slots) {
      const readyNew = inSlot(neu, s).filter(ready).length;
      const mine = inSlot(old, s).sort((a, b) => Number(a.healthy) - Number(b.healthy) || a.id.localeCompare(b.id));
      const surplus = mine.length + readyNew - want.get(s)!;
      retire.push(...mine.slice(0, Math.max(0, Math.min(surplus, mine.length))).map((m) => m.id));
    }
    if (allReady) retire.push(...old.filter((m) => !want.has(slotOf(m))).map((m) => m.id));
  }
  if (retire.length > 0) return { kind: 'retire', ids: [...new Set(retire)] };

  const pending = neu.filter((m) => !ready(m));
  const need = new Map(slots.map((s) => [s, want.get(s)! - inSlot(neu, s).length]));
  const needsMore = [...need.values()].some((n) => n > 0);
  if (pending.length >= p.batch || (pending.length > 0 && !needsMore)) return { kind: 'wait', ids: pending.map((m) => m.id) };

  // Next batch: spread over slots round-robin so each group and region moves forward together.
  const create: { group: string; region: string }[] = [];
  for (let room = p.batch - pending.length; room > 0; ) {
    let placed = false;
    for (const s of slots) {
      if (room > 0 && need.get(s)! > 0) {
        const [group, region] = s.split(' ') as [string, string];
        create.push({ group, region });
        need.set(s, need.get(s)! - 1);
        room--;
        placed = true;
      }
    }
    if (!placed) break;
  }
  if (create.length > 0) return { kind: 'create', places: create };
  if (pending.length > 0) return { kind: 'wait', ids: pending.map((m) => m.id) };
  return old.length === 0 ? { kind: 'done' } : { kind: 'wait', ids: [] };
}
