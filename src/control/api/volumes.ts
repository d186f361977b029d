/**
 * Volumes (fly's `fly volumes`; docs/volumes.md): an app's storage of a fixed size on one host.
 * The control plane picks the host — healthy, in the region asked, with room for the size among
 * the volumes it holds already (`capacity.volume_gb`, which its agent registers) — and writes
 * `volumes/<app>.<id>`; that host's agent makes the filesystem and reports it under
 * `volume_states/<app>.<id>`. A volume a machine mounts (MachineDoc.volume) cannot be destroyed.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { VOLUME_ID_RE, VOLUME_NAME_RE, VOLUME_STATES, volumeKey, type VolumeDoc, type VolumeSnapshotDoc, type VolumeStateDoc } from '../../contract/index.js';
import { isKnownRegion } from '../../shared/index.js';
import { asHost } from './agents.js';
import { findSnapshot, snapshotView } from './snapshots.js';
import { getApp } from './apps.js';
import { HttpError, json, route, type Route } from './http.js';
import type { ApiContext, HostDoc, MachineDoc } from './schemas.js';

export const VOLUMES = 'volumes';
export const VOLUME_STATES_COLLECTION = 'volume_states';
/** fly's largest volume is 500 GB. */
export const MAX_VOLUME_GB = 500;

const sizeGb = z.number().int('must be a whole number of GB').min(1, 'must be at least 1 GB').max(MAX_VOLUME_GB, `must be at most ${MAX_VOLUME_GB} GB`);
const CreateVolume = z.strictObject({
  name: z.string().regex(VOLUME_NAME_RE, 'must be 1-30 characters of a-z, 0-9 and "_", as [mounts] source names it'),
  region: z.string().trim().toLowerCase().refine(isKnownRegion, 'is not a known region (see GET /v1/regions)'),
  /** Default 1, or the snapshot's size. */
  size_gb: sizeGb.optional(),
  /** Restore this snapshot into the new volume: on the snapshot's host, in its region. */
  snapshot_id: z.string().optional(),
});
const ExtendVolume = z.strictObject({ size_gb: sizeGb });
const ReportVolume = z.strictObject({
  state: z.enum(VOLUME_STATES),
  size_gb: z.number().int().min(0).max(MAX_VOLUME_GB),
  used_bytes: z.number().int().min(0),
  total_bytes: z.number().int().min(0),
  error: z.string().max(500).optional(),
});

/** What the API answers of a volume: the document, its last report, and the machine that mounts it. */
export interface VolumeView extends VolumeDoc {
  state: VolumeStateDoc['state'] | 'pending';
  used_bytes: number | null;
  total_bytes: number | null;
  error: string | null;
  attached_machine: string | null;
}

export function volumeRoutes(ctx: ApiContext): Route[] {
  const { store } = ctx;
  const all = async (): Promise<VolumeDoc[]> => (await store.list(VOLUMES)).map((e) => e.value as VolumeDoc);
  const machinesOf = async (app: string): Promise<MachineDoc[]> => (await store.list('machines', { prefix: `${app}.` })).map((e) => e.value as MachineDoc);
  const view = async (v: VolumeDoc, machines?: readonly MachineDoc[]): Promise<VolumeView> => {
    const s = (await store.get(VOLUME_STATES_COLLECTION, volumeKey(v.app, v.id)))?.value as VolumeStateDoc | undefined;
    const attached = (machines ?? (await machinesOf(v.app))).find((m) => m.volume === v.id);
    return { ...v, state: s?.state ?? 'pending', used_bytes: s?.used_bytes ?? null, total_bytes: s?.total_bytes ?? null, error: s?.error ?? null, attached_machine: attached?.id ?? null };
  };
  const find = async (app: string, id: string): Promise<VolumeDoc> => {
    const doc = VOLUME_ID_RE.test(id) ? ((await store.get(VOLUMES, volumeKey(app, id)))?.value as VolumeDoc | undefined) : undefined;
    if (!doc) throw new HttpError(404, 'ERR_VOLUME_NOT_FOUND', `app ${app} has no volume ${JSON.stringify(id.slice(0, 40))}`);
    return doc;
  };
  return [
    route({
      method: 'POST',
      path: '/v1/apps/{app}/volumes',
      access: 'deploy',
      summary: 'Create a volume on a host of the region with room for it',
      requestSchema: CreateVolume,
      responses: { '201': 'the volume', '400': 'ERR_BAD_REQUEST, ERR_NO_CAPACITY (no host of the region has room)', '404': 'ERR_APP_NOT_FOUND' },
      async handler({ params, body }) {
        const app = (await getApp(ctx, params.app!)).value;
        const snap = body.snapshot_id === undefined ? undefined : await findSnapshot(ctx, app.name, body.snapshot_id);
        const size = body.size_gb ?? snap?.size_gb ?? 1;
        if (snap) {
          const state = (await snapshotView(ctx, snap)).state;
          if (state !== 'ready') throw new HttpError(409, 'ERR_SNAPSHOT_NOT_READY', `snapshot ${snap.id} is ${state}: restore it once its host has taken it (starling volumes snapshots list ${snap.volume})`);
          if (snap.region !== body.region) throw new HttpError(400, 'ERR_BAD_REQUEST', `snapshot ${snap.id} is kept in ${snap.region}: a volume made from it is there too`, [{ path: 'region', message: `must be ${snap.region}` }]);
          if (size < snap.size_gb) throw new HttpError(400, 'ERR_VOLUME_SIZE', `snapshot ${snap.id} is of a ${snap.size_gb} GB volume: the new one needs at least that`, [{ path: 'size_gb', message: `at least ${snap.size_gb}` }]);
        }
        const [doc] = await makeVolumes(ctx, app.name, body.name, [{ region: body.region, size_gb: size, count: 1 }], snap);
        return json(201, await view(doc!, []));
      },
    }),
    route({
      method: 'GET',
      path: '/v1/apps/{app}/volumes',
      access: 'read',
      summary: "The app's volumes, with their state, use and the machine that mounts each",
      responses: { '200': '{ volumes: [...] }', '404': 'ERR_APP_NOT_FOUND' },
      async handler({ params }) {
        const app = (await getApp(ctx, params.app!)).value;
        const machines = await machinesOf(app.name);
        const mine = (await store.list(VOLUMES, { prefix: `${app.name}.` })).map((e) => e.value as VolumeDoc);
        return json(200, { volumes: await Promise.all(mine.sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id)).map((v) => view(v, machines))) });
      },
    }),
    route({
      method: 'GET',
      path: '/v1/apps/{app}/volumes/{id}',
      access: 'read',
      summary: 'One volume',
      responses: { '200': 'the volume', '404': 'ERR_APP_NOT_FOUND, ERR_VOLUME_NOT_FOUND' },
      async handler({ params }) {
        const app = (await getApp(ctx, params.app!)).value;
        return json(200, await view(await find(app.name, params.id!)));
      },
    }),
    route({
      method: 'PUT',
      path: '/v1/apps/{app}/volumes/{id}/extend',
      access: 'deploy',
      summary: 'Grow a volume (never shrink): its host grows the filesystem, mounted or not',
      requestSchema: ExtendVolume,
      responses: { '200': 'the volume', '400': 'ERR_VOLUME_SIZE, ERR_NO_CAPACITY', '404': 'ERR_VOLUME_NOT_FOUND' },
      async handler({ params, body }) {
        const app = (await getApp(ctx, params.app!)).value;
        const v = await find(app.name, params.id!);
        if (body.size_gb <= v.size_gb) throw new HttpError(400, 'ERR_VOLUME_SIZE', `volume ${v.id} is ${v.size_gb} GB: a volume only grows (ask for more than ${v.size_gb})`, [{ path: 'size_gb', message: `must be more than ${v.size_gb}` }]);
        const free = freeGb((await store.get('hosts', v.host))?.value as HostDoc | undefined, await all());
        if (body.size_gb - v.size_gb > free) throw new HttpError(400, 'ERR_NO_CAPACITY', `host ${v.host} has ${free} GB free for volumes: volume ${v.id} can grow to at most ${v.size_gb + free} GB`, [{ path: 'size_gb', message: `at most ${v.size_gb + free}` }]);
        const doc = { ...v, size_gb: body.size_gb };
        await store.put(VOLUMES, volumeKey(app.name, v.id), doc);
        ctx.logger.info('volume extended', { app: app.name, volume: v.id, from_gb: v.size_gb, to_gb: body.size_gb });
        return json(200, await view(doc));
      },
    }),
    route({
      method: 'DELETE',
      path: '/v1/apps/{app}/volumes/{id}',
      access: 'deploy',
      summary: 'Destroy a volume and its data (refused while a machine mounts it)',
      responses: { '200': '{ destroyed: id }', '404': 'ERR_VOLUME_NOT_FOUND', '409': 'ERR_VOLUME_ATTACHED' },
      async handler({ params }) {
        const app = (await getApp(ctx, params.app!)).value;
        const v = await find(app.name, params.id!);
        const attached = (await machinesOf(app.name)).find((m) => m.volume === v.id);
        if (attached) throw new HttpError(409, 'ERR_VOLUME_ATTACHED', `machine ${attached.id} mounts volume ${v.id}: destroy or scale away the machine first`);
        await store.transaction([
          { op: 'delete', collection: VOLUMES, key: volumeKey(app.name, v.id) },
          ...((await store.get(VOLUME_STATES_COLLECTION, volumeKey(app.name, v.id))) ? [{ op: 'delete' as const, collection: VOLUME_STATES_COLLECTION, key: volumeKey(app.name, v.id) }] : []),
        ]);
        ctx.logger.warn('volume destroyed', { app: app.name, volume: v.id, host: v.host });
        return json(200, { destroyed: v.id });
      },
    }),
    route({
      method: 'PUT',
      path: '/v1/hosts/{host}/apps/{app}/volumes/{id}/state',
      access: 'host',
      summary: "An agent reports one of its volumes: made, its size and use, or why it failed",
      requestSchema: ReportVolume,
      responses: { '200': 'the stored report', '403': 'a volume of another host', '404': 'ERR_VOLUME_NOT_FOUND' },
      async handler({ params, body, principal }) {
        const { host } = asHost(principal, params.host!);
        const v = (await store.get(VOLUMES, volumeKey(params.app!, params.id!)))?.value as VolumeDoc | undefined;
        if (!v) throw new HttpError(404, 'ERR_VOLUME_NOT_FOUND', `no volume ${params.id!.slice(0, 40)} of app ${params.app!.slice(0, 64)}`);
        if (v.host !== host) throw new HttpError(403, 'ERR_FORBIDDEN', `volume ${v.id} is on host ${v.host}, not ${host}`);
        const { error, ...figures } = body;
        const doc: VolumeStateDoc = { id: v.id, app: v.app, host, ...figures, ...(error === undefined ? {} : { error }), updated_at: new Date(ctx.clock.now()).toISOString() };
        await store.put(VOLUME_STATES_COLLECTION, volumeKey(v.app, v.id), doc);
        return json(200, doc);
      },
    }),
  ];
}


/** GB of `host` that volumes do not take yet. */
function freeGb(host: HostDoc | undefined, volumes: readonly VolumeDoc[]): number {
  if (!host) return 0;
  return (host.capacity.volume_gb ?? 0) - volumes.reduce((sum, v) => sum + (v.host === host.id ? v.size_gb : 0), 0);
}

/**
 * Makes the volumes named `name` that `asks` ask for — `count` of `size_gb` in each region, each on
 * the healthy host with room that holds fewest of the app's volumes, then the most room — all in
 * one transaction, or none: 400 ERR_NO_CAPACITY naming the size that fits when they do not all
 * fit. From a snapshot: on its host only.
 */
export async function makeVolumes(ctx: ApiContext, app: string, name: string, asks: readonly { region: string; size_gb: number; count: number }[], snapshot?: VolumeSnapshotDoc): Promise<VolumeDoc[]> {
  const { store } = ctx;
  const allHosts = (await store.list('hosts')).map((e) => e.value as HostDoc).filter((h) => h.healthy !== false && (snapshot === undefined || h.id === snapshot.host));
  const volumes = (await store.list(VOLUMES)).map((e) => e.value as VolumeDoc);
  const made: VolumeDoc[] = [];
  for (const o of asks) {
    const hosts = allHosts.filter((h) => h.region === o.region);
    for (let i = 0; i < o.count; i++) {
      const all = [...volumes, ...made];
      const free = (h: HostDoc): number => freeGb(h, all);
      const mine = (h: HostDoc): number => all.filter((v) => v.host === h.id && v.app === app).length;
      const host = hosts.filter((h) => free(h) >= o.size_gb).sort((a, b) => mine(a) - mine(b) || free(b) - free(a) || a.id.localeCompare(b.id))[0];
      if (!host) {
        const most = Math.max(0, ...hosts.map(free));
        const many = o.count > 1 ? ` (${o.count} volumes of ${o.size_gb} GB asked for, ${i} fit)` : '';
        throw new HttpError(400, 'ERR_NO_CAPACITY', hosts.length === 0
          ? `region ${o.region} has no healthy host for a volume`
          : `no host in ${o.region}${snapshot ? ` (the snapshot's host ${snapshot.host})` : ''} has ${o.size_gb} GB free for volumes${many} (the most any has: ${most} GB)`, [{ path: 'size_gb', message: `at most ${most} GB fits in ${o.region} now` }]);
      }
      made.push({ id: `vol_${randomBytes(7).toString('hex')}`, name, app, region: o.region, host: host.id, size_gb: o.size_gb, created_at: new Date(ctx.clock.now()).toISOString(), ...(snapshot ? { snapshot: snapshot.id } : {}) });
    }
  }
  if (made.length > 0) await store.transaction(made.map((v) => ({ op: 'put' as const, collection: VOLUMES, key: volumeKey(app, v.id), value: v, expectRevision: 0 })));
  for (const v of made) ctx.logger.info('volume created', { app, volume: v.id, name: v.name, host: v.host, size_gb: v.size_gb, snapshot: v.snapshot ?? null });
  return made;
}

/**
 * As fly's deploy and scale do: the volumes named `name` that `perRegion` machines need and the
 * app lacks (one per machine), made at `size_gb` ([mounts] initial_size) before the machines are
 * placed — every region's or none. Returns what was made.
 */
export async function volumesForMachines(ctx: ApiContext, app: string, name: string, size_gb: number, perRegion: Readonly<Record<string, number>>): Promise<VolumeDoc[]> {
  const have = (await ctx.store.list(VOLUMES, { prefix: `${app}.` })).map((e) => e.value as VolumeDoc).filter((v) => v.name === name);
  const asks = Object.entries(perRegion).map(([region, n]) => ({ region, size_gb, count: n - have.filter((v) => v.region === region).length })).filter((a) => a.count > 0);
  return makeVolumes(ctx, app, name, asks);
}
