/**
 * `starling volumes snapshots create|list VOLUME --app APP`: a volume's files at one moment, kept on
 * its host (docs/volumes.md); `starling volumes create NAME --snapshot ID` restores one.
 */
import type { VolumeSnapshotDoc } from '../../../contract/index.js';
import { appPath, callControl, resolveControl } from '../../control-client.js';
import { implement } from '../../kit/index.js';
import { printJson, table } from '../../output.js';
import { volumesSnapshotsCreate, volumesSnapshotsList } from './meta.js';

export interface SnapshotJson extends VolumeSnapshotDoc {
  state: 'pending' | 'ready' | 'failed';
  stored_bytes: number | null;
  error: string | null;
}

const path = (app: string, volume: string): string => appPath(app, `/volumes/${encodeURIComponent(volume)}/snapshots`);

export const runVolumesSnapshotsCreate = implement(volumesSnapshotsCreate, async (opts) => {
  const s = await callControl<SnapshotJson>(resolveControl(opts), 'POST', path(opts.app, opts.volume));
  if (opts.json) printJson(s);
  else console.log(`snapshot ${s.id} of volume ${s.volume} asked for: host ${s.host} takes it now (starling volumes snapshots list ${s.volume} --app ${s.app}); restore it with starling volumes create NAME --region ${s.region} --snapshot ${s.id} --app ${s.app}`);
  return 0;
});

export const runVolumesSnapshotsList = implement(volumesSnapshotsList, async (opts) => {
  const { snapshots } = await callControl<{ snapshots: SnapshotJson[] }>(resolveControl(opts), 'GET', path(opts.app, opts.volume));
  if (opts.json) printJson(snapshots);
  else if (snapshots.length === 0) console.log(`volume ${opts.volume} has no snapshots; take one with: starling volumes snapshots create ${opts.volume} --app ${opts.app}`);
  else console.log(table([['ID', 'SIZE', 'STORED', 'STATE', 'CREATED'], ...snapshots.map((s) => [s.id, `${s.size_gb} GB`, s.stored_bytes === null ? '-' : `${(s.stored_bytes / 1e6).toFixed(1)} MB`, s.error ? `${s.state}: ${s.error}` : s.state, s.created_at])]));
  return 0;
});
