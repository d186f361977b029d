import type { AddressInfo } from 'node:net';
import { Announcer, type AnnouncerOptions, type Probe } from '../announcer/index.js';
import { birdConfig, connectBirdControl } from '../announcer/index.js';
import { startStandalone, type RunningProxy } from '../proxy/index.js';
import { SystemClock, describeError, StarlingError, type Clock, type Logger } from '../shared/index.js';
import { MachineManager, makeDriver, type RuntimeDriver } from '../runtime/index.js';
import { openControlLink, type ControlLink } from '../sync/index.js';
import { openHostImages } from './images.js';
import { MemoryCertStore } from '../certs/index.js';
import { AdminApi, hostPort, loadOrCreateToken, machinesRoutes, portsCheckRoutes, meshStatusRoutes } from './admin/index.js';
import type { AgentConfig } from './config.js';
import { machineControl, mergeMachineRoutes } from './machine-routes.js';
import { ensureStateDir } from './state-dir.js';
import { anycastAddresses } from './addresses.js';
import { VolumeLink } from './volume-link.js';
import { VolumeStore } from '../volumes/index.js';
import { MeshLink } from './mesh-link.js';
import { PrivateDnsLink } from './private-dns-link.js';
import { privateDnsAddress } from '../mesh/index.js';
import { networkInterfaces } from 'node:os';

export interface AgentOptions {
  logger: Logger;
  clock?: Clock | undefined;
  /** Command prefix to run BIRD elsewhere, e.g. `['ip', 'netns', 'exec', 'pop1']` (the lab, tests). */
  wrap?: string[] | undefined;
  /** Replace the BIRD control connection (tests without BIRD). */
  connect?: AnnouncerOptions['connect'] | undefined;
  /** Replace the HTTP probe of announcer.health.url (tests). */
  probe?: Probe | undefined;
  /** Replace the runtime driver (tests); by default runtime.driver from the config. */
  driver?: RuntimeDriver | undefined;
  /** Seconds a control-plane watch waits for changes (default 25; tests shorten it). */
  controlPollTimeoutS?: number | undefined;
}

export interface RunningAgent {
  config: AgentConfig;
  proxy: RunningProxy;
  announcer: Announcer;
  /** This host's machines; undefined with runtime.driver = "none". */
  machines: MachineManager | undefined;
  /** The control plane's view, placements and state reports; undefined without `[control]`. */
  control: ControlLink | undefined;
  /** This host on the WireGuard mesh; undefined without `[mesh]`. */
  mesh: MeshLink | undefined;
  admin: AdminApi;
  /** Where the admin API listens (the port is known here when agent.admin_listen asked for 0). */
  adminAddress: { host: string; port: number };
  /** Stops everything in reverse start order: admin API, announcer (BIRD stops, so the sessions close and the routes go), then the proxy drains. */
  stop(): Promise<void>;
}

/** One started part and how to stop it; parts stop in reverse order (the runtime slots in later). */
interface Part {
  name: string;
  stop(): Promise<void>;
}

/**
 * Starts one host's agent: the proxy, the announcer that advertises the anycast prefixes while the
 * proxy passes its health check, and the admin API. A part that fails to start stops the ones
 * already running, so a failed start leaves no BIRD or socket behind.
 */
export async function startAgent(config: AgentConfig, o: AgentOptions): Promise<RunningAgent> {
  const logger = o.logger.child({ component: 'agent' });
  const clock = o.clock ?? new SystemClock();
  const parts: Part[] = [];
  const unwind = async (): Promise<void> => {
    for (const p of parts.splice(0).reverse()) {
      try {
        await p.stop();
      } catch (e) {
        logger.error(`stopping the ${p.name} failed`, { error: describeError(e) });
      }
    }
  };
  try {
    ensureStateDir(config.agent.state_dir);
    // The token first: a bad token_file fails the start before BIRD runs.
    const token = await loadOrCreateToken(config.agent.token_file, logger);

    // The runtime first, so the proxy starts with this host's machines in its routing view.
    const r = config.runtime;
    const images = r.driver === 'none' && !o.driver ? undefined : await openHostImages({ dataDir: r.data_dir, maxImageBytes: r.max_image_bytes, gcAfterMs: r.image_gc_after_ms, clock, logger: o.logger.child({ component: 'images' }) });
    const driver =
      o.driver ??
      (r.driver === 'none'
        ? undefined
        : makeDriver(r.driver, {
            dataDir: r.data_dir,
            bridge: r.bridge,
            network: r.network,
            // A machine may reach its host only at the proxy (its gateway address, this port).
            publicPorts: [hostPort(config.proxy.listen, 'proxy.listen').port],
            uidBase: r.uid_base,
            allowHostRoot: r.allow_host_root,
            // data_dir defaults to <state_dir>/machines, and state_dir is made 0700 with the token:
            // the machines' unprivileged uids must pass through it (o+x, never o+r).
            traversable: [config.agent.state_dir],
            rootfs: (image, uidShift) => images!.rootfs(image.digest, uidShift),
            clock,
            logger: o.logger.child({ component: r.driver }),
          }));
    if (o.driver && images) o.driver.useImages?.((image, uidShift) => images.rootfs(image.digest, uidShift));
    // What a previous agent on this state dir left behind (a crash) is removed before anything runs.
    await driver?.cleanupOrphans?.();
    const machines = driver
      ? new MachineManager({ driver, clock, logger: o.logger.child({ component: 'machines' }), region: config.agent.region, dataDir: config.runtime.data_dir, images })
      : undefined;
    if (images && machines) {
      images.startGc(() => machines.apps().flatMap((app) => machines.list(app).map((m) => m.image_ref.replace(/^oci:/, ''))));
      parts.push({ name: 'image store', stop: () => Promise.resolve(images.stop()) });
    }
    // The control plane's cached view is loaded before the proxy starts, so its routes are there
    // from the first request, whether or not the control plane answers. Stopped after the machines,
    // so their last states (stopped) are reported.
    let refresh = (): void => undefined;
    const mesh = config.mesh && (await MeshLink.open(config.mesh, clock, o.logger));
    if (mesh) parts.push({ name: 'mesh', stop: () => mesh.close() });
    // The machines' .internal DNS, at <prefix>::3 on the mesh interface (private-dns-link.ts).
    const dns = mesh && config.mesh && new PrivateDnsLink(clock, o.logger, config.mesh.dns_upstream);
    // This host's volumes (volume-link.ts): reported through the control link once it is open.
    const late: { control?: ControlLink | undefined } = {};
    const volumes =
      config.control && machines
        ? new VolumeLink(
            new VolumeStore({ dataDir: config.runtime.data_dir }),
            { json: (method, path, body) => (late.control ? late.control.client.json(method, path, body) : Promise.reject(new Error('the control plane is not reached yet'))) },
            o.logger.child({ component: 'volumes' }),
            (app, id) => machines.list(app).some((m) => m.state !== 'destroyed' && m.config.volumes.includes(id)),
          )
        : undefined;
    const control = config.control
      ? await openControlLink({
          control: config.control,
          region: config.agent.region,
          machines,
          images: images?.store,
          maxImageBytes: r.max_image_bytes,
          dataDir: config.runtime.data_dir,
          clock,
          logger: o.logger,
          onRoutesChange: () => refresh(),
          pollTimeoutS: o.controlPollTimeoutS,
          servesHttps: config.proxy.tls_listen !== undefined,
          mesh: mesh?.registration,
          volumes,
          onView:
            mesh &&
            ((v, host) => {
              dns?.onView(v, host);
              mesh.onView(v, host);
            }),
        })
      : undefined;
    late.control = control;
    if (control) parts.push({ name: 'control-plane sync', stop: () => control.stop() });
    // Stopped after the machines (parts stop in reverse): their volumes are unmounted, kept.
    if (volumes) parts.push({ name: 'volumes', stop: () => volumes.close() });
    if (machines) {
      parts.push({
        name: 'machines',
        stop: async () => {
          await machines.stopAll();
          // A next agent never adopts them (it removes orphans at start), so their namespaces,
          // links and cgroups go now. A driver passed in belongs to the caller, who closes it.
          if (!o.driver) await driver?.close?.();
        },
      });
    }
    // No machine is placed or replaced once the agent stops.
    if (control) parts.push({ name: 'reconciler', stop: () => control.stopReconciler() });

    const proxy = await startStandalone({
      // The routes file names apps and hostnames; this host's machines of those apps join them; then
      // the control plane's apps (the file wins a clash).
      mergeRoutes:
        machines || control
          ? (spec) => {
              const own = machines ? mergeMachineRoutes(machines, spec) : spec;
              return control ? control.mergeRoutes(own) : own;
            }
          : undefined,
      machines: machines && machineControl(machines),
      statics: machines && { rootOf: (app, id) => machines.imageRoot(app, id) },
      routesPath: config.proxy.routes,
      region: config.agent.region,
      listen: hostPort(config.proxy.listen, 'proxy.listen'),
      // UDP answers must leave from the anycast address the client wrote to (addresses.ts).
      udpHosts: anycastAddresses(hostPort(config.proxy.listen, 'proxy.listen').host, config.announcer.bgp.prefixes, localAddresses()),
      admin: hostPort(config.proxy.admin, 'proxy.admin'),
      accessLog: 'off',
      flyHeaders: true,
      peerKey: control?.peerKey,
      // On the mesh, peers come over WireGuard to the peer listener only (mesh-link.ts).
      publicPeers: mesh === undefined,
      logger: o.logger,
      clock,
      // HTTPS with the platform's certificates, as synced (and cached) from the control plane.
      tls: config.proxy.tls_listen === undefined
        ? undefined
        : {
            listen: hostPort(config.proxy.tls_listen, 'proxy.tls_listen'),
            certs: { store: control?.certificates ?? new MemoryCertStore() },
            defaultCert: config.proxy.default_cert,
          },
      limits: {
        maxConnections: config.proxy.max_connections,
        maxConnectionsPerIp: config.proxy.max_connections_per_ip,
        responseIdleTimeoutMs: config.proxy.response_idle_timeout,
      },
    });
    parts.push({ name: 'proxy', stop: () => proxy.stop() });
    if (control && !proxy.tlsAddress) logger.warn('apps are served over plain HTTP only: set [proxy] tls_listen (e.g. "0.0.0.0:443") to serve them over HTTPS');
    if (mesh && config.mesh) {
      const port = config.mesh.backhaul_port;
      mesh.serve('backhaul', (address) => proxy.proxy.listenPeers(address, port));
      if (dns) mesh.serve('private DNS', (address) => dns.open(privateDnsAddress(address)));
      mesh.servePrivate((address, port, app) => proxy.proxy.listenPrivate(address, port, app));
    }
    machines?.onChange(() => proxy.refreshRoutes());
    refresh = () => proxy.refreshRoutes();
    refresh();

    const spec = config.announcer;
    const announcer = new Announcer({
      spec,
      clock,
      logger: o.logger.child({ component: 'announcer' }),
      render: birdConfig,
      connect: o.connect ?? ((socket) => connectBirdControl(socket)),
      probe: o.probe,
      wrap: o.wrap,
    });
    parts.push({ name: 'announcer', stop: () => announcer.stop() });
    await announcer.start();

    const admin = new AdminApi({
      announcer,
      token,
      controlToken: control?.agentSecret,
      drain: { prepend: spec.bgp.drain_prepend, delay_ms: spec.drain.delay_ms },
      logger: o.logger.child({ component: 'admin-api' }),
    });
    if (machines) admin.add(...machinesRoutes({ machines, clock, logger: o.logger.child({ component: 'machines-api' }) }));
    admin.add(...portsCheckRoutes(proxy.proxy));
    if (mesh) admin.add(...meshStatusRoutes(mesh));
    admin.metrics.add(() => proxy.proxy.metricsText());
    if (machines) admin.metrics.add(() => machines.metricFamilies());
    const at = hostPort(config.agent.admin_listen, 'agent.admin_listen');
    const addr: AddressInfo = await admin.listen(at.host, at.port).catch((e: unknown) => {
      const inUse = (e as NodeJS.ErrnoException).code === 'EADDRINUSE';
      throw new StarlingError('ERR_LISTEN', `cannot listen on ${config.agent.admin_listen} (agent.admin_listen): ${describeError(e)}`, {
        fault: 'user',
        cause: e,
        hint: inUse ? 'another agent may be running with this config; pick another agent.admin_listen' : undefined,
      });
    });
    parts.push({ name: 'admin API', stop: () => admin.close() });
    // Registered with the admin API's address (known now), then the feed is followed.
    await control?.start(`http://${urlHost(addr.address, config.control?.proxy_address)}:${addr.port}`);

    logger.info('agent started', {
      region: config.agent.region,
      proxy: config.proxy.listen,
      admin_api: `${addr.address}:${addr.port}`,
      prefixes: spec.bgp.prefixes,
      peers: spec.bgp.peers.map((p) => p.name),
    });
    let stopping: Promise<void> | undefined;
    return {
      config,
      proxy,
      announcer,
      machines,
      control,
      mesh,
      admin,
      adminAddress: { host: addr.address, port: addr.port },
      stop: () => {
        stopping ??= (async () => {
          logger.info('agent stopping: withdrawing routes, then draining the proxy');
          // The clock's timers do not keep Node running (they are unref'd); without a handle of its
          // own a process with nothing else to do would exit mid-stop, leaving machines' traces.
          const hold = setInterval(() => undefined, 60_000);
          try {
            await unwind();
          } finally {
            clearInterval(hold);
          }
          logger.info('agent stopped');
        })();
        return stopping;
      },
    };
  } catch (e) {
    await unwind();
    throw e;
  }
}

function localAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address));
}

/** The admin API's host for the control plane: a wildcard listen is reached at the proxy's address. */
function urlHost(bound: string, proxyAddress: string | undefined): string {
  const wildcard = bound === '0.0.0.0' || bound === '::';
  const host = wildcard && proxyAddress ? proxyAddress.replace(/^\[(.*)\]:\d+$/, '$1').replace(/:\d+$/, '') : bound;
  return host.includes(':') ? `[${host}]` : host;
}
