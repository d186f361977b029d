/** `starling orgs …`: what the command table knows of them (orgs.ts runs them). */
import { controlFlags, jsonFlag } from '../../flags.js';
import { defineCommand } from '../../kit/index.js';

export const orgsCreate = defineCommand({
  noun: 'orgs',
  verb: 'create',
  summary: 'create an organisation (the platform operator only)',
  args: ['NAME'],
  options: { ...jsonFlag(), ...controlFlags },
  load: () => import('./orgs.js'),
});

export const orgsList = defineCommand({
  noun: 'orgs',
  verb: 'list',
  aliases: ['ls'],
  summary: 'the organisations you see (the operator sees all; a token its own)',
  options: { ...jsonFlag(), ...controlFlags },
  load: () => import('./orgs.js'),
});
