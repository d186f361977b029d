import { RttTable } from '../../shared/index.js';
import { staticPrefixKey } from '../../contract/index.js';
import type { AppHeaders, AppSpec, RoutesSpec } from './types.js';
import type { AppRoute, LoadCell, MachineRoute } from './compiled.js';
import { TcpTable } from './tcp-table.js';

export class LoadRegistry {
  private readonly cells = new Map<string, LoadCell>();
  cell(key: string): LoadCell {
    let c = this.cells.get(key);
    if (!c) {
      c = { inflight: 0 };
      this.cells.set(key, c);
    }
    return c;
  }
  /** Drops cells of machines that are gone and idle, so the map does not grow forever. */
  prune(live: ReadonlySet<string>): void {
    for (const [k, c] of this.cells) if (!live.has(k) && c.inflight === 0) this.cells.delete(k);
  }
}

export class RouteTable {
  readonly apps: ReadonlyMap<string, AppRoute>;
  readonly rtt: RttTable;
  /** Raw TCP services by public port (tcp-table.ts). */
  readonly tcp: TcpTable;
  private readonly exact = new Map<string, AppRoute>();
  private readonly wildcard = new Map<string, AppRoute>();

  constructor(spec: RoutesSpec, loads: LoadRegistry = new LoadRegistry()) {
    this.rtt = new RttTable();
    for (const [a, row] of Object.entries(spec.rtt ?? {})) {
      for (const [b, ms] of Object.entries(row)) this.rtt.withMeasured(a, b, ms);
    }
    const apps = new Map<string, AppRoute>();
    const live = new Set<string>();
    for (const a of spec.apps) {
      const app = compileApp(a, loads, this.rtt);
      apps.set(app.name, app);
      for (const m of app.machines) live.add(m.key);
      for (const h of app.hostnames) {
        if (h.startsWith('*.')) this.wildcard.set(h.slice(2), app);
        else this.exact.set(h, app);
      }
    }
    this.apps = apps;
    this.tcp = new TcpTable(spec.tcp_services ?? [], (a) => compileApp(a, loads, this.rtt));
    for (const r of this.tcp.routes) for (const m of r.service.machines) live.add(m.key);
    loads.prune(live);
  }

  /**
   * The app for a Host header value: exact name first, then a `*.` wildcard one label up.
   * The port and a trailing dot are ignored; names compare case-insensitively.
   */
  lookupHost(hostHeader: string): AppRoute | undefined {
    let h = hostHeader;
    if (h.charCodeAt(0) === 91 /* [ */) {
      const close = h.indexOf(']');
      h = close < 0 ? h : h.slice(0, close + 1);
    } else {
      const colon = h.indexOf(':');
      if (colon >= 0) h = h.slice(0, colon);
    }
    if (h.endsWith('.')) h = h.slice(0, -1);
    h = h.toLowerCase();
    const hit = this.exact.get(h);
    if (hit) return hit;
    const dot = h.indexOf('.');
    return dot < 0 ? undefined : this.wildcard.get(h.slice(dot + 1));
  }

  machineCount(): number {
    let n = 0;
    for (const a of this.apps.values()) n += a.machines.length;
    return n;
  }

  /** Whether the app's machine may receive traffic (through its HTTP route or a TCP service). */
  usable(app: string, id: string): boolean {
    if (this.apps.get(app)?.byId.get(id)?.usable) return true;
    return this.tcp.routes.some((r) => r.service.name === app && r.service.byId.get(id)?.usable === true);
  }

  /**
   * The routes autostop looks at: every HTTP app, and the TCP services of apps without one (an app
   * with both is stopped by its HTTP route, whose load cells count the TCP connections too).
   */
  autoscaled(): AppRoute[] {
    const out = [...this.apps.values()];
    for (const r of this.tcp.routes) if (!this.apps.has(r.service.name) && !out.some((a) => a.name === r.service.name)) out.push(r.service);
    return out;
  }
}

function compileApp(spec: AppSpec, loads: LoadRegistry, rtt: RttTable): AppRoute {
  const machines: MachineRoute[] = [];
  const byRegion = new Map<string, MachineRoute[]>();
  const byId = new Map<string, MachineRoute>();
  const regionCache = new Map<string, readonly string[]>();
  const app: AppRoute = {
    name: spec.name,
    hostnames: spec.hostnames.map((h) => h.toLowerCase()),
    primaryRegion: spec.primary_region,
    forceHttps: spec.force_https === true,
    responseHeaders: compileHeaders(spec.response_headers),
    h2Backend: spec.h2_backend === true,
    idleTimeoutMs: spec.idle_timeout === undefined ? undefined : spec.idle_timeout * 1000,
    statics: (spec.statics ?? [])
      .map((s) => ({ urlPrefix: staticPrefixKey(s.url_prefix), guestPath: s.guest_path, indexDocument: s.index_document }))
      .sort((a, b) => b.urlPrefix.length - a.urlPrefix.length),
    autoStart: spec.service.auto_start_machines ?? true,
    autoStop: spec.service.auto_stop_machines ?? 'off',
    minMachinesRunning: spec.service.min_machines_running ?? 0,
    concurrencyType: spec.service.concurrency.type,
    softLimit: spec.service.concurrency.soft_limit,
    hardLimit: spec.service.concurrency.hard_limit ?? Number.POSITIVE_INFINITY,
    machines,
    byRegion,
    byId,
    regionsFrom(edge: string): readonly string[] {
      let order = regionCache.get(edge);
      if (!order) {
        order = rtt.nearestFirst(edge, byRegion.keys());
        regionCache.set(edge, order);
      }
      return order;
    },
  };
  for (const m of spec.machines) {
    const key = `${spec.name}/${m.id}`;
    const route: MachineRoute = {
      key,
      id: m.id,
      app,
      region: m.region,
      address: m.address,
      port: m.port ?? spec.service.internal_port,
      state: m.state,
      healthy: m.healthy,
      usable: m.state === 'started' && m.healthy,
      peer: m.peer === true,
      load: loads.cell(key),
    };
    machines.push(route);
    byId.set(m.id, route);
    const list = byRegion.get(m.region);
    if (list) list.push(route);
    else byRegion.set(m.region, [route]);
  }
  return app;
}

function compileHeaders(h: Record<string, string | null> | undefined): AppHeaders | undefined {
  if (h === undefined || Object.keys(h).length === 0) return undefined;
  const set: [string, string][] = [];
  for (const [name, value] of Object.entries(h)) if (value !== null) set.push([name, value]);
  return { set, drop: new Set(Object.keys(h)) };
}
