/** `starling config …`: what the command table knows of it (validate.ts runs it). */
import { configFlag, jsonFlag } from '../../flags.js';
import { defineCommand } from '../../kit/index.js';

/** `--config FILE` of the commands that read an app config (validate, deploy). */
export const appConfigFlag = configFlag('the app config (default: starling.toml, or fly.toml when only that exists)');

export const configValidate = defineCommand({
  noun: 'config',
  verb: 'validate',
  summary: 'check an app config (starling.toml or fly.toml): every error and warning with its key',
  options: { ...appConfigFlag, ...jsonFlag('print { ok, errors, warnings, config } as JSON') },
  load: () => import('./validate.js'),
});
