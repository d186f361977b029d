/** `starling ips …`: what the command table knows of them (ips.ts runs them). */
import { appFlag, controlFlags, jsonFlag } from '../../flags.js';
import { defineCommand } from '../../kit/index.js';

export const ipsAllocatePrivate = defineCommand({
  noun: 'ips',
  verb: 'allocate-private',
  summary: "give an app a private service address (fly's Flycast): <app>.flycast inside its org, through the proxy with autostart",
  options: { ...appFlag(), ...jsonFlag(), ...controlFlags },
  load: () => import('./ips.js'),
});

export const ipsList = defineCommand({
  noun: 'ips',
  verb: 'list',
  aliases: ['ls'],
  summary: "an app's addresses: its private service address, and the public anycast ones every app shares",
  options: { ...appFlag(), ...jsonFlag(), ...controlFlags },
  load: () => import('./ips.js'),
});

export const ipsReleasePrivate = defineCommand({
  noun: 'ips',
  verb: 'release-private',
  summary: "release an app's private service address: every host stops answering it",
  options: { ...appFlag(), ...controlFlags },
  load: () => import('./ips.js'),
});
