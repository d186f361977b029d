/** `starling logs`: what the command table knows of it (logs.ts runs it). */
import { appFlag, controlFlags, jsonFlag } from '../../flags.js';
import { custom, defineCommand, number } from '../../kit/index.js';
import { regionCode } from '../regions/meta.js';

export const logs = defineCommand({
  noun: 'logs',
  verb: '',
  summary: "the newest log lines of an app's machines (all regions, or one)",
  options: {
    region: custom({ value: 'CODE', description: "only this region's machines (a code in any case)" }, regionCode),
    tail: number({ value: 'N', description: 'lines at most (default 100)', integer: true, min: 1, max: 9999 }),
    ...appFlag(),
    ...jsonFlag(),
    ...controlFlags,
  },
  load: () => import('./logs.js'),
});
