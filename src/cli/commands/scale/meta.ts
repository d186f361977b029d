/** `starling scale …`: what the command table knows of it (scale.ts runs it). */
import { appFlag, controlFlags, jsonFlag } from '../../flags.js';
import { defineCommand, string } from '../../kit/index.js';

export const scaleCount = defineCommand({
  noun: 'scale',
  verb: 'count',
  args: ['N'],
  summary: 'run N machines of the deployed release in each listed region (default: the primary region)',
  options: {
    region: string({ value: 'A,B', description: 'comma-separated region codes; regions not listed keep their machines' }),
    ...appFlag(),
    ...jsonFlag(),
    ...controlFlags,
  },
  load: () => import('./scale.js'),
});
