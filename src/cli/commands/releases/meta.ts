/** `starling releases …`: what the command table knows of them (list.ts runs them). */
import { appFlag, controlFlags, jsonFlag } from '../../flags.js';
import { defineCommand } from '../../kit/index.js';

export const releasesList = defineCommand({
  noun: 'releases',
  verb: 'list',
  aliases: ['ls'],
  summary: "an app's releases, oldest first: version, image, secrets version",
  options: { ...appFlag(), ...jsonFlag(), ...controlFlags },
  load: () => import('./list.js'),
});
