/** `starling wireguard …`: what the command table knows of them (wireguard.ts runs them). */
import { controlFlags, jsonFlag } from '../../flags.js';
import { defineCommand, string } from '../../kit/index.js';

const orgFlag = {
  org: string({ value: 'ORG', description: 'the org whose private network it is (required)', required: { message: '--org ORG is required', hint: 'see the orgs with: starling orgs list' } }),
};

export const wireguardCreate = defineCommand({
  noun: 'wireguard',
  verb: 'create',
  summary: "put a device (your laptop) on an org's private network: prints its wg-quick config, private key included, once",
  args: ['NAME'],
  options: {
    ...orgFlag,
    region: string({ value: 'REGION', description: 'the gateway host\'s region, best the nearest to the device (default: any host on the mesh)' }),
    write: string({ value: 'FILE', description: 'write the config to FILE (created 0600; an existing file is not overwritten) instead of printing it' }),
    ...jsonFlag(),
    ...controlFlags,
  },
  load: () => import('./wireguard.js'),
});

export const wireguardList = defineCommand({
  noun: 'wireguard',
  verb: 'list',
  aliases: ['ls'],
  summary: "an org's WireGuard peers: name, address, gateway host",
  options: { ...orgFlag, ...jsonFlag(), ...controlFlags },
  load: () => import('./wireguard.js'),
});

export const wireguardRemove = defineCommand({
  noun: 'wireguard',
  verb: 'remove',
  aliases: ['rm'],
  summary: 'take a WireGuard peer off the private network: its gateway drops it at once',
  args: ['NAME'],
  options: { ...orgFlag, ...controlFlags },
  load: () => import('./wireguard.js'),
});
