/**
 * Volume snapshots (fly's `fly volumes snapshots`; docs/volumes.md): a volume's files at one moment,
 * kept on the volume's host, listed by volume (also once the volume is destroyed), restored into a
 * new volume with `POST /v1/apps/{app}/volumes` and `snapshot_id`. The host's agent takes each one
 * (its filesystem frozen while its image is copied) and reports it under `snapshot_states`.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { SNAPSHOT_ID_RE, VOLUME_ID_RE, volumeKey, type VolumeDoc, type VolumeSnapshotDoc } from '../../contract/index.js';
import { asHost } from './agents.js';
import { getApp } from './apps.js';
import { HttpError, json, route, type Route } from './http.js';
import type { ApiContext } from './schemas.js';

export const SNAPSHOTS = 'volume_snapshots';
export const SNAPSHOT_STATES = 'snapshot_states';

export interface SnapshotStateDoc {
  id: string;
  app: string;
  host: string;
  state: 'ready' | 'failed';
  /** What the copy takes on its host's disk. */
  stored_bytes: number;
  error?: string;
  updated_at: string;
}

export interface SnapshotView extends VolumeSnapshotDoc {
  state: 'pending' | 'ready' | 'failed';
  stored_bytes: number | null;
  error: string | null;
}

const ReportSnapshot = z.strictObject({ state: z.enum(['ready', 'failed']), stored_bytes: z.number().int().min(0), error: z.string().max(500).optional() });

export async function snapshotView(ctx: ApiContext, s: VolumeSnapshotDoc): Promise<SnapshotView> {
  const r = (await ctx.store.get(SNAPSHOT_STATES, volumeKey(s.app, s.id)))?.value as SnapshotStateDoc | undefined;
  return { ...s, state: r?.state ?? 'pending', stored_bytes: r?.stored_bytes ?? null, error: r?.error ?? null };
}

/** The snapshot `id` of `app`, or 404. */
export async function findSnapshot(ctx: ApiContext, app: string, id: string): Promise<VolumeSnapshotDoc> {
  const doc = SNAPSHOT_ID_RE.test(id) ? ((await ctx.store.get(SNAPSHOTS, volumeKey(app, id)))?.value as VolumeSnapshotDoc | undefined) : undefined;
  if (!doc) throw new HttpError(404, 'ERR_SNAPSHOT_NOT_FOUND', `app ${app} has no snapshot ${JSON.stringify(id.slice(0, 40))}`);
  return doc;
}

export function snapshotRoutes(ctx: ApiContext): Route[] {
  const { store } = ctx;
  return [
    route({
      method: 'POST',
      path: '/v1/apps/{app}/volumes/{id}/snapshots',
      access: 'deploy',
      summary: "Take a snapshot of a volume: its host copies it as it is at this moment (pending until done)",
      responses: { '201': 'the snapshot', '404': 'ERR_VOLUME_NOT_FOUND' },
      async handler({ params }) {
        const app = (await getApp(ctx, params.app!)).value;
        const id = params.id!;
        const v = VOLUME_ID_RE.test(id) ? ((await store.get('volumes', volumeKey(app.name, id)))?.value as VolumeDoc | undefined) : undefined;
        if (!v) throw new HttpError(404, 'ERR_VOLUME_NOT_FOUND', `app ${app.name} has no volume ${JSON.stringify(id.slice(0, 40))}`);
        const doc: VolumeSnapshotDoc = { id: `vs_${randomBytes(7).toString('hex')}`, app: app.name, volume: v.id, host: v.host, region: v.region, size_gb: v.size_gb, created_at: new Date(ctx.clock.now()).toISOString() };
        await store.put(SNAPSHOTS, volumeKey(app.name, doc.id), doc, { expectRevision: 0 });
        ctx.logger.info('snapshot asked for', { app: app.name, volume: v.id, snapshot: doc.id, host: v.host });
        return json(201, await snapshotView(ctx, doc));
      },
    }),
    route({
      method: 'GET',
      path: '/v1/apps/{app}/volumes/{id}/snapshots',
      access: 'read',
      summary: "A volume's snapshots, newest last (also once the volume is destroyed)",
      responses: { '200': '{ snapshots: [...] }', '404': 'ERR_APP_NOT_FOUND' },
      async handler({ params }) {
        const app = (await getApp(ctx, params.app!)).value;
        const mine = (await store.list(SNAPSHOTS, { prefix: `${app.name}.` })).map((e) => e.value as VolumeSnapshotDoc).filter((s) => s.volume === params.id);
        mine.sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
        return json(200, { snapshots: await Promise.all(mine.map((s) => snapshotView(ctx, s))) });
      },
    }),
    route({
      method: 'PUT',
      path: '/v1/hosts/{host}/apps/{app}/snapshots/{id}/state',
      access: 'host',
      summary: 'An agent reports a snapshot it took (or why it could not)',
      requestSchema: ReportSnapshot,
      responses: { '200': 'the stored report', '403': 'a snapshot of another host', '404': 'ERR_SNAPSHOT_NOT_FOUND' },
      async handler({ params, body, principal }) {
        const { host } = asHost(principal, params.host!);
        const s = await findSnapshot(ctx, params.app!, params.id!);
        if (s.host !== host) throw new HttpError(403, 'ERR_FORBIDDEN', `snapshot ${s.id} is on host ${s.host}, not ${host}`);
        const { error, ...rest } = body;
        const doc: SnapshotStateDoc = { id: s.id, app: s.app, host, ...rest, ...(error === undefined ? {} : { error }), updated_at: new Date(ctx.clock.now()).toISOString() };
        await store.put(SNAPSHOT_STATES, volumeKey(s.app, s.id), doc);
        return json(200, doc);
      },
    }),
  ];
}
