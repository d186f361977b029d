/**
 * What placing a new machine of an app takes when its release mounts a volume (docs/volumes.md):
 * the volume name and the app's volumes that no machine mounts, read from the store, for the
 * scheduler's volume rules (scheduler/volumes.ts). Scale, the Machines API and deploys use it.
 */
import { releaseAppConfig, type MachineDoc, type VolumeDoc } from '../../contract/index.js';
import { freeVolumes } from '../scheduler/index.js';
import type { StateStore } from '../store/index.js';

export interface VolumeNeeds {
  name: string;
  /** Taken from (scheduler takeVolume) as machines are placed. */
  free: VolumeDoc[];
}

/** Undefined when the release mounts no volume. */
export async function volumeNeeds(store: StateStore, app: string, releaseConfig: unknown, machines: readonly MachineDoc[]): Promise<VolumeNeeds | undefined> {
  const name = releaseAppConfig(releaseConfig, `release of ${app}`).mounts[0]?.source;
  if (name === undefined) return undefined;
  const volumes = (await store.list('volumes', { prefix: `${app}.` })).map((e) => e.value as VolumeDoc);
  return { name, free: freeVolumes(volumes, machines, name) };
}
