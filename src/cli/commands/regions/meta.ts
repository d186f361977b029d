/** `starling regions …`: what the command table knows of them (list.ts runs them). */
import { controlFlags, jsonFlag } from '../../flags.js';
import { defineCommand } from '../../kit/index.js';

export const regionsList = defineCommand({
  noun: 'regions',
  verb: 'list',
  aliases: ['ls'],
  summary: 'the regions that have hosts: code, name, hosts, machine capacity',
  options: { ...jsonFlag(), ...controlFlags },
  load: () => import('./list.js'),
});
