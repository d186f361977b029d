/**
 * Secrets: stored encrypted (AES-256-GCM, src/control/secrets), bound to app and name. The API
 * answers names and digests only; values appear in no response, log line or error. Each change
 * bumps the app's `secrets_version` in the same transaction, so a release records which set it saw.
 */
import { isStarlingError } from '../../shared/index.js';
import { digest, encryptSecret } from '../secrets/index.js';
import type { Op } from '../store/index.js';
import { z } from 'zod';
import { createRelease, getApp } from './apps.js';
import type { DeployRunner } from '../deploy/index.js';
import { startDeploy } from './deploys.js';
import { HttpError, json, route, type Route } from './http.js';
import { SECRET_NAME_RE, SetSecrets, releaseKey, secretKey, type ApiContext, type ReleaseDoc, type SecretDoc } from './schemas.js';

const RETRIES = 50;

/** `?stage=true`: record the change without rolling the machines (the next deploy picks it up). */
const StageQuery = z.strictObject({ stage: z.enum(['true', 'false', '1', '0']).optional() });

export function secretRoutes(ctx: ApiContext, runner: DeployRunner): Route[] {
  const { store } = ctx;

  /**
   * Machines get their secrets when they start, so a change reaches them through new machines: a
   * release like the deployed one (same config and image, the new secrets version), rolled out the
   * way the app's config says. Nothing to roll before a first deploy.
   */
  async function roll(app: string, stage: string | undefined): Promise<{ release: number; deploy: string } | null> {
    if (stage === 'true' || stage === '1') return null;
    const doc = (await getApp(ctx, app)).value;
    const deployed = doc.deployed_release ?? 0;
    if (deployed === 0) return null;
    const current = (await store.get('releases', releaseKey(app, deployed)))?.value as ReleaseDoc | undefined;
    if (!current) return null;
    const release = await createRelease(ctx, app, { config: current.config, image: current.image });
    const deploy = await startDeploy(ctx, runner, app, { release: release.version });
    return { release: release.version, deploy: deploy.id };
  }
  const now = (): string => new Date(ctx.clock.now()).toISOString();

  /** Runs `ops` with the app's secrets_version bumped, retrying when the app changed meanwhile. */
  async function withVersionBump(app: string, ops: (version: number) => Op[]): Promise<number> {
    for (let i = 0; ; i++) {
      const entry = await getApp(ctx, app);
      const version = entry.value.secrets_version + 1;
      try {
        await store.transaction([
          ...ops(version),
          { op: 'put', collection: 'apps', key: app, value: { ...entry.value, secrets_version: version }, expectRevision: entry.revision },
        ]);
        return version;
      } catch (e) {
        if (!isStarlingError(e, 'ERR_STORE_CONFLICT') || i >= RETRIES) throw e;
      }
    }
  }

  /** A change that would roll the machines waits for a running deploy (checked before anything is written). */
  function noDeployRunning(app: string, stage: string | undefined): void {
    if (stage !== 'true' && stage !== '1' && runner.active(app)) {
      throw new HttpError(409, 'ERR_DEPLOY_IN_PROGRESS', `app ${app} has a deploy running; change secrets when it ends, or pass stage=true to record the change for the next deploy`);
    }
  }

  return [
    route({
      method: 'PUT',
      path: '/v1/apps/{app}/secrets',
      access: 'deploy',
      summary: 'Set secrets ({ NAME: value, … }); answers names and digests only',
      requestSchema: SetSecrets,
      querySchema: StageQuery,
      responses: { '200': '{ secrets_version, secrets: [{ name, digest, updated_at }], rollout: { release, deploy } | null }', '400': 'invalid body', '404': 'ERR_APP_NOT_FOUND', '409': 'ERR_DEPLOY_IN_PROGRESS' },
      async handler({ params, body, query }) {
        const app = params.app!;
        await getApp(ctx, app);
        noDeployRunning(app, query.stage);
        const at = now();
        const docs: SecretDoc[] = Object.entries(body).map(([name, value]) => ({
          app,
          name,
          digest: digest(value),
          encrypted: encryptSecret(ctx.secretsKey, { app, name }, value),
          updated_at: at,
        }));
        const version = await withVersionBump(app, () => docs.map((d): Op => ({ op: 'put', collection: 'secrets', key: secretKey(app, d.name), value: d })));
        ctx.logger.info('secrets set', { app, names: docs.map((d) => d.name), version });
        return json(200, { secrets_version: version, secrets: docs.map(publicSecret), rollout: await roll(app, query.stage) });
      },
    }),
    route({
      method: 'GET',
      path: '/v1/apps/{app}/secrets',
      access: 'read',
      summary: "List an app's secrets: names and digests, never values",
      responses: { '200': '{ secrets_version, secrets: [{ name, digest, updated_at }] }', '404': 'ERR_APP_NOT_FOUND' },
      async handler({ params }) {
        const app = await getApp(ctx, params.app!);
        const all = await store.list('secrets', { prefix: `${params.app!}.` });
        return json(200, { secrets_version: app.value.secrets_version, secrets: all.map((e) => publicSecret(e.value as SecretDoc)) });
      },
    }),
    route({
      method: 'DELETE',
      path: '/v1/apps/{app}/secrets/{name}',
      access: 'deploy',
      summary: 'Unset one secret',
      querySchema: StageQuery,
      responses: { '200': '{ secrets_version, deleted: name, rollout: { release, deploy } | null }', '404': 'ERR_APP_NOT_FOUND or ERR_SECRET_NOT_FOUND', '409': 'ERR_DEPLOY_IN_PROGRESS' },
      async handler({ params, query }) {
        const app = params.app!;
        const name = params.name!;
        await getApp(ctx, app);
        noDeployRunning(app, query.stage);
        const found = SECRET_NAME_RE.test(name) ? await store.get('secrets', secretKey(app, name)) : undefined;
        if (!found) throw new HttpError(404, 'ERR_SECRET_NOT_FOUND', `app ${app} has no secret ${JSON.stringify(name)}`);
        const version = await withVersionBump(app, () => [{ op: 'delete', collection: 'secrets', key: secretKey(app, name) }]);
        ctx.logger.info('secret unset', { app, name, version });
        return json(200, { secrets_version: version, deleted: name, rollout: await roll(app, query.stage) });
      },
    }),
  ];
}

function publicSecret(d: SecretDoc): { name: string; digest: string; updated_at: string } {
  return { name: d.name, digest: d.digest, updated_at: d.updated_at };
}
