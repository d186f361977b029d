/** `starling releases …`: what the command table knows of them (list.ts and rollback.ts run them). */
import { appFlag, controlFlags, jsonFlag } from '../../flags.js';
import { defineCommand, number } from '../../kit/index.js';

export const releasesList = defineCommand({
  noun: 'releases',
  verb: 'list',
  aliases: ['ls'],
  summary: "an app's releases, oldest first: version, status, image digest, secrets version",
  options: { ...appFlag(), ...jsonFlag(), ...controlFlags },
  load: () => import('./list.js'),
});

export const releasesRollback = defineCommand({
  noun: 'releases',
  verb: 'rollback',
  args: ['[VERSION]'],
  summary: 'deploy an earlier release again (its config and image, with the current secrets)',
  options: {
    ...appFlag(),
    'wait-timeout': number({ value: 'SECONDS', positive: true, description: 'how long a new machine may take to pass its checks before the deploy rolls back (default 120)' }),
    ...jsonFlag(),
    ...controlFlags,
  },
  load: () => import('./rollback.js'),
});
