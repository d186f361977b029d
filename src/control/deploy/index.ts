// Deploys: the plan (pure: machines now → next step), the release command's steps (pure too), and
// the runner that carries them out in the store.
export { nextStep, type PlanInput, type PlanMachine, type PlanStep } from './plan.js';
export { releaseCommandResult, releaseCommandStep, type ReleaseCommandInput, type ReleaseCommandStep } from './release-command.js';
export { DeployRunner, type DeployRunnerOptions } from './runner.js';
export { deployTargets, describeTargets, groupTargets, regionTotals, rollbackTargets } from './targets.js';
export { ACTIVE_STATES, DEPLOY_STRATEGIES, deployKey, type DeployDoc, type DeployEvent, type DeployFailure, type DeployState, type DeployStrategy, type GroupTargets, type ReleaseCommandRun } from './types.js';
export { volumeNeeds, type VolumeNeeds } from './volumes.js';
