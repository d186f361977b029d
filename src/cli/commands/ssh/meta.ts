/** `starling ssh …`: what the command table knows of it (console.ts runs it). */
import { appFlag, controlFlags } from '../../flags.js';
import { boolean, defineCommand, string } from '../../kit/index.js';

export const sshConsole = defineCommand({
  noun: 'ssh',
  verb: 'console',
  summary: "a shell, or one command (-C), inside one of the app's machines, through the control plane and its host's agent",
  options: {
    ...appFlag(),
    machine: string({ value: 'ID', description: 'the machine (default: the first started one; see starling machines list)' }),
    select: boolean({ short: 's', description: 'pick the machine from a list (needs a terminal)' }),
    command: string({ value: 'CMD', short: 'C', description: 'run CMD (with /bin/sh -c) instead of a shell; its exit status is ours' }),
    pty: boolean({ description: 'a terminal for -C CMD as well (a shell gets one whenever stdin is a terminal)' }),
    ...controlFlags,
  },
  load: () => import('./console.js'),
});
