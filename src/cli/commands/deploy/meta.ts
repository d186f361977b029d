/** `starling deploy …`: what the command table knows of them (deploy.ts and resume.ts run them). */
import { appConfigFlag, appFlag, controlFlags, jsonFlag } from '../../flags.js';
import { boolean, custom, defineCommand, number, oneOf, string, usageError } from '../../kit/index.js';

/**
 * The deploy strategies, as the control plane's StartDeploy takes them (src/control/deploy
 * DEPLOY_STRATEGIES; the contract's STRATEGIES for [deploy] strategy). Written out here because
 * help loads this file and those load zod; test/integration/cli-deploy-pack checks they agree.
 */
export const DEPLOY_STRATEGIES = ['rolling', 'canary', 'bluegreen', 'immediate'] as const;

/** `--max-unavailable`: a count (a whole number) or a fraction below 1, as the control plane takes it. */
function maxUnavailable(t: string, flag: string): number {
  const n = t.trim() === '' ? NaN : Number(t);
  if (!Number.isFinite(n) || n <= 0 || (n >= 1 && !Number.isInteger(n))) throw usageError(`${flag} must be a whole number of machines or a fraction below 1 (0.25), got "${t.slice(0, 200)}"`);
  return n;
}

export const deploy = defineCommand({
  noun: 'deploy',
  verb: '',
  summary: 'deploy the app: build or push its image, make a release, roll it out and follow it',
  options: {
    ...appConfigFlag,
    image: string({
      value: 'REF|DIR|TGZ',
      description: "an OCI image (registry/repo:tag or @sha256:…), or the app's files as a directory or .tar.gz (default: [build] image, else a Dockerfile build, else the config's directory)",
    }),
    'build-target': string({ value: 'STAGE', description: 'the Dockerfile stage to build (default: [build] build-target in the config, else the last)' }),
    create: boolean({ description: 'create the app when it does not exist yet (without it, a deploy to an unknown app is refused)' }),
    strategy: oneOf(DEPLOY_STRATEGIES, { value: 'NAME', description: 'rolling, canary, bluegreen or immediate (default: [deploy] strategy in the config)' }),
    'max-unavailable': custom({ value: 'N', description: 'rolling: machines replaced at once, a count or a fraction below 1 (default: the config)' }, maxUnavailable),
    'wait-timeout': number({
      value: 'SECONDS',
      integer: true,
      min: 1,
      max: 3600,
      expect: 'a whole number of seconds from 1 to 3600',
      description: 'how long a new machine may take to pass its checks before the deploy rolls back (default 120)',
    }),
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
