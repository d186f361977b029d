/**
 * The proxy's routing view from the control plane's documents (the synced view, cached on disk, so
 * it works while the control plane is down). Pure: the same view and local machines give the same
 * routes.
 *
 * Every app with a deployed release (deployedRelease) whose config has an HTTP service is served at
 * `<app>.<apps_domain>`, with the service's settings (internal port, concurrency, autostart and
 * autostop). Its machines are this host's machines of the app (private addresses, from the
 * MachineManager) and the other hosts' machines that report `started` and healthy, addressed at
 * their host's proxy, which delivers the request to its own machine. For an app that autostarts,
 * the other hosts' `stopped` and `suspended` machines are there too (not usable): a request that
 * finds no started machine, in a region only those have, goes to their host, whose proxy starts one.
 * A deploy's release command machine (a role, contract/documents.ts) is never among them, nor is
 * a cordoned machine (`cordoned` in its placement: the platform Machines API), on every host, its
 * own too: it keeps running, and no proxy routes to it or autostarts it. A service's machines are
 * those of the process groups it serves only (`servedBy` below).
 */
import { groupOf, httpServiceOf, isAppMachine, releaseAppConfig, serves, tcpServicesOf, type AppConfig, type ServiceConfig, type AppDoc, type HostDoc, type HostnameDoc, type MachineDoc, type MachineStateDoc, type ReleaseDoc } from '../contract/index.js';
import type { AppSpec, MachineSpec, RoutesSpec, ServiceSpec, TcpHandler, TcpServiceSpec } from '../proxy/index.js';
import { describeError } from '../shared/index.js';
import type { SyncView } from './sync-cache.js';

export interface ControlRoutesInput {
  view: SyncView;
  /** This host's id: its own machines come from `local`, never from the reported states. */
  hostId: string;
  appsDomain: string;
  /** This host's machines of an app, as the routes file describes them (MachineManager.routesFor). */
  local: (app: string) => MachineSpec[];
}

export interface ControlRoutes {
  apps: AppSpec[];
  /** The apps' TCP services (`[[services]]` ports without the `http` handler) and UDP services, same machines. */
  tcp: TcpServiceSpec[];
  /** Apps left out because their release config does not parse (the caller logs them). */
  problems: { app: string; message: string }[];
}

/** Other hosts' machines in these states are routed, unusable, for autostart to wake (see above). */
const WAKEABLE = new Set(['stopped', 'suspended']);

const releaseKey = (app: string, version: number): string => `${app}.${String(version).padStart(8, '0')}`;

/** A release config parses the same every time: parsed once per document object (the contract's cache). */
function configOf(release: ReleaseDoc): AppConfig | Error {
  try {
    return releaseAppConfig(release.config, `release ${release.version} of app ${release.app}`);
  } catch (e) {
    return new Error(describeError(e));
  }
}

function docs<T>(view: SyncView, collection: string): T[] {
  return [...(view.documents.get(collection)?.values() ?? [])] as T[];
}

/** `IP:PORT` (IPv6 in brackets) → address and port; undefined when it is not one. */
export function splitAddress(s: string | undefined): { address: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|(\d{1,3}(?:\.\d{1,3}){3})):(\d{1,5})$/.exec(s ?? '');
  const port = Number(m?.[3]);
  return m && port >= 1 && port <= 65535 ? { address: (m[1] ?? m[2])!, port } : undefined;
}

/**
 * The release whose service settings route an app: its deployed release (the last deploy that
 * succeeded); before the first one succeeds, the newest release its machines were placed with.
 * Undefined for an app with neither: it is not routed.
 */
export function deployedRelease(view: SyncView, app: AppDoc): ReleaseDoc | undefined {
  let version = app.deployed_release ?? 0;
  if (!version) {
    for (const m of docs<MachineDoc>(view, 'machines')) if (m.app === app.name && isAppMachine(m)) version = Math.max(version, m.release);
  }
  if (!version) return undefined;
  return view.documents.get('releases')?.get(releaseKey(app.name, version)) as ReleaseDoc | undefined;
}

/**
 * Process groups (contract/process-groups.ts): whether the machine `id` of `app` is in a group
 * `service` serves. A machine's group is in its placement (the view's `machines`); one without a
 * placement (made through the local Machines API, or already removed) is in `app`, fly's default.
 */
function servedBy(view: SyncView): (service: Pick<ServiceConfig, 'processes'>, app: string, id: string) => boolean {
  const groups = new Map(docs<MachineDoc>(view, 'machines').map((m) => [`${m.app}.${m.id}`, groupOf(m)]));
  return (service, app, id) => serves(service, groups.get(`${app}.${id}`) ?? groupOf({}));
}

/**
 * Where this host's proxy reaches another host's: at its mesh address and backhaul port when both
 * hosts are on the mesh (the request travels inside WireGuard), else at its `proxy` address on the
 * underlay, in plaintext (a host not on the mesh, or an agent from before the backhaul moved).
 */
export function backhaulOf(self: HostDoc | undefined): (peer: HostDoc) => { address: string; port: number } | undefined {
  const onMesh = self?.mesh?.backhaul_port !== undefined;
  return (peer) => {
    const m = peer.mesh;
    if (onMesh && m?.backhaul_port !== undefined) return { address: m.address.split('/')[0]!, port: m.backhaul_port };
    return splitAddress(peer.proxy);
  };
}

export function controlRoutes(i: ControlRoutesInput): ControlRoutes {
  const served = servedBy(i.view);
  const hosts = new Map(docs<HostDoc>(i.view, 'hosts').map((h) => [h.id, h]));
  const peerAt = backhaulOf(hosts.get(i.hostId));
  // A deploy's release command machine is never routed, nor woken (MachineDoc.role).
  // Nor is a cordoned one: both are hidden from every proxy.
  const tasks = new Set(docs<MachineDoc>(i.view, 'machines').filter((m) => !isAppMachine(m) || m.cordoned === true).map((m) => `${m.app}.${m.id}`));
  const states = new Map<string, MachineStateDoc[]>();
  for (const s of docs<MachineStateDoc>(i.view, 'machine_states')) {
    if (s.host === i.hostId || !((s.state === 'started' && s.healthy) || WAKEABLE.has(s.state))) continue;
    if (!isAppMachine(s) || tasks.has(`${s.app}.${s.id}`)) continue;
    states.set(s.app, [...(states.get(s.app) ?? []), s]);
  }
  // Custom domains (`certs add`): each belongs to one app and is routed at every PoP.
  const custom = new Map<string, string[]>();
  for (const h of docs<HostnameDoc>(i.view, 'hostnames')) custom.set(h.app, [...(custom.get(h.app) ?? []), h.hostname]);
  const apps: AppSpec[] = [];
  const tcpServices: TcpServiceSpec[] = [];
  const problems: ControlRoutes['problems'] = [];
  for (const app of docs<AppDoc>(i.view, 'apps').sort((a, b) => a.name.localeCompare(b.name))) {
    const release = deployedRelease(i.view, app);
    if (!release) continue;
    const config = configOf(release);
    if (config instanceof Error) {
      problems.push({ app: app.name, message: config.message });
      continue;
    }
    const http = httpServiceOf(config);
    const tcp = tcpServicesOf(config);
    const udp = config.services.filter((s) => s.protocol === 'udp' && s.ports.length > 0);
    if (!http && tcp.length === 0 && udp.length === 0) continue;
    const local = i.local(app.name).filter((m) => !tasks.has(`${app.name}.${m.id}`));
    // Other hosts' machines, at their proxies; stopped ones only for a service that autostarts.
    const remote = (autoStart: boolean): MachineSpec[] => {
      const out: MachineSpec[] = [];
      for (const s of states.get(app.name) ?? []) {
        const host = hosts.get(s.host);
        const at = host && peerAt(host);
        // A host the control plane has not heard from is left alone, whatever its last reports said.
        if (!at || host?.healthy === false || local.some((m) => m.id === s.id)) continue;
        const started = s.state === 'started';
        if (!started && !autoStart) continue;
        const region = s.region === 'unknown' ? (host?.region ?? s.region) : s.region;
        out.push({ id: s.id, region, address: at.address, port: at.port, state: started ? 'started' : s.state, healthy: started, peer: true });
      }
      return out.sort((a, b) => a.id.localeCompare(b.id));
    };
    // Process groups: a service's machines are its groups' only.
    const mine = (s: ServiceConfig, list: MachineSpec[]): MachineSpec[] => list.filter((m) => served(s, app.name, m.id));
    const primary = config.primary_region ?? app.primary_region;
    const scaling = (s: ServiceConfig): ServiceSpec => ({
      internal_port: s.internal_port,
      concurrency: { ...s.concurrency },
      auto_start_machines: s.auto_start_machines,
      auto_stop_machines: s.auto_stop_machines,
      min_machines_running: s.min_machines_running,
    });
    if (http) {
      apps.push({
        name: app.name,
        hostnames: [`${app.name}.${i.appsDomain}`, ...(custom.get(app.name) ?? []).sort()],
        primary_region: primary,
        force_https: http.ports.some((p) => p.force_https),
        ...(http.response_headers ? { response_headers: http.response_headers } : {}),
        ...(http.h2_backend ? { h2_backend: true } : {}),
        ...(http.idle_timeout_s !== undefined ? { idle_timeout: http.idle_timeout_s } : {}),
        ...(config.statics.length > 0 ? { statics: config.statics.map((s) => ({ ...s })) } : {}),
        service: scaling(http),
        machines: mine(http, [...local, ...remote(http.auto_start_machines)]),
      });
    }
    for (const { service, ports } of tcp) {
      tcpServices.push({
        app: app.name,
        primary_region: primary,
        ports: ports.map((p) => ({
          start_port: p.start_port,
          end_port: p.end_port,
          handlers: p.handlers.filter((h): h is TcpHandler => h !== 'http'),
          ...(p.proxy_proto_version ? { proxy_proto_version: p.proxy_proto_version } : {}),
          ...(p.alpn ? { alpn: p.alpn } : {}),
        })),
        service: scaling(service),
        // A local machine's own port is its HTTP port: the TCP service connects to internal_port.
        machines: mine(service, [...local.map((m) => ({ ...m, port: undefined })), ...remote(service.auto_start_machines)]),
      });
    }
    for (const service of udp) {
      tcpServices.push({
        app: app.name,
        protocol: 'udp',
        primary_region: primary,
        ports: service.ports.map((p) => ({ start_port: p.start_port, end_port: p.end_port, handlers: [] })),
        service: scaling(service),
        machines: mine(service, [...local.map((m) => ({ ...m, port: undefined })), ...remote(service.auto_start_machines)]),
      });
    }
  }
  return { apps, tcp: tcpServices, problems };
}

/**
 * The routes file's apps with the control plane's added. The file wins a clash: a control-plane
 * app with the name or a hostname of a file app is left out, and so is a control-plane TCP service
 * with a public port a file service has.
 */
export function mergeControlRoutes(fromFile: RoutesSpec, control: readonly AppSpec[], tcp: readonly TcpServiceSpec[] = []): RoutesSpec {
  const names = new Set(fromFile.apps.map((a) => a.name));
  const hostnames = new Set(fromFile.apps.flatMap((a) => a.hostnames));
  const added = control.filter((a) => !names.has(a.name) && !a.hostnames.some((h) => hostnames.has(h)));
  const fileTcp = fromFile.tcp_services ?? [];
  const taken = (proto: string, lo: number, hi: number): boolean => fileTcp.some((t) => (t.protocol ?? 'tcp') === proto && t.ports.some((p) => lo <= p.end_port && p.start_port <= hi));
  const addedTcp = tcp.filter((t) => !t.ports.some((p) => taken(t.protocol ?? 'tcp', p.start_port, p.end_port)));
  return { ...fromFile, apps: [...fromFile.apps, ...added], ...(fileTcp.length + addedTcp.length > 0 ? { tcp_services: [...fileTcp, ...addedTcp] } : {}) };
}
