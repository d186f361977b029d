/** `starling logs`: what the command table knows of it (logs.ts runs it). */
import { SHORT, appFlag, controlFlags, jsonFlag } from '../../flags.js';
import { boolean, custom, defineCommand, number, string } from '../../kit/index.js';
import { regionCode } from '../regions/meta.js';

export const logs = defineCommand({
  noun: 'logs',
  verb: '',
  summary: "the newest log lines of an app's machines (all regions, one, or one machine even once it is gone); -f to keep printing",
  options: {
    region: custom({ value: 'CODE', description: "only this region's machines (a code in any case)" }, regionCode),
    tail: number({ value: 'N', description: 'lines at most (default 100)', integer: true, min: 1, max: 9999 }),
    machine: string({ value: 'ID', description: "only this machine's lines (a replaced or failed one's too: its last 100)" }),
    follow: boolean({ short: SHORT.follow, description: 'keep printing new lines until interrupted (Ctrl-C)' }),
    ...appFlag(),
    ...jsonFlag(),
    ...controlFlags,
  },
  load: () => import('./logs.js'),
});
