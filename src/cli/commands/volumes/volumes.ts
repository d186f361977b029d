/**
 * `starling volumes create|list|show|extend|destroy --app APP`: an app's volumes (fly's `fly
 * volumes`; docs/volumes.md). A volume lives on one host of its region; a machine that mounts it
 * (`[mounts] source = NAME` in the app config) runs there.
 */
import type { VolumeDoc } from '../../../contract/index.js';
import { appPath, callControl, resolveControl } from '../../control-client.js';
import { implement, usageError as usage } from '../../kit/index.js';
import { printJson, table } from '../../output.js';
import { volumesCreate, volumesDestroy, volumesExtend, volumesList, volumesShow } from './meta.js';

export interface VolumeJson extends VolumeDoc {
  state: 'pending' | 'ready' | 'failed';
  used_bytes: number | null;
  total_bytes: number | null;
  error: string | null;
  attached_machine: string | null;
}

const use = (v: VolumeJson): string => (v.used_bytes === null || v.total_bytes === null ? '-' : `${(v.used_bytes / 1e9).toFixed(2)} / ${(v.total_bytes / 1e9).toFixed(2)} GB`);

function describe(v: VolumeJson): string {
  return table([
    ['id', v.id],
    ['name', v.name],
    ['region', v.region],
    ['host', v.host],
    ['size', `${v.size_gb} GB`],
    ['used', use(v)],
    ['state', v.error ? `${v.state}: ${v.error}` : v.state],
    ['attached', v.attached_machine ?? '-'],
    ['created', v.created_at],
  ]);
}

export const runVolumesCreate = implement(volumesCreate, async (opts) => {
  const body = { name: opts.name, region: opts.region, ...(opts['size-gb'] !== undefined ? { size_gb: opts['size-gb'] } : {}), ...(opts.snapshot !== undefined ? { snapshot_id: opts.snapshot } : {}) };
  const v = await callControl<VolumeJson>(resolveControl(opts), 'POST', appPath(opts.app, '/volumes'), body);
  if (opts.json) printJson(v);
  else console.log(`created volume ${v.id} (${v.name}, ${v.size_gb} GB) on host ${v.host} in ${v.region}; mount it with [mounts] source = "${v.name}"\n\n${describe(v)}`);
  return 0;
});

export const runVolumesList = implement(volumesList, async (opts) => {
  const { volumes } = await callControl<{ volumes: VolumeJson[] }>(resolveControl(opts), 'GET', appPath(opts.app, '/volumes'));
  if (opts.json) printJson(volumes);
  else if (volumes.length === 0) console.log(`app ${opts.app} has no volumes; make one with: starling volumes create NAME --region REGION --app ${opts.app}`);
  else console.log(table([['ID', 'NAME', 'REGION', 'HOST', 'SIZE', 'USED', 'STATE', 'ATTACHED'], ...volumes.map((v) => [v.id, v.name, v.region, v.host, `${v.size_gb} GB`, use(v), v.state, v.attached_machine ?? '-'])]));
  return 0;
});

export const runVolumesShow = implement(volumesShow, async (opts) => {
  const v = await callControl<VolumeJson>(resolveControl(opts), 'GET', appPath(opts.app, `/volumes/${encodeURIComponent(opts.id)}`));
  if (opts.json) printJson(v);
  else console.log(describe(v));
  return 0;
});

export const runVolumesExtend = implement(volumesExtend, async (opts) => {
  const v = await callControl<VolumeJson>(resolveControl(opts), 'PUT', appPath(opts.app, `/volumes/${encodeURIComponent(opts.id)}/extend`), { size_gb: opts['size-gb'] });
  if (opts.json) printJson(v);
  else console.log(`volume ${v.id} is now ${v.size_gb} GB; its host grows the filesystem (mounted or not)`);
  return 0;
});

export const runVolumesDestroy = implement(volumesDestroy, async (opts) => {
  if (!opts.yes) throw usage(`not destroying volume ${opts.id} without --yes: its data would go, and it cannot be undone`, `starling volumes destroy ${opts.id} --app ${opts.app} --yes`);
  await callControl(resolveControl(opts), 'DELETE', appPath(opts.app, `/volumes/${encodeURIComponent(opts.id)}`));
  console.log(`destroyed volume ${opts.id}: its host removes the data`);
  return 0;
});
