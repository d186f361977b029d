/** `starling deploy resume|rollback ID --app APP`: continue or undo a deploy the control plane was interrupted in. */
import { appPath, callControl, resolveControl } from '../../control-client.js';
import { implement, type OptsOf } from '../../kit/index.js';
import { printJson } from '../../output.js';
import { followDeploy, type DeployJson } from './follow.js';
import { deployResume, deployRollback } from './meta.js';

async function deployAction(verb: 'resume' | 'rollback', opts: OptsOf<typeof deployResume>): Promise<number> {
  const { app, id } = opts;
  const target = resolveControl(opts);
  await callControl<DeployJson>(target, 'POST', appPath(app, `/deploys/${encodeURIComponent(id)}/${verb}`));
  const end = await followDeploy(target, app, id, (l) => void (opts.json ? undefined : console.log(l)));
  if (opts.json) printJson(end);
  else console.log(`deploy ${id}: ${end.state}${end.error ? ` (${end.error})` : ''}`);
  return end.state === (verb === 'resume' ? 'succeeded' : 'rolled_back') ? 0 : 1;
}

export const runDeployResume = implement(deployResume, (opts) => deployAction('resume', opts));
export const runDeployRollback = implement(deployRollback, (opts) => deployAction('rollback', opts));
