/** `starling control …`: what the command table knows of it (run.ts runs it). */
import { configFlag, logLevelFlag } from '../../flags.js';
import { defineCommand } from '../../kit/index.js';

export const DEFAULT_CONTROL_CONFIG = '/etc/starling/control.toml';

export const controlRun = defineCommand({
  noun: 'control',
  verb: 'run',
  summary: 'run the control plane: HTTP API over the state store',
  options: { ...configFlag("the control plane's config (control.toml)", DEFAULT_CONTROL_CONFIG), ...logLevelFlag },
  load: () => import('./run.js'),
});
