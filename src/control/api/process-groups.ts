/**
 * Process groups in the control plane's API (contract/process-groups.ts), always those of the
 * app's deployed release: which groups `POST /v1/apps/{app}/scale` scales, and the group of a
 * machine the platform Machines API creates.
 */
import { StarlingError } from '../../shared/index.js';
import { DEFAULT_PROCESS_GROUP, defaultGroupOf, groupNames, groupOf, parseAppConfigDocument, processGroup, releaseKey, type AppConfig, type ReleaseDoc } from '../../contract/index.js';
import type { ApiContext } from './schemas.js';

/** fly's metadata key for a machine's process group (flyctl sets it on every machine it makes). */
export const FLY_PROCESS_GROUP_KEY = 'fly_process_group';

const configOf = (rel: ReleaseDoc): AppConfig => parseAppConfigDocument(rel.config, `release ${rel.version} of app ${rel.app}`).config;

/**
 * A created machine's group: `config.metadata.fly_process_group`, as flyctl writes it (one of the
 * release's groups: ERR_PROCESS_GROUP otherwise), else the release's default group (`app`, else
 * the first by name). `app` is written as no group, as deploys and scale do.
 */
export function createdGroup(rel: ReleaseDoc, metadata: Readonly<Record<string, string>> | undefined): { process_group?: string } {
  const config = configOf(rel);
  const asked = metadata?.[FLY_PROCESS_GROUP_KEY];
  const name = asked !== undefined ? processGroup(config, asked).name : defaultGroupOf(config.processes).name;
  return name === DEFAULT_PROCESS_GROUP ? {} : { process_group: name };
}

/** An updated machine keeps its group: the release it moves to must have it (ERR_PROCESS_GROUP otherwise). */
export function keptGroup(rel: ReleaseDoc, m: { process_group?: string | undefined }): void {
  processGroup(configOf(rel), groupOf(m));
}

/**
 * How many machines per region `scale count` wants of each group: `groups` names them
 * (`scale count web=2 worker=1`); a bare `count` is for an app of one group, and refused, naming
 * the groups, for an app of several.
 */
export async function scaleCounts(ctx: ApiContext, app: string, release: number, body: { count?: number | undefined; groups?: Record<string, number> | undefined }): Promise<Record<string, number>> {
  const rel = (await ctx.store.get('releases', releaseKey(app, release)))?.value as ReleaseDoc | undefined;
  if (!rel) throw new StarlingError('ERR_RELEASE_NOT_FOUND', `app ${app} has no release ${release}`, { fault: 'system' });
  const config = configOf(rel);
  if (body.groups !== undefined && Object.keys(body.groups).length > 0) {
    for (const g of Object.keys(body.groups)) processGroup(config, g);
    return body.groups;
  }
  const groups = groupNames(config);
  if (groups.length === 1) return { [groups[0]!]: body.count ?? 0 };
  throw new StarlingError('ERR_PROCESS_GROUP', `app ${app} runs several process groups (${groups.join(', ')}): say how many of each`, {
    fault: 'user',
    hint: `scale count ${groups.map((g) => `${g}=${body.count ?? 1}`).join(' ')}`,
  });
}
