/** `starling tokens …`: what the command table knows of them (tokens.ts runs them). */
import { SHORT, controlFlags, jsonFlag } from '../../flags.js';
import { defineCommand, duration, oneOf, string } from '../../kit/index.js';

/** `--write FILE`, where `tokens create` and `hosts add` put the secret they make (secret-out.ts). */
export const writeFlag = {
  write: string({ value: 'FILE', description: 'write the secret to FILE (created 0600; an existing file is not overwritten) instead of printing it' }),
};

export const tokensCreate = defineCommand({
  noun: 'tokens',
  verb: 'create',
  summary: 'create an API token for an org (optionally one app) with a scope; shown once',
  options: {
    org: string({ value: 'ORG', description: 'the org the token acts for (required)', required: { message: '--org ORG is required', hint: 'see the orgs with: starling orgs list' } }),
    app: string({ value: 'APP', short: SHORT.app, description: 'limit it to this app of the org' }),
    scope: oneOf(['read', 'deploy', 'admin'], {
      value: 'SCOPE',
      description: 'read (look), deploy (releases, deploys, scale, secrets, new apps) or admin (also destroy apps, manage tokens)',
      default: 'read',
    }),
    expiry: duration({ description: 'e.g. 30d, 12h, 1d12h (default: never expires)' }),
    name: string({ value: 'LABEL', description: 'who or what holds it, shown by tokens list' }),
    ...writeFlag,
    ...jsonFlag(),
    ...controlFlags,
  },
  load: () => import('./tokens.js'),
});

export const tokensList = defineCommand({
  noun: 'tokens',
  verb: 'list',
  aliases: ['ls'],
  summary: "an org's tokens: id, app, scope, expiry (never the tokens themselves)",
  options: { org: string({ value: 'ORG', description: "the org (default: the token's own; the operator: every org)" }), ...jsonFlag(), ...controlFlags },
  load: () => import('./tokens.js'),
});

export const tokensRevoke = defineCommand({
  noun: 'tokens',
  verb: 'revoke',
  aliases: ['rm'],
  summary: 'revoke a token: it stops working at once',
  args: ['ID'],
  options: { ...controlFlags },
  load: () => import('./tokens.js'),
});
