/** `starling deploy …`: what the command table knows of them (deploy.ts and resume.ts run them). */
import { appConfigFlag, appFlag, controlFlags, jsonFlag } from '../../flags.js';
import { boolean, defineCommand, number, string } from '../../kit/index.js';

export const deploy = defineCommand({
  noun: 'deploy',
  verb: '',
  summary: 'deploy the app: upload the image, make a release, roll it out and follow it',
  options: {
    ...appConfigFlag,
    image: string({ value: 'DIR|TGZ', description: "the app's files: a directory or a .tar.gz (default: [build] image in the config)" }),
    strategy: string({ value: 'NAME', description: 'rolling, canary, bluegreen or immediate (default: [deploy] strategy in the config)' }),
    'max-unavailable': number({ value: 'N', positive: true, description: 'rolling: machines replaced at once, a count or a fraction below 1 (default: the config)' }),
    'wait-timeout': number({ value: 'SECONDS', positive: true, description: 'how long a new machine may take to pass its checks before the deploy rolls back (default 120)' }),
    detach: boolean({ description: 'start the deploy and return without following it' }),
    ...jsonFlag(),
    ...controlFlags,
  },
  load: () => import('./deploy.js'),
});

export const deployResume = defineCommand({
  noun: 'deploy',
  verb: 'resume',
  args: ['ID'],
  summary: 'continue an interrupted deploy from the machines that exist now',
  options: { ...appFlag(), ...jsonFlag(), ...controlFlags },
  load: () => import('./resume.js'),
});

export const deployRollback = defineCommand({
  noun: 'deploy',
  verb: 'rollback',
  args: ['ID'],
  summary: 'roll a deploy back to the release before it',
  options: { ...appFlag(), ...jsonFlag(), ...controlFlags },
  load: () => import('./resume.js'),
});
