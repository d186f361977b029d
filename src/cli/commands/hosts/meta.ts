/** `starling hosts …`: what the command table knows of them (hosts.ts runs them). */
import { controlFlags, jsonFlag, yesFlag } from '../../flags.js';
import { boolean, custom, defineCommand, duration } from '../../kit/index.js';
import { regionCode } from '../regions/meta.js';
import { writeFlag } from '../tokens/meta.js';

export const hostsAdd = defineCommand({
  noun: 'hosts',
  verb: 'add',
  summary: 'add a host: prints the one-time join token its agent needs',
  args: ['NAME'],
  options: {
    region: custom(
      {
        value: 'REGION',
        description: 'the region (PoP) the host is in, a code of the catalog in any case (required)',
        required: { message: '--region REGION is required', hint: 'a region code of the catalog, e.g. --region fra' },
      },
      regionCode,
    ),
    expiry: duration({ description: 'how long the join token is good for, e.g. 1h, 2d', default: '1h' }),
    ...writeFlag,
    ...jsonFlag(),
    ...controlFlags,
  },
  load: () => import('./hosts.js'),
});

export const hostsList = defineCommand({
  noun: 'hosts',
  verb: 'list',
  aliases: ['ls'],
  summary: 'the hosts: region, health, capacity, and those added but not joined yet',
  options: { ...jsonFlag(), ...controlFlags },
  load: () => import('./hosts.js'),
});

export const hostsRemove = defineCommand({
  noun: 'hosts',
  verb: 'remove',
  aliases: ['rm'],
  summary: 'remove a host: its credential stops working at once (needs --yes)',
  args: ['NAME'],
  options: {
    ...yesFlag('really remove it: its agent is cut off from the control plane'),
    force: boolean({ description: 'also drop the machines placed on it (else refused while it has some)' }),
    ...controlFlags,
  },
  load: () => import('./hosts.js'),
});
