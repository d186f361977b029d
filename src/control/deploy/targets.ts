/**
 * A deploy's counts per process group and region (DeployDoc.group_targets): what it ends with,
 * what its rollback restores, and how both read for people. Pure.
 */
import { DEFAULT_PROCESS_GROUP, groupOf, type MachineDoc } from '../../contract/index.js';
import type { DeployDoc, GroupTargets } from './types.js';

/**
 * What a deploy ends with, per process group and region: each group of the new release keeps the
 * counts its machines have now; a group without machines (a first deploy, a group just added) gets
 * one in the primary region, as fly creates one per group; a group the release no longer has gets
 * none (its machines go). `from` is the machines as they are, what a rollback restores.
 */
export function deployTargets(machines: readonly Pick<MachineDoc, 'region' | 'process_group'>[], groups: readonly string[], primaryRegion: string): { targets: GroupTargets; from: GroupTargets } {
  const from: GroupTargets = {};
  for (const m of machines) {
    const g = (from[groupOf(m)] ??= {});
    g[m.region] = (g[m.region] ?? 0) + 1;
  }
  const targets: GroupTargets = {};
  for (const g of groups) targets[g] = from[g] ? { ...from[g] } : { [primaryRegion]: 1 };
  return { targets, from };
}

/** The machines a deploy ends with, per group and region (a deploy from before groups: all `app`). */
export function groupTargets(doc: Pick<DeployDoc, 'targets' | 'group_targets'>): GroupTargets {
  return doc.group_targets ?? { [DEFAULT_PROCESS_GROUP]: doc.targets };
}

/** What a rollback of `doc` restores, per group and region. */
export function rollbackTargets(doc: Pick<DeployDoc, 'targets' | 'group_targets' | 'from_group_targets'>): GroupTargets {
  return doc.from_group_targets ?? groupTargets(doc);
}

/** Per region, every group's together (DeployDoc.targets). */
export function regionTotals(t: GroupTargets): Record<string, number> {
  const out: Record<string, number> = {};
  for (const regions of Object.values(t)) for (const [r, n] of Object.entries(regions)) out[r] = (out[r] ?? 0) + n;
  return out;
}

/** "1 in fra, 2 in ams"; with groups other than `app`: "web: 1 in fra; worker: 1 in fra". */
export function describeTargets(t: GroupTargets): string {
  const regions = (r: Record<string, number>): string => Object.entries(r).map(([region, n]) => `${n} in ${region}`).join(', ') || 'none';
  const groups = Object.keys(t);
  if (groups.length === 1 && groups[0] === DEFAULT_PROCESS_GROUP) return regions(t[DEFAULT_PROCESS_GROUP]!);
  return groups.map((g) => `${g}: ${regions(t[g]!)}`).join('; ');
}

