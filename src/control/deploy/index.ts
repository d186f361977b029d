// Deploys: the plan (pure: machines now → next step) and the runner that carries it out in the store.
export { nextStep, type PlanInput, type PlanMachine, type PlanStep } from './plan.js';
export { DeployRunner, type DeployRunnerOptions } from './runner.js';
export { ACTIVE_STATES, DEPLOY_STRATEGIES, deployKey, type DeployDoc, type DeployEvent, type DeployFailure, type DeployState, type DeployStrategy } from './types.js';
