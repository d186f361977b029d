import type { AppRoute, MachineRoute } from '../route-table/index.js';

/**
 * Picking the machine for one request, as fly's proxy does:
 * - only started + healthy machines; the edge's own region first, then regions nearest-first;
 * - in a region, machines under `soft_limit` before those over it, least-loaded first, random
 *   tie-break; `soft_limit` never sends traffic out of the region;
 * - a region is left only when none of its machines is usable or under `hard_limit`;
 * - when every usable machine is at `hard_limit`, the answer is `wait` (the caller queues).
 * Pure: load comes from the routes' load cells, randomness from the injected `random`.
 */
export interface ChooseRequest {
  edgeRegion: string;
  /** `prefer-region: a,b`: these first, in this order (those the app has), then the usual order. */
  preferRegions?: readonly string[] | undefined;
  forceRegion?: string | undefined;
  preferInstance?: string | undefined;
  forceInstance?: string | undefined;
  /** Only these regions, nearest-first from the edge (a replay to `region=a,b`). */
  onlyRegions?: readonly string[] | undefined;
  /** Machines already tried (connect failures) or refused (`elsewhere=true`). */
  exclude?: ReadonlySet<MachineRoute> | undefined;
  /** Only this host's machines (a request another Starling proxy sent: it never goes back out). */
  localOnly?: boolean | undefined;
}

export type Choice =
  | { kind: 'machine'; machine: MachineRoute; preferredUnavailable: boolean }
  | { kind: 'wait' }
  | { kind: 'none'; reason: NoneReason };

export type NoneReason = 'no_healthy_machine' | 'instance_unavailable' | 'region_unavailable';

export function chooseMachine(app: AppRoute, req: ChooseRequest, random: () => number = Math.random): Choice {
  const exclude = req.exclude;
  const local = req.localOnly === true;
  if (req.forceInstance !== undefined) {
    const m = app.byId.get(req.forceInstance);
    if (!m || !m.usable || exclude?.has(m) || (local && m.peer)) return { kind: 'none', reason: 'instance_unavailable' };
    return m.load.inflight < app.hardLimit ? { kind: 'machine', machine: m, preferredUnavailable: false } : { kind: 'wait' };
  }
  let preferredUnavailable = false;
  if (req.preferInstance !== undefined) {
    const m = app.byId.get(req.preferInstance);
    if (m && m.usable && !exclude?.has(m) && !(local && m.peer) && m.load.inflight < app.hardLimit) {
      return { kind: 'machine', machine: m, preferredUnavailable: false };
    }
    preferredUnavailable = true;
  }

  let order: readonly string[];
  if (req.forceRegion !== undefined) order = [req.forceRegion];
  else if (req.onlyRegions !== undefined) order = app.regionsFrom(req.edgeRegion).filter((r) => req.onlyRegions!.includes(r));
  else order = app.regionsFrom(req.edgeRegion);
  const prefer = req.preferRegions;
  if (prefer !== undefined && req.forceRegion === undefined) {
    const first = prefer.filter((r, i) => order.includes(r) && prefer.indexOf(r) === i);
    if (first.length > 0) order = [...first, ...order.filter((r) => !first.includes(r))];
  }

  let saturated = false;
  for (const region of order) {
    const pick = pickInRegion(app, app.byRegion.get(region), exclude, local, random);
    if (pick === 'saturated') saturated = true;
    else if (pick) return { kind: 'machine', machine: pick, preferredUnavailable };
  }
  if (saturated) return { kind: 'wait' };
  const restricted = req.forceRegion !== undefined || req.onlyRegions !== undefined;
  return { kind: 'none', reason: restricted ? 'region_unavailable' : 'no_healthy_machine' };
}

/** The best machine of one region, 'saturated' when all usable ones are at hard_limit. */

function pickInRegion(
  app: AppRoute,
  machines: readonly MachineRoute[] | undefined,
  exclude: ReadonlySet<MachineRoute> | undefined,
  /** Skip machines on other hosts (a peer's request). */
  localOnly: boolean,
  random: () => number,
): MachineRoute | 'saturated' | undefined {
  if (!machines) return undefined;
  let best: MachineRoute | undefined;
  let bestScore = Number.POSITIVE_INFINITY;
  let ties = 0;
  let anyUsable = false;
  for (const m of machines) {
    if (!m.usable || exclude?.has(m) || (localOnly && m.peer)) continue;
    anyUsable = true;
    const load = m.load.inflight;
    if (load >= app.hardLimit) continue;
    // Over soft_limit sorts after every machine under it, then by load.
    const score = load >= app.softLimit ? 1e9 + load : load;
    if (score < bestScore) {
      best = m;
      bestScore = score;
      ties = 1;
    } else if (score === bestScore) {
      // Reservoir sampling: each tied machine ends up chosen with equal probability.
      ties++;
      if (random() * ties < 1) best = m;
    }
  }
  if (best) return best;
  return anyUsable ? 'saturated' : undefined;
}
