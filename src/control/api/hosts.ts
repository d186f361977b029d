/** Hosts (agents register themselves; an upsert) and the regions that have hosts. */
import { findRegion } from '../../shared/index.js';
import { json, route, type Route } from './http.js';
import { RegisterHost, type ApiContext, type HostDoc } from './schemas.js';

export function hostRoutes(ctx: ApiContext): Route[] {
  const { store } = ctx;
  return [
    route({
      method: 'POST',
      path: '/v1/hosts',
      summary: 'Register a host (agents call it at start and whenever their capacity changes; upsert)',
      auth: 'agent',
      requestSchema: RegisterHost,
      responses: { '200': 'the host, updated', '201': 'the host, new', '400': 'invalid body' },
      async handler({ body }) {
        const at = new Date(ctx.clock.now()).toISOString();
        const old = await store.get('hosts', body.id);
        ctx.hostHealth?.seen(body.id);
        const doc: HostDoc = { ...body, healthy: true, last_seen: at, registered_at: (old?.value as HostDoc | undefined)?.registered_at ?? at, updated_at: at };
        await store.put('hosts', body.id, doc);
        if (!old) ctx.logger.info('host registered', { host: body.id, region: body.region });
        return json(old ? 200 : 201, doc);
      },
    }),
    route({
      method: 'GET',
      path: '/v1/hosts',
      summary: 'List hosts',
      responses: { '200': '{ hosts: [...] }' },
      async handler() {
        return json(200, { hosts: (await store.list('hosts')).map((e) => e.value) });
      },
    }),
    route({
      method: 'GET',
      path: '/v1/regions',
      summary: 'List the regions that have hosts, with catalog coordinates and capacity',
      responses: { '200': '{ regions: [{ code, name, lat, lon, hosts, capacity: { machines } }] }' },
      async handler() {
        const byRegion = new Map<string, { hosts: number; machines: number }>();
        for (const e of await store.list('hosts')) {
          const h = e.value as HostDoc;
          const r = byRegion.get(h.region) ?? { hosts: 0, machines: 0 };
          r.hosts += 1;
          r.machines += h.capacity.machines;
          byRegion.set(h.region, r);
        }
        const regions = [...byRegion.entries()]
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([code, r]) => {
            const c = findRegion(code);
            return { code, name: c?.name ?? code, lat: c?.lat ?? null, lon: c?.lon ?? null, hosts: r.hosts, capacity: { machines: r.machines } };
          });
        return json(200, { regions });
      },
    }),
  ];
}
