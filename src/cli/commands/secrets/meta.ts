/** `starling secrets …`: what the command table knows of them (secrets.ts runs them). */
import { appFlag, controlFlags, jsonFlag } from '../../flags.js';
import { boolean, defineCommand } from '../../kit/index.js';

const stageFlag = {
  stage: boolean({ description: "record the change without rolling the machines; the app's next deploy picks it up" }),
};

export const secretsSet = defineCommand({
  noun: 'secrets',
  verb: 'set',
  summary: 'set one secret of an app (NAME=VALUE, or NAME with --stdin); prints its digest, never its value',
  args: ['NAME=VALUE'],
  options: {
    ...appFlag(),
    stdin: boolean({ description: 'read the value from stdin (the argument is then NAME alone)' }),
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
