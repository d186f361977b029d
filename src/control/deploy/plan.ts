/**
 * The deploy's next step, from the machines that exist now: a pure function, so a deploy resumed
 * after a crash takes exactly the step it would have taken, and every strategy is tested on data.
 *
 * The rule that keeps an app serving: an old machine is removed only when a healthy new machine
 * already stands in for it in the same region (its "surplus"); bluegreen waits until every new
 * machine is healthy and then removes all old ones at once. Immediate does not wait for checks.
 */
export interface PlanMachine {
  id: string;
  region: string;
  release: number;
  /** Started and every check passing (as its agent last reported). */
  healthy: boolean;
  /** Reported `failed` (crashed past its restart policy), or gone from its host. */
  failed: boolean;
}

export interface PlanInput {
  /** The release the machines should end on. */
  release: number;
  /** Machines wanted per region at the end. */
  targets: Readonly<Record<string, number>>;
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
  | { kind: 'create'; regions: string[] }
  | { kind: 'wait'; ids: string[] };

export function nextStep(p: PlanInput): PlanStep {
  const neu = p.machines.filter((m) => m.release === p.release);
  const old = p.machines.filter((m) => m.release !== p.release);
  const failed = neu.filter((m) => m.failed);
  if (p.waitHealth && failed.length > 0) return { kind: 'fail', ids: failed.map((m) => m.id) };
  const ready = (m: PlanMachine): boolean => !p.waitHealth || m.healthy;
  const regions = Object.keys(p.targets).sort();

  // New machines beyond a region's target (say, a scale-down during the deploy) go first.
  const extra: string[] = [];
  for (const r of regions) {
    const mine = neu.filter((m) => m.region === r).sort((a, b) => Number(ready(a)) - Number(ready(b)));
    extra.push(...mine.slice(0, Math.max(0, mine.length - p.targets[r]!)).map((m) => m.id));
  }
  extra.push(...neu.filter((m) => p.targets[m.region] === undefined).map((m) => m.id));
  // Old machines in regions the deploy no longer wants can go once the wanted regions are served.
  const allReady = regions.every((r) => neu.filter((m) => m.region === r && ready(m)).length >= p.targets[r]!);

  const retire: string[] = [...extra];
  if (!p.retireAtEnd || allReady) {
    for (const r of regions) {
      const readyNew = neu.filter((m) => m.region === r && ready(m)).length;
      const mine = old.filter((m) => m.region === r).sort((a, b) => Number(a.healthy) - Number(b.healthy) || a.id.localeCompare(b.id));
      const surplus = mine.length + readyNew - p.targets[r]!;
      retire.push(...mine.slice(0, Math.max(0, Math.min(surplus, mine.length))).map((m) => m.id));
    }
    if (allReady) retire.push(...old.filter((m) => p.targets[m.region] === undefined).map((m) => m.id));
  }
  if (retire.length > 0) return { kind: 'retire', ids: [...new Set(retire)] };

  const pending = neu.filter((m) => !ready(m));
  if (pending.length >= p.batch || (pending.length > 0 && !needsMore(p, neu))) return { kind: 'wait', ids: pending.map((m) => m.id) };

  // Next batch: spread over regions round-robin so each region moves forward together.
  const need = new Map(regions.map((r) => [r, p.targets[r]! - neu.filter((m) => m.region === r).length]));
  const create: string[] = [];
  for (let room = p.batch - pending.length; room > 0; ) {
    let placed = false;
    for (const r of regions) {
      if (room > 0 && need.get(r)! > 0) {
        create.push(r);
        need.set(r, need.get(r)! - 1);
        room--;
        placed = true;
      }
    }
    if (!placed) break;
  }
  if (create.length > 0) return { kind: 'create', regions: create };
  if (pending.length > 0) return { kind: 'wait', ids: pending.map((m) => m.id) };
  return old.length === 0 ? { kind: 'done' } : { kind: 'wait', ids: [] };
}

function needsMore(p: PlanInput, neu: readonly PlanMachine[]): boolean {
  return Object.entries(p.targets).some(([r, n]) => neu.filter((m) => m.region === r).length < n);
}
