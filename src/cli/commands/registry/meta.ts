/** `starling registry …`: what the command table knows of them (registry.ts runs them). */
import { appFlag, controlFlags, jsonFlag } from '../../flags.js';
import { boolean, defineCommand, string } from '../../kit/index.js';

export const registryLogin = defineCommand({
  noun: 'registry',
  verb: 'login',
  args: ['HOST'],
  summary: "store the app's login for a private registry (the password from stdin, sealed on the control plane; never in argv)",
  options: {
    ...appFlag(),
    username: string({ value: 'NAME', description: 'the registry user name', required: true }),
    'password-stdin': boolean({ description: 'read the password (or token) from stdin; the only way to give it' }),
    ...jsonFlag(),
    ...controlFlags,
  },
  load: () => import('./registry.js'),
});

export const registryList = defineCommand({
  noun: 'registry',
  verb: 'list',
  aliases: ['ls'],
  summary: "the registries the app has a login for, with the user names (never the passwords)",
  options: { ...appFlag(), ...jsonFlag(), ...controlFlags },
  load: () => import('./registry.js'),
});

export const registryLogout = defineCommand({
  noun: 'registry',
  verb: 'logout',
  args: ['HOST'],
  summary: "forget the app's login for a registry",
  options: { ...appFlag(), ...jsonFlag(), ...controlFlags },
  load: () => import('./registry.js'),
});
