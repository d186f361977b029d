/** `starling apps …`: what the command table knows of them (apps.ts runs them). */
import { controlFlags, jsonFlag, yesFlag } from '../../flags.js';
import { custom, defineCommand, string } from '../../kit/index.js';
import { regionCode } from '../regions/meta.js';

export const appsCreate = defineCommand({
  noun: 'apps',
  verb: 'create',
  summary: 'create an app on the control plane',
  args: ['NAME'],
  options: {
    'primary-region': custom({ value: 'REGION', description: 'where its machines go first, a region code in any case (default: the first region with hosts)' }, regionCode),
    org: string({ value: 'ORG', description: "the org it belongs to (default: the token's org; the operator's: personal)" }),
    ...jsonFlag(),
    ...controlFlags,
  },
  load: () => import('./apps.js'),
});

export const appsList = defineCommand({
  noun: 'apps',
  verb: 'list',
  aliases: ['ls'],
  summary: 'the apps on the control plane',
  options: { ...jsonFlag(), ...controlFlags },
  load: () => import('./apps.js'),
});

export const appsDestroy = defineCommand({
  noun: 'apps',
  verb: 'destroy',
  aliases: ['rm'],
  summary: 'destroy an app with its releases and secrets (needs --yes)',
  args: ['NAME'],
  options: { ...yesFlag('really destroy it: its releases and secrets go too, for good'), ...controlFlags },
  load: () => import('./apps.js'),
});
