/**
 * fly's process groups (`[processes]`), the rules both sides apply: every machine is in exactly
 * one group — its placement's `process_group`, absent meaning `app`, fly's default — and runs that
 * group's command, size and restart policy (machine-config.ts); a service serves the machines of
 * the groups its `processes` names, or of every group without it (sync/control-routes.ts routes
 * by it, and a service's checks run only on its groups' machines). Deploys and `scale count` keep
 * a count per group and region (control/deploy, control/api/machines.ts).
 */
import { StarlingError } from '../shared/index.js';
import type { AppConfig, ProcessGroupConfig, ServiceConfig } from './app-config.js';
import { DEFAULT_PROCESS_GROUP } from './names.js';

/** Whether machines of `group` get this service's traffic (and run its checks). */
export function serves(service: Pick<ServiceConfig, 'processes'>, group: string): boolean {
  return service.processes === undefined || service.processes.includes(group);
}

/** A machine's group: its placement's, else fly's default `app` (placements from before groups). */
export function groupOf(m: { process_group?: string | undefined }): string {
  return m.process_group ?? DEFAULT_PROCESS_GROUP;
}

/** The group names of a config, in its order. */
export function groupNames(config: Pick<AppConfig, 'processes'>): string[] {
  return config.processes.map((g) => g.name);
}

/** One group of a config; ERR_PROCESS_GROUP naming the groups it has when there is no such group. */
export function processGroup(config: Pick<AppConfig, 'app' | 'processes'>, name: string): ProcessGroupConfig {
  const g = config.processes.find((x) => x.name === name);
  if (g) return g;
  throw new StarlingError('ERR_PROCESS_GROUP', `app ${config.app} has no process group "${name}" (its groups: ${groupNames(config).join(', ')})`, {
    fault: 'user',
    hint: 'name a group of its [processes] section (without one, the only group is "app")',
  });
}
