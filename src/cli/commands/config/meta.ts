/** `starling config …`: what the command table knows of it (validate.ts runs it). */
import { appConfigFlag, jsonFlag } from '../../flags.js';
import { defineCommand } from '../../kit/index.js';

export const configValidate = defineCommand({
  noun: 'config',
  verb: 'validate',
  summary: 'check an app config (starling.toml or fly.toml): every error and warning with its key',
  options: { ...appConfigFlag, ...jsonFlag('print { ok, errors, warnings, config } as JSON') },
  load: () => import('./validate.js'),
});
