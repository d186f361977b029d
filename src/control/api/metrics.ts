/**
 * `GET /metrics` on the control plane: Prometheus text for the platform's operator, read with the
 * metrics token (control.toml metrics_token_file: it opens this route and nothing else) or the
 * platform token. What is counted is in docs/metrics.md; the names follow the one scheme
 * (shared/metrics). Counts come from the store at scrape time, so every replica reports the same
 * platform; the HTTP counters are this process's own.
 */
import { type ConnectionGateStats } from '../../shared/index.js';
import { gauge, type Collector, type MetricFamily } from '../../shared/index.js';
import type { HostDoc, MachineDoc, MachineStateDoc } from '../../contract/index.js';
import { route, type Route } from './http.js';
import type { ApiContext } from './schemas.js';
import type { PlatformCertificates } from '../certs/index.js';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4';

export function metricsRoutes(ctx: ApiContext): Route[] {
  return [
    route({
      method: 'GET',
      path: '/metrics',
      access: 'metrics',
      summary: 'Prometheus metrics of the platform and of this API (the metrics token or the platform token)',
      responses: { '200': 'Prometheus text exposition (0.0.4)' },
      contentType: METRICS_CONTENT_TYPE,
      async handler() {
        const text = (await ctx.metrics?.text((e) => ctx.logger.error('a metrics collector failed', { error: String(e) }))) ?? '';
        return { status: 200, contentType: METRICS_CONTENT_TYPE, text };
      },
    }),
  ];
}

/** How many items share each set of labels, as gauge samples (sorted, so scrapes are stable). */
function counted(items: readonly Record<string, string>[]): { labels: Record<string, string>; value: number }[] {
  const by = new Map<string, { labels: Record<string, string>; value: number }>();
  for (const labels of items) {
    const key = JSON.stringify(labels);
    const got = by.get(key);
    if (got) got.value++;
    else by.set(key, { labels, value: 1 });
  }
  return [...by.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, v]) => v);
}

/** The platform as the store holds it now: apps, wanted machines, reported states, hosts, revision. */
export function platformCollector(ctx: Pick<ApiContext, 'store'>): Collector {
  return async (): Promise<MetricFamily[]> => {
    const [apps, machines, states, hosts, revision] = await Promise.all([
      ctx.store.list('apps'),
      ctx.store.list('machines'),
      ctx.store.list('machine_states'),
      ctx.store.list('hosts'),
      ctx.store.revision(),
    ]);
    return [
      gauge('starling_control_apps', 'Apps on the platform.', [{ value: apps.length }]),
      gauge('starling_control_machines', 'Machines the control plane wants, by region.', counted(machines.map((m) => ({ region: (m.value as MachineDoc).region })))),
      gauge('starling_control_machine_states', 'Machines by the state their host last reported.', counted(states.map((m) => ({ state: (m.value as MachineStateDoc).state })))),
      gauge(
        'starling_control_hosts',
        'Registered hosts, by region and whether they were heard from within the host timeout.',
        counted(hosts.map((h) => ({ region: (h.value as HostDoc).region, healthy: String((h.value as HostDoc).healthy !== false) }))),
      ),
      gauge('starling_control_store_revision', "The state store's latest revision (the feed's position).", [{ value: revision }]),
    ];
  };
}

/**
 * The platform's certificates: when each expires (alert well before it), and how many orders in a
 * row failed for each name the ACME client manages (0 once one succeeds).
 */
export function certificatesCollector(certs: PlatformCertificates): Collector {
  return async (): Promise<MetricFamily[]> => {
    const docs = await certs.store.docs();
    const failing = certs.manager.statuses();
    return [
      gauge(
        'starling_control_certificate_expiry_timestamp_seconds',
        'When each certificate expires (Unix seconds), by the name it is filed under and its source.',
        docs
          .map((d) => ({ labels: { hostname: d.hostname, source: d.source }, value: Math.floor(Date.parse(d.not_after) / 1000) }))
          .sort((a, b) => a.labels.hostname.localeCompare(b.labels.hostname) || a.labels.source.localeCompare(b.labels.source)),
      ),
      gauge(
        'starling_control_certificate_order_failures',
        'Failed orders in a row, by name the ACME client manages (0 once one succeeds).',
        failing.map((st) => ({ labels: { hostname: st.hostname }, value: st.failures })).sort((a, b) => a.labels.hostname.localeCompare(b.labels.hostname)),
      ),
    ];
  };
}

/** The API server's connection caps: open now, and refused since start by cap. */
export function connectionsCollector(stats: () => ConnectionGateStats): Collector {
  return (): MetricFamily[] => {
    const s = stats();
    return [
      gauge('starling_control_open_connections', 'Client connections open now.', [{ value: s.open }]),
      {
        name: 'starling_control_connections_refused_total',
        type: 'counter',
        help: 'Client connections closed when accepted because a connection cap was reached, by cap.',
        samples: [
          { labels: { reason: 'total' }, value: s.refusedTotal },
          { labels: { reason: 'per_address' }, value: s.refusedPerAddress },
        ],
      },
    ];
  };
}
