/**
 * Placement of machines that mount a volume (the release's `[mounts] source = NAME`; docs/volumes.md).
 * Such a machine runs only on a host holding a volume of that name, in its region, that no other
 * machine mounts — one volume, one machine, as on fly. Pure: the callers (scale, the Machines API,
 * deploys) hand in the app's volumes and machines, and the same spreading rules as for any machine
 * then choose among the hosts that have one (placement.ts), each limited to as many new machines
 * as it has free volumes.
 */
import { StarlingError } from '../../shared/index.js';
import type { HostView } from './placement.js';

export interface VolumeView {
  id: string;
  name: string;
  region: string;
  host: string;
}

/** The app's volumes named `name` that no machine mounts, oldest first (the order volumes list shows). */
export function freeVolumes<V extends VolumeView & { created_at: string }>(volumes: readonly V[], machines: readonly { volume?: string | undefined }[], name: string): V[] {
  const taken = new Set(machines.map((m) => m.volume).filter((v): v is string => v !== undefined));
  return volumes.filter((v) => v.name === name && !taken.has(v.id)).sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
}

/** The hosts as the placement sees them when each new machine needs one of `free`: a host takes as many as it has free volumes (and slots). */
export function limitToVolumes(hosts: readonly HostView[], free: readonly VolumeView[]): HostView[] {
  const count = new Map<string, number>();
  for (const v of free) count.set(v.host, (count.get(v.host) ?? 0) + 1);
  return hosts.map((h) => ({ ...h, capacity: { machines: Math.min(h.capacity.machines, h.used + (count.get(h.id) ?? 0)) } }));
}

/** Takes (removes from `free`) a volume on `host` in `region` for a new machine; undefined when none is left. */
export function takeVolume<V extends VolumeView>(free: V[], host: string, region: string): V | undefined {
  const i = free.findIndex((v) => v.host === host && v.region === region);
  return i < 0 ? undefined : free.splice(i, 1)[0];
}

/** ERR_NO_VOLUME: what to do when the regions asked have too few free volumes. */
export function noVolume(app: string, name: string, regions: readonly string[]): StarlingError {
  const where = regions.join(', ');
  return new StarlingError('ERR_NO_VOLUME', `app ${app} mounts volume ${name} ([mounts] source), and ${where} has too few volumes of that name that no machine mounts: each machine needs its own`, {
    fault: 'user',
    hint: `create one per machine: starling volumes create ${name} --region ${regions[0] ?? 'REGION'} --app ${app}`,
  });
}
