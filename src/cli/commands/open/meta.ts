/** `starling open`: what the command table knows of it (open.ts runs it). */
import { appFlag, controlFlags } from '../../flags.js';
import { defineCommand } from '../../kit/index.js';

export const openCmd = defineCommand({
  noun: 'open',
  verb: '',
  args: ['[PATH]'],
  summary: "print the app's URL (http://APP.APPS_DOMAIN/PATH) and open it in a browser when there is one",
  options: { ...appFlag(), ...controlFlags },
  load: () => import('./open.js'),
});
