/** `starling status`: what the command table knows of it (status.ts runs it). */
import { appFlag, controlFlags, jsonFlag } from '../../flags.js';
import { defineCommand } from '../../kit/index.js';

export const status = defineCommand({
  noun: 'status',
  verb: '',
  summary: "an app's deployed release, machines (region, host, state, checks) and latest deploy",
  options: { ...appFlag(), ...jsonFlag(), ...controlFlags },
  load: () => import('./status.js'),
});
