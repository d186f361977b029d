/**
 * Apps and their releases. A release is immutable; its version is the app's `release_version` + 1,
 * written in one transaction with the app document (expectRevision), so two concurrent creates can
 * never take the same version: the loser conflicts, reads again and takes the next one.
 */
import { isStarlingError } from '../../shared/index.js';
import { DEFAULT_ORG, seesApp, seesOrg, type Principal, type TokenDoc } from '../auth/index.js';
import { AppConfigError, DEFAULT_APPS_DOMAIN, parseAppConfigDocument, type ReleaseStatus } from '../../contract/index.js';
import type { DeployDoc } from '../deploy/index.js';
import type { Entry, Op } from '../store/index.js';
import { HttpError, json, route, type Route } from './http.js';
import { CreateApp, CreateRelease, releaseKey, type ApiContext, type AppDoc, type ReleaseDoc } from './schemas.js';

/** Attempts of a read-modify-write before giving up with 409 (only under heavy contention). */
const RETRIES = 50;

export function appRoutes(ctx: ApiContext): Route[] {
  const { store } = ctx;
  const now = (): string => new Date(ctx.clock.now()).toISOString();

  return [
    route({
      method: 'POST',
      path: '/v1/apps',
      access: 'deploy',
      summary: 'Create an app',
      requestSchema: CreateApp,
      responses: { '201': 'the app', '400': 'invalid body', '409': 'ERR_APP_EXISTS' },
      async handler({ body, principal }) {
        const org = await orgForNewApp(ctx, principal, body.org);
        const doc: AppDoc = { name: body.name, org, primary_region: body.primary_region, created_at: now(), release_version: 0, secrets_version: 0 };
        try {
          await store.put('apps', body.name, doc, { expectRevision: 0 });
        } catch (e) {
          if (isStarlingError(e, 'ERR_STORE_CONFLICT')) throw new HttpError(409, 'ERR_APP_EXISTS', `app ${body.name} already exists`);
          throw e;
        }
        ctx.logger.info('app created', { app: body.name, org, primary_region: body.primary_region });
        return json(201, doc);
      },
    }),
    route({
      method: 'GET',
      path: '/v1/apps',
      access: 'read',
      summary: "List the apps the token may see (its org's; one app for an app token; every app for the operator)",
      responses: { '200': '{ apps: [...] }' },
      async handler({ principal }) {
        const apps = (await store.list('apps')).map((e) => e.value as AppDoc).filter((a) => seesApp(principal, a));
        return json(200, { apps: apps.map((a) => ({ ...a, org: a.org ?? DEFAULT_ORG })) });
      },
    }),
    route({
      method: 'GET',
      path: '/v1/apps/{app}',
      access: 'read',
      summary: 'Show one app, with the hostname it is served at (`<app>.<apps_domain>`)',
      responses: { '200': 'the app', '404': 'ERR_APP_NOT_FOUND' },
      async handler({ params }) {
        const app = (await getApp(ctx, params.app!)).value;
        return json(200, { ...app, org: app.org ?? DEFAULT_ORG, hostname: `${app.name}.${ctx.appsDomain ?? DEFAULT_APPS_DOMAIN}` });
      },
    }),
    route({
      method: 'DELETE',
      path: '/v1/apps/{app}',
      access: 'admin',
      summary: 'Destroy an app with its releases, secrets, machines, deploys, volumes, app tokens, registry logins, private address and images',
      responses: { '200': '{ deleted: name }', '404': 'ERR_APP_NOT_FOUND' },
      async handler({ params }) {
        const name = params.app!;
        for (let i = 0; ; i++) {
          const app = await getApp(ctx, name);
          // Deleting the machine documents is what makes the hosts destroy the machines.
          const children = (
            await Promise.all(['releases', 'secrets', 'machines', 'machine_leases', 'deploys', 'registry_logins', 'private_ips', 'volumes', 'volume_states', 'volume_snapshots', 'snapshot_states'].map((c) => store.list(c, { prefix: `${name}.` })))
          ).flat();
          // Its app tokens go too: a new app of the same name must not inherit them; so do its
          // custom domains and certificates (a new app of the name orders its own).
          children.push(...(await store.list('tokens')).filter((e) => (e.value as TokenDoc).app === name));
          children.push(...(await store.list('hostnames')).filter((e) => (e.value as { app?: string }).app === name));
          children.push(...(await store.list('certificates')).filter((e) => (e.value as { app?: string | null }).app === name));
          const ops: Op[] = [
            ...children.map((c): Op => ({ op: 'delete', collection: c.collection, key: c.key })),
            { op: 'delete', collection: 'apps', key: name, expectRevision: app.revision },
          ];
          try {
            await store.transaction(ops);
            // Its repository of the platform registry: a new app of the name starts empty.
            await ctx.registry?.removeRepository(name);
            ctx.logger.info('app destroyed', { app: name });
            return json(200, { deleted: name });
          } catch (e) {
            if (!isStarlingError(e, 'ERR_STORE_CONFLICT') || i >= RETRIES) throw e;
          }
        }
      },
    }),
    route({
      method: 'POST',
      path: '/v1/apps/{app}/releases',
      access: 'deploy',
      summary: 'Create a release (immutable): config + image; takes the next version',
      requestSchema: CreateRelease,
      responses: { '201': 'the release', '400': 'invalid body', '404': 'ERR_APP_NOT_FOUND' },
      async handler({ params, body }) {
        const name = params.app!;
        checkReleaseConfig(name, body.config);
        return json(201, publicRelease(await createRelease(ctx, name, body)));
      },
    }),
    route({
      method: 'GET',
      path: '/v1/apps/{app}/releases',
      access: 'read',
      summary: "List an app's releases, oldest first, each with its status",
      responses: { '200': '{ releases: [...] }', '404': 'ERR_APP_NOT_FOUND' },
      async handler({ params }) {
        const app = (await getApp(ctx, params.app!)).value;
        const all = await store.list('releases', { prefix: `${app.name}.` });
        const deploys = (await store.list('deploys', { prefix: `${app.name}.` })).map((e) => e.value as DeployDoc);
        return json(200, { releases: all.map((e) => ({ ...publicRelease(e.value as ReleaseDoc), status: releaseStatus(e.value as ReleaseDoc, app, deploys) })) });
      },
    }),
    route({
      method: 'GET',
      path: '/v1/apps/{app}/releases/{version}',
      access: 'read',
      summary: 'Show one release',
      responses: { '200': 'the release', '404': 'ERR_APP_NOT_FOUND or ERR_RELEASE_NOT_FOUND' },
      async handler({ params }) {
        await getApp(ctx, params.app!);
        const v = params.version!;
        const version = /^[1-9]\d{0,7}$/.test(v) ? Number(v) : undefined;
        const found = version === undefined ? undefined : await store.get('releases', releaseKey(params.app!, version));
        if (!found) throw new HttpError(404, 'ERR_RELEASE_NOT_FOUND', `app ${params.app!} has no release ${JSON.stringify(v)}`);
        return json(200, publicRelease(found.value as ReleaseDoc));
      },
    }),
  ];
}

/**
 * The org a new app goes to: the one asked for, else the token's (the operator's default is
 * `personal`). A token of one org cannot create apps in another (404, as if it did not exist), and
 * an app token cannot create apps at all.
 */
async function orgForNewApp(ctx: ApiContext, p: Principal, asked: string | undefined): Promise<string> {
  if (p.kind === 'user' && p.app !== null) throw new HttpError(403, 'ERR_FORBIDDEN', `this token is for app ${p.app} only: it cannot create apps`);
  const org = asked ?? (p.kind === 'user' ? p.org : DEFAULT_ORG);
  if (!seesOrg(p, org) || !(await ctx.store.get('orgs', org))) throw new HttpError(404, 'ERR_ORG_NOT_FOUND', `no org ${JSON.stringify(org)}`);
  return org;
}

/** A new release of `name`: the app's next version, in one transaction with the app document. */
export async function createRelease(ctx: ApiContext, name: string, body: Pick<ReleaseDoc, 'config' | 'image'>): Promise<ReleaseDoc> {
  for (let i = 0; ; i++) {
    const app = await getApp(ctx, name);
    const version = app.value.release_version + 1;
    const now = new Date(ctx.clock.now()).toISOString();
    const release: ReleaseDoc = { app: name, version, config: body.config, image: body.image, secrets_version: app.value.secrets_version, created_at: now };
    try {
      await ctx.store.transaction([
        { op: 'put', collection: 'apps', key: name, value: { ...app.value, release_version: version }, expectRevision: app.revision },
        { op: 'put', collection: 'releases', key: releaseKey(name, version), value: release, expectRevision: 0 },
      ]);
    } catch (e) {
      if (isStarlingError(e, 'ERR_STORE_CONFLICT') && i < RETRIES) continue;
      throw e;
    }
    ctx.logger.info('release created', { app: name, version, image: body.image.digest });
    return release;
  }
}

/** A release's config must be a valid app config for this app: 400 listing every problem otherwise. */
function checkReleaseConfig(app: string, config: Record<string, unknown>): void {
  let parsed: ReturnType<typeof parseAppConfigDocument>;
  try {
    parsed = parseAppConfigDocument(config, 'config');
  } catch (e) {
    if (e instanceof AppConfigError) {
      const details = e.issues.map((i) => ({ path: `config.${i.path}`, message: i.message }));
      throw new HttpError(400, 'ERR_APP_CONFIG', `invalid app config: ${details.map((d) => `${d.path}: ${d.message}`).join('; ')}`, details);
    }
    throw e;
  }
  if (parsed.config.app !== app) {
    throw new HttpError(400, 'ERR_APP_CONFIG', `the config is for app "${parsed.config.app}", not "${app}"`, [{ path: 'config.app', message: `must be "${app}"` }]);
  }
  // A local_path names a file on the deployer's computer: starling deploy reads it into raw_value.
  const unread = parsed.config.files.flatMap((f, i) => (f.local_path !== undefined ? [{ path: `config.files[${i}].local_path`, message: 'is a file on the deployer\'s computer: send its contents as raw_value (starling deploy does)' }] : []));
  if (unread.length > 0) throw new HttpError(400, 'ERR_APP_CONFIG', `invalid app config: ${unread.map((d) => `${d.path}: ${d.message}`).join('; ')}`, unread);
}

/** The app document; 404 when there is none (or the name could not be one). */
export async function getApp(ctx: ApiContext, name: string): Promise<Entry & { value: AppDoc }> {
  const found = /^[a-z][a-z0-9-]{0,62}$/.test(name) ? await ctx.store.get('apps', name) : undefined;
  if (!found) throw new HttpError(404, 'ERR_APP_NOT_FOUND', `no app ${JSON.stringify(name)}`);
  return found as Entry & { value: AppDoc };
}

/**
 * `deployed`: what the machines run now; otherwise what its last deploy came to: `superseded` (it
 * was deployed, a later one replaced it), `deploying`, `rolled_back` (it failed its checks and the
 * previous release came back), `failed`, `interrupted`; `created`: never deployed.
 */
function releaseStatus(r: ReleaseDoc, app: AppDoc, deploys: readonly DeployDoc[]): ReleaseStatus {
  if (app.deployed_release === r.version) return 'deployed';
  let last: DeployDoc | undefined;
  for (const d of deploys) if (d.release === r.version && (!last || d.started_at >= last.started_at)) last = d;
  if (!last) return 'created';
  if (last.state === 'succeeded') return 'superseded';
  return last.state === 'running' || last.state === 'rolling_back' ? 'deploying' : last.state;
}

function publicRelease(r: ReleaseDoc): Omit<ReleaseDoc, 'app'> {
  const { version, config, image, secrets_version, created_at } = r;
  return { version, config, image, secrets_version, created_at };
}
