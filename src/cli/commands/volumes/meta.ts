/** `starling volumes …`: what the command table knows of them (volumes.ts runs them). */
import { appFlag, controlFlags, jsonFlag, yesFlag } from '../../flags.js';
import { custom, defineCommand, number, string } from '../../kit/index.js';
import { regionCode } from '../regions/meta.js';

const sizeGb = (description: string, required: boolean) =>
  number({ value: 'GB', integer: true, min: 1, max: 500, description, ...(required ? { required: { message: '--size-gb GB is required', hint: 'a volume only grows: give its new size' } } : {}) });

export const volumesCreate = defineCommand({
  noun: 'volumes',
  verb: 'create',
  summary: 'create a volume: storage of a fixed size on a host of the region, for machines that mount it ([mounts] source = NAME)',
  args: ['NAME'],
  options: {
    ...appFlag(),
    region: custom({ value: 'REGION', description: 'the region (required)', required: { message: '--region REGION is required', hint: 'a volume lives on one host: name its region (starling regions list)' } }, regionCode),
    'size-gb': sizeGb('its size in GB, 1-500 (default 1, or the snapshot\'s size)', false),
    snapshot: string({ value: 'ID', description: 'make it from this snapshot (on the snapshot\'s host, in its region)' }),
    ...jsonFlag(),
    ...controlFlags,
  },
  load: () => import('./volumes.js'),
});

export const volumesList = defineCommand({
  noun: 'volumes',
  verb: 'list',
  aliases: ['ls'],
  summary: "an app's volumes: name, region, host, size, use, state, the machine that mounts each",
  options: { ...appFlag(), ...jsonFlag(), ...controlFlags },
  load: () => import('./volumes.js'),
});

export const volumesShow = defineCommand({
  noun: 'volumes',
  verb: 'show',
  summary: 'one volume',
  args: ['ID'],
  options: { ...appFlag(), ...jsonFlag(), ...controlFlags },
  load: () => import('./volumes.js'),
});

export const volumesExtend = defineCommand({
  noun: 'volumes',
  verb: 'extend',
  summary: 'grow a volume (mounted or not); it never shrinks',
  args: ['ID'],
  options: { ...appFlag(), 'size-gb': sizeGb('its new size in GB, more than now', true), ...jsonFlag(), ...controlFlags },
  load: () => import('./volumes.js'),
});

export const volumesDestroy = defineCommand({
  noun: 'volumes',
  verb: 'destroy',
  aliases: ['rm'],
  summary: 'destroy a volume and its data (refused while a machine mounts it; needs --yes)',
  args: ['ID'],
  options: { ...appFlag(), ...yesFlag('really destroy it: its data goes, for good'), ...controlFlags },
  load: () => import('./volumes.js'),
});

export const volumesSnapshotsCreate = defineCommand({
  noun: 'volumes',
  verb: 'snapshots create',
  summary: "take a snapshot of a volume: its files as they are now, kept on its host",
  args: ['VOLUME'],
  options: { ...appFlag(), ...jsonFlag(), ...controlFlags },
  load: () => import('./snapshots.js'),
});

export const volumesSnapshotsList = defineCommand({
  noun: 'volumes',
  verb: 'snapshots list',
  summary: "a volume's snapshots (also once it is destroyed): id, size, state, when",
  args: ['VOLUME'],
  options: { ...appFlag(), ...jsonFlag(), ...controlFlags },
  load: () => import('./snapshots.js'),
});
