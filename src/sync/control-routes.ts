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
 * A cordoned machine (`cordoned` in its placement: the platform Machines API) is left out on every
 * host, its own too: it keeps running, and no proxy routes to it or autostarts it.
 */
import { httpServiceOf, parseAppConfigDocument, type AppConfig, type AppDoc, type HostDoc, type HostnameDoc, type MachineDoc, type MachineStateDoc, type ReleaseDoc } from '../contract/index.js';
import type { AppSpec, MachineSpec, RoutesSpec } from '../proxy/index.js';
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
  /** Apps left out because their release config does not parse (the caller logs them). */
  problems: { app: string; message: string }[];
}

/** Other hosts' machines in these states are routed, unusable, for autostart to wake (see above). */
const WAKEABLE = new Set(['stopped', 'suspended']);

const releaseKey = (app: string, version: number): string => `${app}.${String(version).padStart(8, '0')}`;

/** A release config parses the same every time: parsed once per document object. */
const parsed = new WeakMap<object, AppConfig | Error>();
function configOf(release: ReleaseDoc): AppConfig | Error {
  let c = parsed.get(release);
  if (!c) {
    try {
      c = parseAppConfigDocument(release.config, `release ${release.version} of app ${release.app}`).config;
    } catch (e) {
      c = new Error(describeError(e));
    }
    parsed.set(release, c);
  }
  return c;
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
    for (const m of docs<MachineDoc>(view, 'machines')) if (m.app === app.name) version = Math.max(version, m.release);
  }
  if (!version) return undefined;
  return view.documents.get('releases')?.get(releaseKey(app.name, version)) as ReleaseDoc | undefined;
}

export function controlRoutes(i: ControlRoutesInput): ControlRoutes {
  const hosts = new Map(docs<HostDoc>(i.view, 'hosts').map((h) => [h.id, h]));
  const cordoned = new Set(docs<MachineDoc>(i.view, 'machines').filter((m) => m.cordoned === true).map((m) => `${m.app}.${m.id}`));
  const states = new Map<string, MachineStateDoc[]>();
  for (const s of docs<MachineStateDoc>(i.view, 'machine_states')) {
    if (s.host === i.hostId || cordoned.has(`${s.app}.${s.id}`) || !((s.state === 'started' && s.healthy) || WAKEABLE.has(s.state))) continue;
    states.set(s.app, [...(states.get(s.app) ?? []), s]);
  }
  // Custom domains (`certs add`): each belongs to one app and is routed at every PoP.
  const custom = new Map<string, string[]>();
  for (const h of docs<HostnameDoc>(i.view, 'hostnames')) custom.set(h.app, [...(custom.get(h.app) ?? []), h.hostname]);
  const apps: AppSpec[] = [];
  const problems: ControlRoutes['problems'] = [];
  for (const app of docs<AppDoc>(i.view, 'apps').sort((a, b) => a.name.localeCompare(b.name))) {
    const release = deployedRelease(i.view, app);
    if (!release) continue;
    const config = configOf(release);
    if (config instanceof Error) {
      problems.push({ app: app.name, message: config.message });
      continue;
    }
    const service = httpServiceOf(config);
    if (!service) continue;
    const local = i.local(app.name).filter((m) => !cordoned.has(`${app.name}.${m.id}`));
    const remote: MachineSpec[] = [];
    for (const s of states.get(app.name) ?? []) {
      const host = hosts.get(s.host);
      const at = splitAddress(host?.proxy);
      // A host the control plane has not heard from is left alone, whatever its last reports said.
      if (!at || host?.healthy === false || local.some((m) => m.id === s.id)) continue;
      const started = s.state === 'started';
      if (!started && !service.auto_start_machines) continue;
      const region = s.region === 'unknown' ? (host?.region ?? s.region) : s.region;
      remote.push({ id: s.id, region, address: at.address, port: at.port, state: started ? 'started' : s.state, healthy: started, peer: true });
    }
    apps.push({
      name: app.name,
      hostnames: [`${app.name}.${i.appsDomain}`, ...(custom.get(app.name) ?? []).sort()],
      primary_region: config.primary_region ?? app.primary_region,
      force_https: service.ports.some((p) => p.force_https),
      ...(service.response_headers ? { response_headers: service.response_headers } : {}),
      service: {
        internal_port: service.internal_port,
        concurrency: { ...service.concurrency },
        auto_start_machines: service.auto_start_machines,
        auto_stop_machines: service.auto_stop_machines,
        min_machines_running: service.min_machines_running,
      },
      machines: [...local, ...remote.sort((a, b) => a.id.localeCompare(b.id))],
    });
  }
  return { apps, problems };
}

/**
 * The routes file's apps with the control plane's added. The file wins a clash: a control-plane
 * app with the name or a hostname of a file app is left out.
 */
export function mergeControlRoutes(fromFile: RoutesSpec, control: readonly AppSpec[]): RoutesSpec {
  const names = new Set(fromFile.apps.map((a) => a.name));
  const hostnames = new Set(fromFile.apps.flatMap((a) => a.hostnames));
  const added = control.filter((a) => !names.has(a.name) && !a.hostnames.some((h) => hostnames.has(h)));
  return { ...fromFile, apps: [...fromFile.apps, ...added] };
}
