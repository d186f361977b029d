/**
 * The agent's link to the control plane (`[control]` in agent.toml): the synced view (ControlSync,
 * cached on disk), the reconciler that turns this host's placements into machines, the reporter of
 * their states, and the routes the proxy gets from the view. Opened before the proxy starts, so the
 * proxy's first routes already hold the cached view; started (host registration, feed) once the
 * agent's admin API listens.
 */
import { statfsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { RoutesSpec } from '../proxy/index.js';
import { describeError, trustingFetch, type Clock, type Logger } from '../shared/index.js';
import type { ControlSection } from './types.js';
import { ControlClient } from './control-client.js';
import { hostIdentity, savePeerKey, type HostIdentity } from './control-join.js';
import { controlRoutes, mergeControlRoutes } from './control-routes.js';
import type { MachineManager } from '../runtime/index.js';
import { Reconciler, type ReconcilerOptions } from './reconcile.js';
import { imageDefaults, pullImage, RegistryClient, type ImageStore } from '../images/index.js';
import { ViewCertStore } from './certificates.js';
import { cacheSealer } from './cache-key.js';
import { StateReporter } from './state-report.js';
import { ControlSync, type SyncHost, type SyncView } from './sync.js';

/**
 * What volumes may take of this host's disk when agent.toml does not say ([control]
 * volume_capacity_gb): 90 % of what is free where the agent keeps its state, in whole GB.
 */
function volumeRoomGb(stateDir: string, logger: Logger): number {
  try {
    const s = statfsSync(stateDir);
    return Math.floor((s.bavail * s.bsize * 0.9) / 1e9);
  } catch (e) {
    logger.warn('cannot read the free disk for volumes: none offered (set [control] volume_capacity_gb)', { dir: stateDir, error: describeError(e) });
    return 0;
  }
}

export interface ControlLinkOptions {
  control: ControlSection;
  region: string;
  /** This host's machines; undefined with runtime.driver = "none" (routes to other hosts only). */
  machines: MachineManager | undefined;
  /** `<runtime.data_dir>`: downloaded images go to `<data_dir>/images/downloads`. */
  dataDir: string;
  /** The host image store: OCI release images are pulled into it from the platform registry. */
  images?: ImageStore | undefined;
  /** The largest image this host pulls ([runtime] max_image_bytes). */
  maxImageBytes?: number | undefined;
  clock: Clock;
  logger: Logger;
  /** Called after every view change: the agent re-applies the proxy's routes. */
  onRoutesChange: () => void;
  /** Seconds a watch waits on the control plane (default 25). */
  pollTimeoutS?: number | undefined;
  /** This host serves HTTPS ([proxy] tls_listen): without it `force_https` is not applied (it would redirect to nothing). */
  servesHttps?: boolean | undefined;
  /** Registered with the host: its WireGuard public key and endpoint ([mesh]). */
  mesh?: { public_key: string; endpoint: string; backhaul_port: number } | undefined;
  /** Every view (the cached one first), after the routes: the mesh follows the host list (agent/mesh-link.ts). */
  onView?: ((view: SyncView, hostId: string) => void) | undefined;
  /**
   * This host's volumes (agent/volume-link.ts): each view reaches them before the machines, and a
   * machine that mounts one is made once its filesystem is mounted (`pathOf`).
   */
  volumes?: { onView(view: SyncView, hostId: string): void; pathOf(id: string): string | undefined } | undefined;
}

export interface ControlLink {
  sync: ControlSync;
  /** The control plane's API as this host (its credential). */
  client: ControlClient;
  reconciler: Reconciler | undefined;
  reporter: StateReporter;
  /** Who this host is to the control plane (its credential, never logged). */
  identity: HostIdentity;
  /**
   * The key this platform's proxies mark requests to each other with (src/proxy/core/peer.ts):
   * made by the control plane and handed to every host when it joins; undefined when it has none.
   */
  peerKey: string | undefined;
  /** The secret this agent chose: the control plane presents it to read machine logs (admin-api.ts). */
  agentSecret: string;
  /** The platform's certificates for this host's proxy, from the synced view (and its cache). */
  certificates: ViewCertStore;
  /** The routes file's apps plus the control plane's (the file wins a clash). */
  mergeRoutes(fromFile: RoutesSpec): RoutesSpec;
  /** Registers the host and follows the feed (in the background). */
  start(agentUrl: string): Promise<void>;
  /** Stops placing machines (call before the machines stop). */
  stopReconciler(): Promise<void>;
  /** Sends what states are pending for up to `flushMs`, then stops the feed. */
  stop(flushMs?: number): Promise<void>;
}

export async function openControlLink(o: ControlLinkOptions): Promise<ControlLink> {
  const c = o.control;
  const logger = o.logger.child({ component: 'control' });
  const identity = await hostIdentity(c, o.region, o.clock, logger);
  const token = identity.credential;
  const hostId = identity.host;
  // Every call checks the control plane's certificate: the pin from agent.toml, else the one the
  // join token carried, else a CA the system trusts must vouch for it.
  const doFetch = trustingFetch({ fingerprint: c.fingerprint ?? identity.fingerprint ?? undefined });
  const client = new ControlClient({ url: c.url, token, clock: o.clock, fetch: doFetch });
  const reporter = new StateReporter({ client, hostId, clock: o.clock, logger: logger.child({ component: 'state-report' }) });
  const reconciler =
    o.machines &&
    new Reconciler({
      hostId,
      machines: o.machines,
      client,
      reporter,
      downloadsDir: join(o.dataDir, 'images', 'downloads'),
      images: o.images && platformImages(c.url, token, doFetch, o.images, o.maxImageBytes),
      volumes: o.volumes,
      clock: o.clock,
      logger: logger.child({ component: 'reconcile' }),
    });
  const logged = new Set<string>();
  let view: SyncView | undefined;
  const certificates = new ViewCertStore(logger.child({ component: 'certificates' }));
  const sync = new ControlSync({
    url: c.url,
    token,
    fetch: doFetch,
    sealer: await cacheSealer(join(dirname(c.cache_file), 'cache.key'), logger),
    onRegistered: (answer) => {
      if (typeof answer.peer_key === 'string') void savePeerKey(c.credential_file, identity, answer.peer_key).catch((e: unknown) => logger.warn('new peer key not saved', { error: describeError(e) }));
    },
    cacheFile: c.cache_file,
    clock: o.clock,
    logger: logger.child({ component: 'sync' }),
    pollTimeoutS: o.pollTimeoutS,
    onChange: (v) => {
      view = v;
      certificates.update(v);
      o.volumes?.onView(v, hostId);
      reconciler?.update(v);
      o.onRoutesChange();
      o.onView?.(v, hostId);
    },
  });
  // The cached view, before anything asks the control plane: the data plane serves from it.
  await sync.load();

  const machines = o.machines;
  const mergeRoutes = (fromFile: RoutesSpec): RoutesSpec => {
    if (!view) return fromFile;
    const { apps, tcp, problems } = controlRoutes({ view, hostId, appsDomain: c.apps_domain, local: (app) => machines?.routesFor(app) ?? [] });
    if (o.servesHttps === false) {
      for (const a of apps) {
        if (!a.force_https) continue;
        a.force_https = false;
        if (logged.has(`${a.name}\0force_https`)) continue;
        logged.add(`${a.name}\0force_https`);
        logger.warn('the app asks for force_https, but this host has no HTTPS port ([proxy] tls_listen): serving it over plain HTTP instead of redirecting to nothing', { app: a.name });
      }
    }
    for (const p of problems) {
      if (logged.has(`${p.app}\0${p.message}`)) continue;
      logged.add(`${p.app}\0${p.message}`);
      logger.error('app left out of the routes: its release config is invalid', { app: p.app, error: p.message });
    }
    return mergeControlRoutes(fromFile, apps, tcp);
  };

  let stopped: Promise<void> | undefined;
  return {
    sync,
    client,
    reconciler,
    reporter,
    identity,
    peerKey: identity.peer_key ?? undefined,
    agentSecret: identity.agent_secret,
    certificates,
    mergeRoutes,
    start: async (agentUrl) => {
      const capacity = { machines: c.capacity.machines, volume_gb: c.capacity.volume_gb ?? volumeRoomGb(dirname(c.cache_file), logger) };
      const host: SyncHost = { id: hostId, region: o.region, capacity, agent_url: agentUrl, proxy: c.proxy_address, agent_secret: identity.agent_secret, mesh: o.mesh };
      await sync.start(host);
      logger.info('following the control plane', { url: c.url, host: hostId, proxy: c.proxy_address, apps_domain: c.apps_domain });
    },
    stopReconciler: async () => {
      await reconciler?.stop();
    },
    stop: (flushMs = 2000) => {
      stopped ??= (async () => {
        await reconciler?.stop();
        await reporter.stop(flushMs);
        reconciler?.close();
        await sync.stop();
      })();
      return stopped;
    },
  };
}

/**
 * Pulls from the platform registry (the control plane's /v2/, repository = the app) with this
 * host's credential, over the same checked TLS as every other call to the control plane.
 */
function platformImages(url: string, token: string, doFetch: typeof fetch, store: ImageStore, maxBytes: number | undefined): ReconcilerOptions['images'] {
  const u = new URL(url);
  const client = new RegistryClient({ fetch: doFetch, credentials: (host) => (host === u.host ? { username: 'host', password: token } : undefined), plainHttp: (host) => host === u.host && u.protocol === 'http:' });
  return {
    async pull(app, digest) {
      return imageDefaults(await pullImage(client, store, { registry: u.host, repository: app, digest }, { maxBytes }));
    },
  };
}
