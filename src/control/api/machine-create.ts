/**
 * `POST /v1/apps/{app}/machines` (create) and `POST /v1/apps/{app}/machines/{id}` (update) of the
 * platform Machines API. A machine runs a release of its app, so both make one of the app's
 * deployed release; the body is the part of fly's create body that fits that, and nothing else
 * (an unknown key is a 400 naming it, with its path):
 *
 *   region        where (default: the app's primary region); the scheduler picks the host
 *   config.image  optional; if given, the deployed release's image (its reference or digest)
 *   config.env    merged over the release's [env] (a secret's name stays the secret's)
 *   config.guest  { cpus, memory_mb } over the release's [[vm]]
 *   config.restart { policy: always | on-failure | no (never), max_retries }
 *   config.init.cmd  the command instead of the release's
 *   config.metadata  fly's machine metadata (strings); `fly_process_group` is its process group
 *                    (default: the release's default group), as flyctl writes it
 *   skip_launch   made stopped (fly: created and not started)
 *
 * Update replaces what the machine overrides of its release, moves it to the deployed release,
 * keeps its metadata unless the body has config.metadata, and does not move it to another region;
 * its host replaces the machine (same id) when that changes anything.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { NoCapacityError, hostViews, limitToVolumes, noVolume, pickHostFor, takeVolume } from '../scheduler/index.js';
import { volumeNeeds } from '../deploy/index.js';
import { isAppMachine, machineKey, type MachineDoc, type MachineOverrides, type ReleaseDoc } from '../../contract/index.js';
import type { DeployRunner } from '../deploy/index.js';
import { getApp } from './apps.js';
import { changePlacement } from './machine-leases.js';
import { placementOf, platformMachine } from './machine-object.js';
import { createdGroup, keptGroup } from './process-groups.js';
import { HttpError, json, route, type Route } from './http.js';
import { regionCode, releaseKey, type ApiContext, type AppDoc, type HostDoc } from './schemas.js';
import { who } from './machine-ops.js';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
export const METADATA_KEY = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
export const METADATA_KEY_RULE = 'must be 1 to 64 letters, digits, _ . - (starting with a letter or digit)';
export const MAX_METADATA_KEYS = 64;
export const metadataValue = z.string('must be a string').max(1024, 'must be at most 1024 characters');

const text = (max: number) => z.string('must be a string').min(1, 'must not be empty').max(max, `must be at most ${max} characters`);
export const MetadataMap = z
  .record(z.string().regex(METADATA_KEY, METADATA_KEY_RULE), metadataValue)
  .refine((m) => Object.keys(m).length <= MAX_METADATA_KEYS, `at most ${MAX_METADATA_KEYS} keys`);

const MachineConfigBody = z.strictObject({
  image: text(512).optional(),
  env: z.record(z.string().regex(ENV_NAME, 'is not an environment variable name'), z.string().max(65536, 'must be at most 65536 characters')).optional(),
  guest: z
    .strictObject({
      cpus: z.number('must be a number').positive('must be > 0').max(64, 'must be at most 64').optional(),
      memory_mb: z.int('must be whole megabytes').min(16, 'must be at least 16').max(1 << 20, 'must be at most 1048576').optional(),
    })
    .optional(),
  restart: z
    .strictObject({
      // fly spells "never" as "no".
      policy: z.enum(['always', 'on-failure', 'no', 'never'], { error: 'must be always, on-failure or no' }),
      max_retries: z.int('must be a whole number').min(0, 'must be from 0 to 1000').max(1000, 'must be from 0 to 1000').optional(),
    })
    .optional(),
  init: z.strictObject({ cmd: z.array(text(4096)).min(1, 'must hold at least the program').max(256, 'at most 256 words').optional() }).optional(),
  metadata: MetadataMap.optional(),
});

export const MachineBody = z
  .strictObject({
    region: regionCode.optional(),
    config: MachineConfigBody.optional(),
    skip_launch: z.boolean('must be true or false').optional(),
  })
  .optional();
type Body = z.output<typeof MachineBody>;

/** What the body's config overrides of the release's; undefined for nothing. */
function overridesOf(c: z.output<typeof MachineConfigBody> | undefined): MachineOverrides | undefined {
  if (!c) return undefined;
  const o: MachineOverrides = {
    ...(c.env && Object.keys(c.env).length > 0 ? { env: c.env } : {}),
    ...(c.guest && (c.guest.cpus !== undefined || c.guest.memory_mb !== undefined)
      ? { guest: { ...(c.guest.cpus !== undefined ? { cpus: c.guest.cpus } : {}), ...(c.guest.memory_mb !== undefined ? { memory_mb: c.guest.memory_mb } : {}) } }
      : {}),
    ...(c.restart ? { restart: { policy: c.restart.policy === 'no' ? 'never' : c.restart.policy, ...(c.restart.max_retries !== undefined ? { max_retries: c.restart.max_retries } : {}) } } : {}),
    ...(c.init?.cmd ? { cmd: c.init.cmd } : {}),
  };
  return Object.keys(o).length > 0 ? o : undefined;
}

/** The app's deployed release, which a created or updated machine runs; its image is the only one config.image may name. */
async function deployedRelease(ctx: ApiContext, app: AppDoc, body: Body): Promise<ReleaseDoc> {
  const version = app.deployed_release ?? 0;
  const release = version === 0 ? undefined : ((await ctx.store.get('releases', releaseKey(app.name, version)))?.value as ReleaseDoc | undefined);
  if (!release) throw new HttpError(400, 'ERR_NOT_DEPLOYED', `app ${app.name} has no deployed release to make a machine of: run starling deploy first`);
  const image = body?.config?.image;
  if (image !== undefined && image !== release.image.ref && image !== release.image.digest && !image.endsWith(`@${release.image.digest}`)) {
    throw new HttpError(400, 'ERR_MACHINE_CONFIG', `config.image: app ${app.name}'s machines run its deployed release's image (${release.image.ref}), not ${JSON.stringify(image.slice(0, 120))}: deploy that image first (starling deploy --image), or leave config.image out`, [
      { path: 'config.image', message: `must be the deployed release's image ${release.image.ref} (or its digest)` },
    ]);
  }
  return release;
}

export function machineCreateRoutes(ctx: ApiContext, runner: DeployRunner): Route[] {
  const { store } = ctx;
  const noDeploy = (app: string, what: string): void => {
    if (runner.active(app)) throw new HttpError(409, 'ERR_DEPLOY_IN_PROGRESS', `app ${app} has a deploy running; ${what} when it ends`);
  };
  return [
    route({
      method: 'POST',
      path: '/v1/apps/{app}/machines',
      access: 'deploy',
      summary: 'Create a machine of the deployed release in `region` (default: the primary region), with fly\'s `config` fields env, guest, restart, init.cmd, metadata; `skip_launch` makes it stopped',
      requestSchema: MachineBody,
      responses: { '200': 'the machine object', '400': 'invalid body (unknown keys named), ERR_NOT_DEPLOYED, ERR_MACHINE_CONFIG, ERR_NO_CAPACITY, ERR_PROCESS_GROUP', '404': 'ERR_APP_NOT_FOUND', '409': 'ERR_DEPLOY_IN_PROGRESS' },
      async handler({ params, body, principal }) {
        const app = (await getApp(ctx, params.app!)).value;
        noDeploy(app.name, 'create machines');
        const release = await deployedRelease(ctx, app, body);
        const region = body?.region ?? app.primary_region;
        const all = (await store.list('machines')).map((e) => e.value as MachineDoc);
        const mine = all.filter((m) => m.app === app.name);
        // A release that mounts a volume: the machine goes where a free one of that name is (docs/volumes.md).
        const needs = await volumeNeeds(store, app.name, release.config, mine);
        const views = hostViews((await store.list('hosts')).map((e) => e.value as HostDoc), all);
        let host: string;
        try {
          host = pickHostFor(region, needs ? limitToVolumes(views, needs.free) : views, mine).host;
        } catch (e) {
          if (e instanceof NoCapacityError && needs) throw noVolume(app.name, needs.name, [region]);
          if (e instanceof NoCapacityError) throw new HttpError(400, 'ERR_NO_CAPACITY', e.message, [{ path: 'region', message: `no healthy host in ${region} has room for a machine` }]);
          throw e;
        }
        const overrides = overridesOf(body?.config);
        const doc: MachineDoc = {
          id: randomBytes(7).toString('hex'),
          app: app.name,
          region,
          host,
          release: release.version,
          deploy: null,
          created_at: new Date(ctx.clock.now()).toISOString(),
          ...(overrides ? { overrides } : {}),
          ...(body?.config?.metadata ? { metadata: body.config.metadata } : {}),
          ...(body?.skip_launch ? { desired_state: 'stopped' as const, desired_version: 1 } : {}),
          ...createdGroup(release, body?.config?.metadata),
          ...(needs ? { volume: takeVolume(needs.free, host, region)!.id } : {}),
        };
        await store.transaction([{ op: 'put', collection: 'machines', key: machineKey(app.name, doc.id), value: doc, expectRevision: 0 }]);
        ctx.logger.info('machine created', { app: app.name, machine: doc.id, region, host, release: release.version, by: who(principal) });
        return json(200, await platformMachine(ctx, doc));
      },
    }),
    route({
      method: 'POST',
      path: '/v1/apps/{app}/machines/{id}',
      access: 'deploy',
      summary: "Update a machine: the create body's config replaces what it overrides of its release, and it moves to the deployed release; its host makes it again (same id) when that changes anything",
      requestSchema: MachineBody,
      responses: { '200': 'the machine object', '400': 'invalid body, ERR_NOT_DEPLOYED, ERR_MACHINE_CONFIG (another region), ERR_PROCESS_GROUP (the deployed release lacks its group)', '404': 'ERR_MACHINE_NOT_FOUND', '409': 'ERR_LEASE_HELD, ERR_DEPLOY_IN_PROGRESS' },
      async handler({ params, body, headers, principal }) {
        const app = (await getApp(ctx, params.app!)).value;
        noDeploy(app.name, 'update machines');
        const { doc: now } = await placementOf(ctx, app.name, params.id!);
        if (body?.region !== undefined && body.region !== now.region) {
          throw new HttpError(400, 'ERR_MACHINE_CONFIG', `region: machine ${now.id} runs in ${now.region} and does not move: destroy it and create one in ${body.region}`, [{ path: 'region', message: `must be ${now.region} (the machine's region)` }]);
        }
        const release = await deployedRelease(ctx, app, body);
        if (isAppMachine(now)) keptGroup(release, now);
        const overrides = overridesOf(body?.config);
        const { after } = await changePlacement(ctx, app.name, now.id, headers, (doc) => {
          const { overrides: _old, metadata, ...rest } = doc;
          const meta = body?.config?.metadata ?? metadata;
          return {
            ...rest,
            release: release.version,
            ...(overrides ? { overrides } : {}),
            ...(meta ? { metadata: meta } : {}),
            ...(body?.skip_launch ? { desired_state: 'stopped' as const, desired_version: (doc.desired_version ?? 0) + 1 } : {}),
          };
        });
        ctx.logger.info('machine updated', { app: app.name, machine: now.id, release: release.version, by: who(principal) });
        return json(200, await platformMachine(ctx, after!));
      },
    }),
  ];
}
