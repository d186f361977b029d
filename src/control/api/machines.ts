/**
 * An app's machines through the control plane: the list (the platform Machines API's machine objects),
 * `scale count` (src/control/scheduler places; one transaction commits), and the status summary
 * `starling status` shows.
 */
import { NoCapacityError, hostViews, limitToVolumes, noVolume, planScaleGroups, takeVolume } from '../scheduler/index.js';
import type { Op } from '../store/index.js';
import { volumeNeeds, type DeployDoc, type DeployRunner } from '../deploy/index.js';
import { randomBytes } from 'node:crypto';
import { getApp } from './apps.js';
import { getDetails, listDetails } from './machine-details.js';
import { platformMachines } from './machine-object.js';
import { DEFAULT_PROCESS_GROUP, MACHINE_ID_RE, groupOf, isAppMachine, releaseAppConfig, releaseKey, type MachineDetailsDoc, type ReleaseDoc } from '../../contract/index.js';
import { volumesForMachines } from './volumes.js';
import { scaleCounts } from './process-groups.js';
import { HttpError, json, route, type Route } from './http.js';
import { ScaleCount, machineKey, type ApiContext, type HostDoc, type MachineDoc, type MachineStateDoc } from './schemas.js';

export interface MachineListing extends MachineDoc {
  /** As last reported by its host; `pending` before the first report. */
  state: MachineStateDoc['state'] | 'pending';
  healthy: boolean;
  reported_at: string | null;
}

export async function listMachines(ctx: ApiContext, app: string): Promise<MachineListing[]> {
  const states = new Map((await ctx.store.list('machine_states', { prefix: `${app}.` })).map((e) => [(e.value as MachineStateDoc).id, e.value as MachineStateDoc]));
  return (await ctx.store.list('machines', { prefix: `${app}.` })).map((e) => {
    const m = e.value as MachineDoc;
    const s = states.get(m.id);
    // A report from before a machine was replaced under the same id cannot happen: ids are random.
    // Its process group, `app` when the placement names none (a release command's machine has none).
    return { ...m, ...(isAppMachine(m) ? { process_group: groupOf(m) } : {}), state: s?.state ?? 'pending', healthy: s?.healthy ?? false, reported_at: s?.updated_at ?? null };
  });
}

export function machineRoutes(ctx: ApiContext, runner: DeployRunner): Route[] {
  const { store } = ctx;
  return [
    route({
      method: 'GET',
      path: '/v1/apps/{app}/machines',
      access: 'read',
      summary: "An app's machines on every host: fly's machine objects (as GET …/machines/{id}), each with its host, release, health, desired state and cordon",
      responses: { '200': '{ machines: [...] }', '404': 'ERR_APP_NOT_FOUND' },
      async handler({ params }) {
        await getApp(ctx, params.app!);
        return json(200, { machines: await platformMachines(ctx, params.app!) });
      },
    }),
    route({
      method: 'POST',
      path: '/v1/apps/{app}/scale',
      access: 'deploy',
      summary: 'Scale to `count` machines (or `groups`: so many of each process group) in each listed region (default: the primary region)',
      requestSchema: ScaleCount,
      responses: { '200': '{ created: [...], destroyed: [...] }', '400': 'invalid body, ERR_NOT_DEPLOYED, ERR_NO_CAPACITY, ERR_PROCESS_GROUP', '404': 'ERR_APP_NOT_FOUND', '409': 'ERR_DEPLOY_IN_PROGRESS' },
      async handler({ params, body }) {
        const app = (await getApp(ctx, params.app!)).value;
        if (runner.active(app.name)) throw new HttpError(409, 'ERR_DEPLOY_IN_PROGRESS', `app ${app.name} has a deploy running; scale when it ends`);
        const release = app.deployed_release ?? 0;
        if (release === 0) throw new HttpError(400, 'ERR_NOT_DEPLOYED', `app ${app.name} has no deployed release to scale: run starling deploy first`);
        const all = (await store.list('machines')).map((e) => e.value as MachineDoc);
        const mine = all.filter((m) => m.app === app.name);
        // Per process group (process-groups.ts): `count` alone is the app's only group.
        const counts = await scaleCounts(ctx, app.name, release, body);
        // A release that mounts a volume: the volumes the new machines lack are made (as fly's scale
        // does), and each new machine goes where a free one of that name is (scheduler/volumes.ts).
        const releaseDoc = (await store.get('releases', releaseKey(app.name, release)))?.value as ReleaseDoc | undefined;
        const mount = releaseDoc && releaseAppConfig(releaseDoc.config, `release ${release} of ${app.name}`).mounts[0];
        if (mount) {
          const perRegion: Record<string, number> = {};
          for (const r of body.regions && body.regions.length > 0 ? body.regions : [app.primary_region]) {
            const others = mine.filter((m) => isAppMachine(m) && m.region === r && counts[groupOf(m)] === undefined).length;
            perRegion[r] = others + Object.values(counts).reduce((a, b) => a + b, 0);
          }
          await volumesForMachines(ctx, app.name, mount.source, mount.initial_size_gb, perRegion);
        }
        const needs = releaseDoc && (await volumeNeeds(store, app.name, releaseDoc.config, mine));
        const views = hostViews((await store.list('hosts')).map((e) => e.value as HostDoc), all);
        const hosts = needs ? limitToVolumes(views, needs.free) : views;
        let plan;
        try {
          plan = planScaleGroups(hosts, mine.map((m) => ({ ...m, group: groupOf(m) })), { counts, regions: body.regions, primaryRegion: app.primary_region });
        } catch (e) {
          if (e instanceof NoCapacityError && needs) throw noVolume(app.name, needs.name, e.shortfalls.map((s) => s.region));
          if (e instanceof NoCapacityError) throw new HttpError(400, 'ERR_NO_CAPACITY', e.message, e.shortfalls.map((s) => ({ path: `${s.group && s.group !== DEFAULT_PROCESS_GROUP ? `groups.${s.group}.` : ''}regions.${s.region}`, message: `${s.needed} needed, ${s.placeable} placeable on ${s.healthyHosts} healthy host(s)` })));
          throw e;
        }
        const at = new Date(ctx.clock.now()).toISOString();
        const created: MachineDoc[] = plan.create.map((t) => {
          const volume = needs && takeVolume(needs.free, t.host, t.region);
          return {
            id: randomBytes(7).toString('hex'), app: app.name, region: t.region, host: t.host, release, deploy: null, created_at: at,
            ...(t.group === DEFAULT_PROCESS_GROUP ? {} : { process_group: t.group }),
            ...(volume ? { volume: volume.id } : {}),
          };
        });
        const ops: Op[] = [
          ...created.map((m): Op => ({ op: 'put', collection: 'machines', key: machineKey(app.name, m.id), value: m, expectRevision: 0 })),
          ...plan.destroy.map((id): Op => ({ op: 'delete', collection: 'machines', key: machineKey(app.name, id) })),
        ];
        if (ops.length > 0) await store.transaction(ops);
        ctx.logger.info('app scaled', { app: app.name, counts, regions: body.regions ?? [app.primary_region], created: created.length, destroyed: plan.destroy.length });
        return json(200, { created, destroyed: plan.destroy });
      },
    }),
    route({
      method: 'GET',
      path: '/v1/apps/{app}/status',
      access: 'read',
      summary: 'The app, its deployed and latest release, its machines and its latest deploy',
      responses: { '200': '{ app, machines, deploy }', '404': 'ERR_APP_NOT_FOUND' },
      async handler({ params }) {
        const app = (await getApp(ctx, params.app!)).value;
        const deploys = (await store.list('deploys', { prefix: `${app.name}.` })).map((e) => e.value as DeployDoc);
        const latest = deploys.sort((a, b) => a.started_at.localeCompare(b.started_at)).at(-1) ?? null;
        const details = new Map((await listDetails(ctx, app.name)).map((d) => [d.id, d]));
        // Each machine's newest event ("exit 1", "autostopped: excess capacity in fra"): why it is as it is.
        const machines = (await listMachines(ctx, app.name)).map((m) => ({ ...m, last_event: details.get(m.id)?.events.at(-1) ?? null }));
        return json(200, { app, machines, deploy: latest });
      },
    }),
    route({
      method: 'GET',
      path: '/v1/apps/{app}/machines/{id}/status',
      access: 'read',
      summary: 'One machine as its agent last described it: placement, state, last exit, checks and newest events (also for a gone machine)',
      responses: { '200': '{ id, region, host, release, state, healthy, exit, checks, events, gone_at, … }', '404': 'ERR_APP_NOT_FOUND, ERR_MACHINE_NOT_FOUND' },
      async handler({ params }) {
        const app = (await getApp(ctx, params.app!)).value.name;
        const id = params.id!;
        const listing = MACHINE_ID_RE.test(id) ? (await listMachines(ctx, app)).find((m) => m.id === id) : undefined;
        const d = MACHINE_ID_RE.test(id) ? await getDetails(ctx, app, id) : undefined;
        if (!listing && !d) throw new HttpError(404, 'ERR_MACHINE_NOT_FOUND', `app ${app} has no machine ${JSON.stringify(id.slice(0, 40))}: starling status --app ${app} lists its machines`);
        return json(200, machineStatus(listing, d));
      },
    }),
  ];
}

/** A machine now (its placement and report), or as it was when it went (its details alone). */
function machineStatus(m: MachineListing | undefined, d: MachineDetailsDoc | undefined): Record<string, unknown> {
  const base = m ?? { id: d!.id, app: d!.app, region: d!.region, host: d!.host, release: d!.release, deploy: null, created_at: null, state: d!.state, healthy: false, reported_at: d!.updated_at };
  return { ...base, exit: d?.exit ?? null, checks: d?.checks ?? [], events: d?.events ?? [], gone_at: d?.gone_at ?? null };
}
