/**
 * Placement: which host gets each new machine and which machines go when an app scales down. Pure
 * functions over a snapshot of hosts and the app's machines; the caller commits the plan.
 *
 * `scale count N --region a,b` means N machines in EACH listed region, as with fly (see
 * https://fly.io/docs/flyctl/scale-count/); with no region list, N in the primary region. Regions
 * not listed keep their machines: scaling `fra` never touches `iad`. To empty a region, ask for 0
 * there.
 *
 * Spread: each new machine goes to the healthy host in its region with the fewest of this app's
 * machines, then the most free slots, then the smallest id (so equal inputs give equal plans, in
 * whatever order they came). Scale-down undoes that: first machines on unhealthy or unregistered
 * hosts, then from the host holding most of this app's machines, then the fullest host.
 *
 * A plan is all or nothing: when any region cannot take what it needs, ERR_NO_CAPACITY names every
 * short region and how many machines it could have taken, and no plan is returned.
 */
import { StarlingError } from '../../shared/index.js';

export interface HostView {
  id: string;
  region: string;
  capacity: { machines: number };
  /** Machines on the host now, of every app (this one's included). */
  used: number;
  healthy: boolean;
}

export interface MachinePlacement {
  id: string;
  region: string;
  host: string;
  /** A deploy's temporary machine (MachineDoc.role): it takes a slot, but is not one of the app's machines to count or scale away. */
  role?: string | undefined;
}

export interface PlacementTarget {
  region: string;
  host: string;
}

export interface PlacementPlan {
  create: PlacementTarget[];
  destroy: string[];
}

export interface ScaleCountRequest {
  /** Machines wanted in each target region. */
  count: number;
  /** Target regions; undefined or empty means the primary region alone. */
  regions?: readonly string[] | undefined;
  primaryRegion: string;
}

export interface Shortfall {
  region: string;
  /** The process group short of room (scale-groups.ts); absent: the request named none. */
  group?: string;
  needed: number;
  placeable: number;
  healthyHosts: number;
}

/** ERR_NO_CAPACITY, with the numbers behind the message for the API and CLI. */
export class NoCapacityError extends StarlingError {
  readonly shortfalls: readonly Shortfall[];
  constructor(shortfalls: Shortfall[]) {
    const parts = shortfalls.map((s) =>
      (s.group === undefined ? '' : `group ${s.group}: `) +
      (s.healthyHosts === 0
        ? `region ${s.region} has no healthy host (${s.needed} machine${s.needed === 1 ? '' : 's'} needed)`
        : `region ${s.region}: ${s.needed} machine${s.needed === 1 ? '' : 's'} needed, only ${s.placeable} could be placed on ${s.healthyHosts} healthy host${s.healthyHosts === 1 ? '' : 's'}`),
    );
    super('ERR_NO_CAPACITY', `not enough capacity: ${parts.join('; ')}`, {
      fault: 'user',
      hint: 'scale to fewer machines, choose other regions, or add hosts or capacity there; nothing was changed',
    });
    this.shortfalls = shortfalls;
  }
}

/** Mutable per-host tally while a plan is built. */
interface Tally {
  id: string;
  region: string;
  known: boolean;
  healthy: boolean;
  capacity: number;
  used: number;
  mine: number;
}

const byId = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const free = (t: Tally): number => t.capacity - t.used;

function tallies(hosts: readonly HostView[], machines: readonly MachinePlacement[]): Map<string, Tally> {
  const out = new Map<string, Tally>();
  for (const h of hosts) {
    if (out.has(h.id)) throw new StarlingError('ERR_PLACEMENT_INPUT', `host ${h.id} is listed twice`, { fault: 'system' });
    out.set(h.id, { id: h.id, region: h.region, known: true, healthy: h.healthy, capacity: h.capacity.machines, used: h.used, mine: 0 });
  }
  for (const m of machines) {
    let t = out.get(m.host);
    if (!t) {
      // A machine on a host that is no longer registered: it counts, and is the first to go.
      t = { id: m.host, region: m.region, known: false, healthy: false, capacity: 0, used: 0, mine: 0 };
      out.set(m.host, t);
    }
    t.mine++;
  }
  return out;
}

/** Order for a new machine: fewest of this app's machines, then most free slots, then id. */
function placeFirst(a: Tally, b: Tally): number {
  return a.mine - b.mine || free(b) - free(a) || byId(a.id, b.id);
}

/** The best host for one more machine in `region`, or undefined when none has a free slot. */
function bestHost(all: Iterable<Tally>, region: string, exclude?: ReadonlySet<string>): Tally | undefined {
  let best: Tally | undefined;
  for (const t of all) {
    if (t.region !== region || !t.known || !t.healthy || free(t) <= 0 || exclude?.has(t.id)) continue;
    if (!best || placeFirst(t, best) < 0) best = t;
  }
  return best;
}

/** Order for scale-down: dead hosts first, then most of this app's machines, then fullest host. */
function destroyFirst(a: Tally, b: Tally): number {
  const deadA = !a.known || !a.healthy;
  const deadB = !b.known || !b.healthy;
  if (deadA !== deadB) return deadA ? -1 : 1;
  return b.mine - a.mine || free(a) - free(b) || byId(a.id, b.id);
}

function checkRequest(req: ScaleCountRequest): string[] {
  if (!Number.isSafeInteger(req.count) || req.count < 0) {
    throw new StarlingError('ERR_SCALE_COUNT', `machine count must be a whole number, 0 or more (got ${String(req.count)})`, { fault: 'user' });
  }
  const wanted = req.regions && req.regions.length > 0 ? req.regions : [req.primaryRegion];
  for (const r of wanted) {
    if (typeof r !== 'string' || r.trim() === '') {
      throw new StarlingError('ERR_SCALE_REGION', 'region must be a non-empty code such as "fra"', { fault: 'user' });
    }
  }
  return [...new Set(wanted)];
}

/**
 * The plan that brings each target region to exactly `count` machines. Creates are listed region by
 * region in request order; destroys likewise, most disposable first.
 */
export function planScaleCount(hosts: readonly HostView[], all: readonly MachinePlacement[], req: ScaleCountRequest): PlacementPlan {
  const targets = checkRequest(req);
  const machines = all.filter((m) => m.role === undefined);
  const tally = tallies(hosts, machines);
  const plan: PlacementPlan = { create: [], destroy: [] };
  const short: Shortfall[] = [];

  for (const region of targets) {
    const present = machines.filter((m) => m.region === region);
    const diff = req.count - present.length;
    if (diff > 0) {
      let placed = 0;
      for (; placed < diff; placed++) {
        const t = bestHost(tally.values(), region);
        if (!t) break;
        t.mine++;
        t.used++;
        plan.create.push({ region, host: t.id });
      }
      if (placed < diff) {
        const healthyHosts = [...tally.values()].filter((t) => t.region === region && t.known && t.healthy).length;
        short.push({ region, needed: diff, placeable: placed, healthyHosts });
      }
    } else if (diff < 0) {
      const left = [...present];
      for (let n = 0; n < -diff; n++) {
        let pick = 0;
        for (let i = 1; i < left.length; i++) {
          const a = tally.get(left[i]!.host)!;
          const b = tally.get(left[pick]!.host)!;
          // Same host: the greater machine id goes first; any fixed rule keeps plans deterministic.
          const c = a === b ? byId(left[pick]!.id, left[i]!.id) : destroyFirst(a, b);
          if (c < 0) pick = i;
        }
        const [m] = left.splice(pick, 1);
        const t = tally.get(m!.host)!;
        t.mine--;
        t.used--;
        plan.destroy.push(m!.id);
      }
    }
  }
  if (short.length > 0) throw new NoCapacityError(short);
  return plan;
}

export interface PickHostOptions {
  /** Hosts not to use (say, the one the failing machine ran on). */
  exclude?: readonly string[];
  /**
   * A machine of this app that will be gone before the new one starts (stop-then-start
   * replacement): its slot counts as free. Omit it when old and new run side by side (bluegreen,
   * canary, a rolling surge), so both need room.
   */
  releasing?: string;
}

/** One host for one new machine in `region` (a replacement during a deploy); ERR_NO_CAPACITY if none. */
export function pickHostFor(
  region: string,
  hosts: readonly HostView[],
  machines: readonly MachinePlacement[],
  opts: PickHostOptions = {},
): PlacementTarget {
  const tally = tallies(hosts, machines);
  const gone = opts.releasing === undefined ? undefined : machines.find((m) => m.id === opts.releasing);
  if (gone) {
    const t = tally.get(gone.host)!;
    t.mine--;
    t.used--;
  }
  const t = bestHost(tally.values(), region, new Set(opts.exclude ?? []));
  if (!t) {
    const healthyHosts = [...tally.values()].filter((h) => h.region === region && h.known && h.healthy && !opts.exclude?.includes(h.id)).length;
    throw new NoCapacityError([{ region, needed: 1, placeable: 0, healthyHosts }]);
  }
  return { region, host: t.id };
}

/**
 * One host for a one-off machine (a deploy's release command): in `region` when a healthy host
 * there has room, else on the best host of any region (the same order, regions by name for
 * equal hosts); ERR_NO_CAPACITY naming `region` when no host anywhere has room.
 */
export function pickHostPreferring(region: string, hosts: readonly HostView[], machines: readonly MachinePlacement[]): PlacementTarget {
  const tally = tallies(hosts, machines);
  const here = bestHost(tally.values(), region);
  if (here) return { region, host: here.id };
  const regions = [...new Set([...tally.values()].map((t) => t.region))].sort(byId);
  let best: Tally | undefined;
  for (const r of regions) {
    const t = bestHost(tally.values(), r);
    if (t && (!best || placeFirst(t, best) < 0)) best = t;
  }
  if (best) return { region: best.region, host: best.id };
  const healthyHosts = [...tally.values()].filter((h) => h.region === region && h.known && h.healthy).length;
  throw new NoCapacityError([{ region, needed: 1, placeable: 0, healthyHosts }]);
}

/**
 * The scheduler's view of registered hosts: `used` counts every machine placed on each (any app),
 * and a host the control plane marked down (`healthy: false`) takes no new machine.
 */
export function hostViews(
  hosts: readonly { id: string; region: string; capacity: { machines: number }; healthy?: boolean | undefined }[],
  machines: readonly { host: string }[],
): HostView[] {
  const used = new Map<string, number>();
  for (const m of machines) used.set(m.host, (used.get(m.host) ?? 0) + 1);
  return hosts.map((h) => ({ id: h.id, region: h.region, capacity: h.capacity, used: used.get(h.id) ?? 0, healthy: h.healthy !== false }));
}
