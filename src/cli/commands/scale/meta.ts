/** `starling scale …`: what the command table knows of it (scale.ts runs it). */
import { appFlag, controlFlags, jsonFlag } from '../../flags.js';
import { custom, defineCommand } from '../../kit/index.js';
import { regionCodes } from '../regions/meta.js';

export const scaleCount = defineCommand({
  noun: 'scale',
  verb: 'count',
  args: ['COUNT...'],
  summary: 'run N machines of the deployed release (or GROUP=N of each process group) in each listed region (default: the primary region)',
  options: {
    region: custom({ value: 'A,B', description: 'comma-separated region codes, in any case; regions not listed keep their machines' }, regionCodes),
    ...appFlag(),
    ...jsonFlag(),
    ...controlFlags,
  },
  load: () => import('./scale.js'),
});

export const scaleShow = defineCommand({
  noun: 'scale',
  verb: 'show',
  summary: "how many machines the app runs in each region, and their VM size (the deployed release's [[vm]])",
  options: { ...appFlag(), ...jsonFlag(), ...controlFlags },
  load: () => import('./show.js'),
});
