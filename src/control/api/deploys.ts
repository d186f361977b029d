/**
 * Deploys (src/control/deploy): start one for a release, follow it, resume or roll back one the
 * control plane was interrupted in. A deploy of an image the control plane does not hold is
 * refused up front, so no machine is ever placed that no host can fetch.
 */
import { randomBytes } from 'node:crypto';
import type { z } from 'zod';
import { groupNames, isAppMachine, maxUnavailableCount, parseAppConfigDocument } from '../../contract/index.js';
import { deployKey, deployTargets, describeTargets, regionTotals, type DeployDoc, type DeployRunner } from '../deploy/index.js';
import { getApp } from './apps.js';
import { volumesForMachines } from './volumes.js';
import { HttpError, json, route, type Route } from './http.js';
import { hasImage } from './images.js';
import { checkPublicPorts } from './public-ports.js';
import { checkHostPorts } from './host-ports.js';
import { StartDeploy, releaseKey, type ApiContext, type MachineDoc, type ReleaseDoc } from './schemas.js';

export const DEFAULT_WAIT_TIMEOUT_S = 120;

export type StartDeployRequest = z.output<typeof StartDeploy>;

/** Checks and starts a deploy (the API's POST, and secrets changes that roll the machines). */
export async function startDeploy(ctx: ApiContext, runner: DeployRunner, appName: string, body: StartDeployRequest): Promise<DeployDoc> {
  const { store } = ctx;
  const app = (await getApp(ctx, appName)).value;
  if (runner.active(app.name)) throw new HttpError(409, 'ERR_DEPLOY_IN_PROGRESS', `app ${app.name} has a deploy running; follow it with starling status, or wait for it to end`);
  // An interrupted deploy left machines of two releases: finish or undo it before starting another.
  const interrupted = (await store.list('deploys', { prefix: `${app.name}.` })).map((e) => e.value as DeployDoc).find((d) => d.state === 'interrupted');
  if (interrupted) {
    throw new HttpError(409, 'ERR_DEPLOY_INTERRUPTED', `deploy ${interrupted.id} of app ${app.name} was interrupted: starling deploy resume ${interrupted.id} (or rollback) first`);
  }
  const version = body.release ?? app.release_version;
  if (version === 0) throw new HttpError(400, 'ERR_NO_RELEASE', `app ${app.name} has no release yet: starling deploy --image DIR creates one`);
  const rel = (await store.get('releases', releaseKey(app.name, version)))?.value as ReleaseDoc | undefined;
  if (!rel) throw new HttpError(404, 'ERR_RELEASE_NOT_FOUND', `app ${app.name} has no release ${version}`);
  const { config } = parseAppConfigDocument(rel.config, 'release config');
  await checkPublicPorts(ctx, app, config);
  if (rel.image.kind === 'oci') {
    if (!(await ctx.registry?.getManifest(app.name, rel.image.digest))) {
      throw new HttpError(400, 'ERR_IMAGE_NOT_FOUND', `the platform registry holds no image ${rel.image.digest} for app ${app.name}: push it to /v2/${app.name} (starling deploy does this)`);
    }
  } else if (!(await hasImage(ctx.imagesDir, rel.image.digest))) {
    throw new HttpError(400, 'ERR_IMAGE_NOT_FOUND', `the control plane does not hold image ${rel.image.digest}: upload it (PUT /v1/images/${rel.image.digest}; starling deploy does this)`);
  }
  // Last, as it asks every host: can each listen on the release's public ports?
  await checkHostPorts(ctx, config);
  // The app's own machines: not a release command's temporary one (it is not to be rolled out).
  const machines = (await store.list('machines', { prefix: `${app.name}.` })).map((e) => e.value as MachineDoc).filter(isAppMachine);
  const { targets: group_targets, from } = deployTargets(machines, groupNames(config), config.primary_region ?? app.primary_region);
  const targets = regionTotals(group_targets);
  const total = Object.values(targets).reduce((a, b) => a + b, 0);
  const strategy = body.strategy ?? config.deploy.strategy;
  // A volume holds one machine: the new one can only take its place (fly's rule, docs/volumes.md).
  if (config.mounts.length > 0 && (strategy === 'canary' || strategy === 'bluegreen')) {
    throw new HttpError(400, 'ERR_DEPLOY_STRATEGY', `app ${app.name} mounts volume ${config.mounts[0]!.source}: a ${strategy} deploy needs a second machine beside each old one, and a volume holds one; use rolling or immediate (machines are replaced in place)`, [
      { path: 'strategy', message: 'must be rolling or immediate for an app with [mounts]' },
    ]);
  }
  // As fly's deploy: a machine that mounts a volume needs one; the missing ones are made now, at [mounts] initial_size (docs/volumes.md).
  const mount = config.mounts[0];
  if (mount) await volumesForMachines(ctx, app.name, mount.source, mount.initial_size_gb, targets);
  const at = new Date(ctx.clock.now()).toISOString();
  const doc: DeployDoc = {
    id: randomBytes(6).toString('hex'),
    app: app.name,
    release: version,
    from_release: app.deployed_release ?? 0,
    strategy,
    max_unavailable: maxUnavailableCount(body.max_unavailable ?? config.deploy.max_unavailable, total),
    wait_timeout_ms: (body.wait_timeout_s ?? DEFAULT_WAIT_TIMEOUT_S) * 1000,
    targets,
    group_targets,
    from_group_targets: from,
    state: 'running',
    phase: 'starting',
    error: null,
    events: [{ at, message: `deploying release ${version} (${strategy}) to ${describeTargets(group_targets)}` }],
    started_at: at,
    updated_at: at,
    finished_at: null,
  };
  await store.put('deploys', deployKey(app.name, doc.id), doc, { expectRevision: 0 });
  runner.launch(doc);
  ctx.logger.info('deploy started', { app: app.name, deploy: doc.id, release: version, strategy });
  return doc;
}

export function deployRoutes(ctx: ApiContext, runner: DeployRunner): Route[] {
  const { store } = ctx;

  async function getDeploy(app: string, id: string): Promise<DeployDoc> {
    const found = /^[a-z0-9]{1,32}$/.test(id) ? await store.get('deploys', deployKey(app, id)) : undefined;
    if (!found) throw new HttpError(404, 'ERR_DEPLOY_NOT_FOUND', `app ${app} has no deploy ${JSON.stringify(id.slice(0, 40))}`);
    return found.value as DeployDoc;
  }

  function busy(app: string): void {
    if (runner.active(app)) throw new HttpError(409, 'ERR_DEPLOY_IN_PROGRESS', `app ${app} has a deploy running; follow it with starling status, or wait for it to end`);
  }

  return [
    route({
      method: 'POST',
      path: '/v1/apps/{app}/deploys',
      access: 'deploy',
      summary: 'Start a deploy of a release (default: the latest) with a strategy',
      requestSchema: StartDeploy,
      responses: { '201': 'the deploy', '400': 'invalid body, ERR_NO_RELEASE, ERR_IMAGE_NOT_FOUND', '404': 'ERR_APP_NOT_FOUND or ERR_RELEASE_NOT_FOUND', '409': 'ERR_DEPLOY_IN_PROGRESS, ERR_DEPLOY_INTERRUPTED, or ERR_PORT_TAKEN (a public port another app or the platform holds)' },
      async handler({ params, body }) {
        return json(201, await startDeploy(ctx, runner, params.app!, body));
      },
    }),
    route({
      method: 'GET',
      path: '/v1/apps/{app}/deploys',
      access: 'read',
      summary: "List an app's deploys, oldest first",
      responses: { '200': '{ deploys: [...] }', '404': 'ERR_APP_NOT_FOUND' },
      async handler({ params }) {
        await getApp(ctx, params.app!);
        const all = (await store.list('deploys', { prefix: `${params.app!}.` })).map((e) => e.value as DeployDoc);
        return json(200, { deploys: all.sort((a, b) => a.started_at.localeCompare(b.started_at)) });
      },
    }),
    route({
      method: 'GET',
      path: '/v1/apps/{app}/deploys/{id}',
      access: 'read',
      summary: 'Show one deploy with its events',
      responses: { '200': 'the deploy', '404': 'ERR_APP_NOT_FOUND or ERR_DEPLOY_NOT_FOUND' },
      async handler({ params }) {
        await getApp(ctx, params.app!);
        return json(200, await getDeploy(params.app!, params.id!));
      },
    }),
    ...(['resume', 'rollback'] as const).map((action) =>
      route({
        method: 'POST',
        path: `/v1/apps/{app}/deploys/{id}/${action}`,
        access: 'deploy',
        summary: action === 'resume' ? 'Continue an interrupted deploy from the machines that exist now' : 'Roll an unfinished or failed deploy back to the release before it',
        responses: { '200': 'the deploy, running again', '404': 'ERR_DEPLOY_NOT_FOUND', '409': 'ERR_DEPLOY_IN_PROGRESS or ERR_DEPLOY_FINISHED' },
        async handler({ params }) {
          await getApp(ctx, params.app!);
          busy(params.app!);
          const d = await getDeploy(params.app!, params.id!);
          const allowed = action === 'resume' ? ['interrupted'] : ['interrupted', 'failed', 'running', 'rolling_back'];
          if (!allowed.includes(d.state)) throw new HttpError(409, 'ERR_DEPLOY_FINISHED', `deploy ${d.id} is ${d.state}; only ${allowed.join(' or ')} deploys can be ${action === 'resume' ? 'resumed' : 'rolled back'}`);
          const state = action === 'rollback' ? 'rolling_back' : d.events.some((e) => e.message.startsWith('rolling back')) ? 'rolling_back' : 'running';
          const at = new Date(ctx.clock.now()).toISOString();
          const doc: DeployDoc = { ...d, state, finished_at: null, updated_at: at, events: [...d.events, { at, message: `${action} requested` }].slice(-100) };
          await store.put('deploys', deployKey(d.app, d.id), doc);
          runner.launch(doc);
          return json(200, doc);
        },
      }),
    ),
  ];
}
