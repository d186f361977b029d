/** `starling secrets …`: what the command table knows of them (secrets.ts runs them). */
import { appFlag, controlFlags, jsonFlag } from '../../flags.js';
import { boolean, defineCommand } from '../../kit/index.js';

const stageFlag = {
  stage: boolean({ description: "record the change without rolling the machines; the app's next deploy picks it up" }),
};

export const secretsSet = defineCommand({
  noun: 'secrets',
  verb: 'set',
  summary: 'set secrets of an app (NAME=VALUE …, all in one change; or NAME with --stdin); prints digests, never values',
  args: ['NAME=VALUE...'],
  options: {
    ...appFlag(),
    stdin: boolean({ description: 'read the value from stdin (the argument is then one NAME alone)' }),
    ...stageFlag,
    ...jsonFlag(),
    ...controlFlags,
  },
  load: () => import('./secrets.js'),
});

export const secretsList = defineCommand({
  noun: 'secrets',
  verb: 'list',
  aliases: ['ls'],
  summary: "an app's secrets: names and digests (values are never shown)",
  options: { ...appFlag(), ...jsonFlag(), ...controlFlags },
  load: () => import('./secrets.js'),
});

export const secretsUnset = defineCommand({
  noun: 'secrets',
  verb: 'unset',
  summary: 'remove one secret of an app',
  args: ['NAME'],
  options: { ...appFlag(), ...stageFlag, ...jsonFlag(), ...controlFlags },
  load: () => import('./secrets.js'),
});
