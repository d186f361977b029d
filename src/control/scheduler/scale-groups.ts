/**
 * `scale count web=2 worker=1 [--region a,b]`: planScaleCount once per process group, each over
 * that group's machines only (so each group is spread over the hosts on its own), and each on the
 * hosts as the groups before it left them. All or nothing, as one plan: every short group and
 * region is named, and no plan is returned.
 */
import { NoCapacityError, planScaleCount, type HostView, type MachinePlacement, type PlacementTarget, type Shortfall } from './placement.js';

export interface GroupPlacement extends MachinePlacement {
  /** Its process group (`app` when the placement names none). */
  group: string;
}

export interface GroupScaleRequest {
  /** Machines wanted in each target region, per group. */
  counts: Readonly<Record<string, number>>;
  regions?: readonly string[] | undefined;
  primaryRegion: string;
}

export interface GroupScalePlan {
  create: (PlacementTarget & { group: string })[];
  destroy: string[];
}

export function planScaleGroups(hosts: readonly HostView[], all: readonly GroupPlacement[], req: GroupScaleRequest): GroupScalePlan {
  const views = hosts.map((h) => ({ ...h }));
  const plan: GroupScalePlan = { create: [], destroy: [] };
  const short: Shortfall[] = [];
  for (const [group, count] of Object.entries(req.counts)) {
    let part;
    try {
      part = planScaleCount(views, all.filter((m) => m.group === group), { count, regions: req.regions, primaryRegion: req.primaryRegion });
    } catch (e) {
      if (!(e instanceof NoCapacityError)) throw e;
      short.push(...e.shortfalls.map((s) => ({ ...s, group })));
      continue;
    }
    for (const t of part.create) {
      plan.create.push({ ...t, group });
      const h = views.find((v) => v.id === t.host);
      if (h) h.used++;
    }
    for (const id of part.destroy) {
      plan.destroy.push(id);
      const h = views.find((v) => v.id === all.find((m) => m.id === id)?.host);
      if (h) h.used--;
    }
  }
  if (short.length > 0) throw new NoCapacityError(short);
  return plan;
}
