/** `starling deploy resume|rollback ID --app APP`: continue or undo a deploy the control plane was interrupted in. */
import type { Command } from '../../args.js';
import { appOption, appPath, callControl, controlOptions, requireApp, resolveControl } from '../../control-client.js';
import { jsonOption } from '../certs/common.js';
import { printJson } from '../../output.js';
import { followDeploy, type DeployJson } from './follow.js';

function deployAction(verb: 'resume' | 'rollback'): Command {
  return {
    noun: 'deploy',
    verb,
    args: ['ID'],
    summary: verb === 'resume' ? 'continue an interrupted deploy from the machines that exist now' : 'roll a deploy back to the release before it',
    options: { ...appOption, ...jsonOption, ...controlOptions },
    async run(opts) {
      const app = requireApp(opts);
      const target = resolveControl(opts);
      const id = String(opts.id);
      await callControl<DeployJson>(target, 'POST', appPath(app, `/deploys/${encodeURIComponent(id)}/${verb}`));
      const end = await followDeploy(target, app, id, (l) => void (opts.json === true ? undefined : console.log(l)));
      if (opts.json === true) printJson(end);
      else console.log(`deploy ${id}: ${end.state}${end.error ? ` (${end.error})` : ''}`);
      return end.state === (verb === 'resume' ? 'succeeded' : 'rolled_back') ? 0 : 1;
    },
  };
}

export const deployResume = deployAction('resume');
export const deployRollback = deployAction('rollback');
