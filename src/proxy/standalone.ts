import fs from 'node:fs';
import { describeError, isKnownRegion, StarlingError, type Clock, type Logger } from '../shared/index.js';
import { AdminServer } from './admin.js';
import { ProxyServer } from './server.js';
import { DEFAULT_LIMITS, type MachineControl, type ProxyLimits } from './core/context.js';
import type { StaticRoots } from './core/statics.js';
import { checkLimits, warnOnOpenFilesLimit } from './admission.js';
import { RoutesWatcher, type RoutesSpec } from './route-table/index.js';
import { AcmeIssuer, FileCertStore, RenewalManager, type CertificateStore } from '../certs/index.js';
import { StoreTlsContexts, type DefaultCert } from './tls/store-contexts.js';
import type { AccessLogSink } from './observe/index.js';

/** What `starling proxy serve` runs: one proxy with a routes file, an admin port and signals. */
export interface StandaloneOptions {
  routesPath: string;
  region: string;
  listen: { host: string; port: number };
  admin: { host: string; port: number } | undefined;
  /** 'off', '-' (stdout) or a file path to append to. */
  accessLog: string;
  flyHeaders: boolean;
  /** Trust requests from the platform's other proxies carrying this key (core/peer.ts). */
  peerKey?: string | undefined;
  /** Whether the public listeners trust `peerKey` (ProxyLimits.publicPeers); default yes. */
  publicPeers?: boolean | undefined;
  logger: Logger;
  /**
   * The caller's clock (the agent's own; `proxy serve` makes the process's SystemClock): every timer
   * of the proxy, the routes watcher and the certificates runs on it.
   */
  clock: Clock;
  /** HTTPS (HTTP/1.1 and HTTP/2) with certificates from a store; off when undefined. */
  tls?: TlsOptions | undefined;
  /**
   * Where UDP services listen (each address: its answers leave from it); default the listen host.
   * The agent passes its anycast addresses.
   */
  udpHosts?: readonly string[] | undefined;
  /** Adds what the routes file does not hold (the agent's own machines) before routes are applied. */
  mergeRoutes?: ((fromFile: RoutesSpec) => RoutesSpec) | undefined;
  /** The runtime, for autostart/autostop (inside an agent). */
  machines?: MachineControl | undefined;
  /** This host's machines' images, for `[[statics]]` (the agent's runtime). */
  statics?: StaticRoots | undefined;
  /** Connection caps (per process: each `--workers` worker has its own) and the response idle timeout; defaults when undefined. */
  limits?: EdgeLimits | undefined;
}

/** The limits `proxy serve` flags and agent.toml `[proxy]` set; the rest keep DEFAULT_LIMITS. */
export interface EdgeLimits {
  maxConnections?: number | undefined;
  maxConnectionsPerIp?: number | undefined;
  responseIdleTimeoutMs?: number | undefined;
}

export interface TlsOptions {
  listen: { host: string; port: number };
  /**
   * Where certificates come from: a FileCertStore directory shared by every proxy that should answer
   * for these names (`proxy serve --certs`), or a store of the caller's (an agent's, synced from the
   * control plane).
   */
  certs: { dir: string } | { store: CertificateStore };
  defaultCert: DefaultCert;
  /** With an ACME directory, the proxy renews the store's ACME certificates itself. */
  acme?: AcmeOptions | undefined;
}

export interface AcmeOptions {
  directoryUrl: string;
  email?: string | undefined;
  /** PEM of a CA to trust for the ACME server (a test CA such as Pebble's). */
  caBundlePem?: string | undefined;
}

export interface RunningProxy {
  proxy: ProxyServer;
  admin: AdminServer | undefined;
  address: { host: string; port: number };
  tlsAddress: { host: string; port: number } | undefined;
  /** Re-reads the routes file now (SIGHUP); true when the file is valid and in effect. */
  reload(): Promise<boolean>;
  /** Re-applies the last routes file through `mergeRoutes` (after the agent's machines changed). */
  refreshRoutes(): void;
  /** Drains, then releases everything; resolves when done. */
  stop(): Promise<void>;
}

export async function startStandalone(o: StandaloneOptions): Promise<RunningProxy> {
  const limits = edgeLimits(o);
  checkLimits({ ...DEFAULT_LIMITS, ...limits }); // before anything is started that would need stopping
  const clock = o.clock;
  // The watcher starts before the proxy exists; changes reach the proxy once there is one.
  const live: { proxy?: ProxyServer; fromFile?: RoutesSpec } = {};
  const merge = o.mergeRoutes ?? ((s: RoutesSpec) => s);
  const watcher = new RoutesWatcher({
    path: o.routesPath,
    clock,
    logger: o.logger.child({ component: 'routes' }),
    onChange: (spec) => {
      live.fromFile = spec;
      live.proxy?.setRoutes(merge(spec));
    },
    onError: () => {
      live.proxy?.routesRejected();
    },
  });
  // Watch first, then read: an edit made while the proxy starts is not missed.
  watcher.start();
  let routes;
  try {
    routes = await watcher.loadInitial();
    checkRegion(o.region, routes.rtt);
  } catch (e) {
    watcher.stop();
    throw e;
  }
  const certs = o.tls ? await openCertificates(o.tls, clock, o.logger) : undefined;
  const accessLog = openAccessLog(o.accessLog);
  live.fromFile = routes;
  const started = new ProxyServer({
    acmeHttp: certs?.contexts,
    machines: o.machines,
    statics: o.statics,
    region: o.region,
    routes: merge(routes),
    clock,
    logger: o.logger.child({ component: 'proxy' }),
    accessLog,
    limits,
  });
  live.proxy = started;
  warnOnOpenFilesLimit(o.logger, started.limits.maxConnections);
  const addr = await started.listen(o.listen.host, o.listen.port).catch((e: unknown) => {
    watcher.stop();
    started.close();
    throw listenError('--listen', o.listen, e);
  });
  // TCP services listen on the proxy's address, on each service's public ports (tcp/tcp-edge.ts).
  started.serveTcp(o.listen.host, certs?.contexts);
  started.serveUdp(o.udpHosts && o.udpHosts.length > 0 ? o.udpHosts : [o.listen.host]);
  let tlsAddr: { host: string; port: number } | undefined;
  if (o.tls && certs) {
    const at = o.tls.listen;
    const a = await started.listenTls(at.host, at.port, certs.contexts).catch((e: unknown) => {
      watcher.stop();
      certs.close();
      started.close();
      throw listenError('--tls-listen', at, e);
    });
    tlsAddr = { host: a.address, port: a.port };
    certs.renewal?.start();
  }
  let admin: AdminServer | undefined;
  if (o.admin) {
    const at = o.admin;
    admin = new AdminServer({ draining: () => started.draining, metrics: async () => started.metricsText() }, o.logger.child({ component: 'admin' }));
    await admin.listen(at.host, at.port).catch((e: unknown) => {
      watcher.stop();
      started.close();
      throw listenError('--admin', at, e);
    });
  }
  o.logger.info('proxy listening', {
    listen: `${addr.address}:${addr.port}`,
    region: o.region,
    apps: started.routes.apps.size,
    machines: started.routes.machineCount(),
  });
  return {
    proxy: started,
    admin,
    address: { host: addr.address, port: addr.port },
    tlsAddress: tlsAddr,
    async stop() {
      watcher.stop();
      await certs?.renewal?.stop();
      certs?.close();
      await started.drain();
      await admin?.close();
      if (accessLog && accessLog !== process.stdout) (accessLog as fs.WriteStream).end();
    },
    reload: () => watcher.reload(),
    refreshRoutes: () => {
      if (live.fromFile) started.setRoutes(merge(live.fromFile));
    },
  };
}

function edgeLimits(o: StandaloneOptions): Partial<ProxyLimits> {
  const limits: Partial<ProxyLimits> = { flyHeaders: o.flyHeaders, peerKey: o.peerKey, publicPeers: o.publicPeers ?? true };
  const l = o.limits ?? {};
  if (l.maxConnections !== undefined) limits.maxConnections = l.maxConnections;
  if (l.maxConnectionsPerIp !== undefined) limits.maxConnectionsPerIp = l.maxConnectionsPerIp;
  if (l.responseIdleTimeoutMs !== undefined) limits.responseIdleTimeoutMs = l.responseIdleTimeoutMs;
  return limits;
}

interface OpenCertificates {
  contexts: StoreTlsContexts;
  renewal: RenewalManager | undefined;
  close(): void;
}

/** The certificate store, the SNI index over it, and (with ACME) renewal of its ACME certificates. */
async function openCertificates(t: TlsOptions, clock: Clock, logger: Logger): Promise<OpenCertificates> {
  const store = 'store' in t.certs ? t.certs.store : new FileCertStore(t.certs.dir, { clock, logger: logger.child({ component: 'certs' }) });
  const contexts = await StoreTlsContexts.open(store, { defaultCert: t.defaultCert, clock, logger: logger.child({ component: 'tls' }) });
  let renewal: RenewalManager | undefined;
  let unwatch: (() => void) | undefined;
  if (t.acme) {
    const issuer = new AcmeIssuer({ ...t.acme, store, logger: logger.child({ component: 'acme' }) });
    const r = new RenewalManager({ store, issuer, clock, logger: logger.child({ component: 'renewal' }) });
    renewal = r;
    // Every ACME certificate in the store is renewed here, including ones other PoPs added; one that
    // was removed (`certs remove`) is not ordered again.
    const manageAll = async (): Promise<void> => {
      const acme = new Set((await store.list()).filter((c) => c.source === 'acme').map((c) => c.hostname));
      for (const h of acme) r.manage(h);
      for (const st of r.status()) if (!acme.has(st.hostname)) r.unmanage(st.hostname);
    };
    await manageAll();
    unwatch = store.watch(() => void manageAll().catch(() => undefined));
  }
  return {
    contexts,
    renewal,
    close: () => {
      unwatch?.();
      contexts.close();
    },
  };
}

function checkRegion(region: string, rtt: Record<string, unknown> | undefined): void {
  const known = isKnownRegion(region) || Object.keys(rtt ?? {}).includes(region);
  if (!/^[a-z]{3}$/.test(region) || !known) {
    throw new StarlingError('ERR_REGION_UNKNOWN', `unknown region "${region}" (--region)`, {
      fault: 'user',
      hint: "use a code from the regions catalog (fra, iad, sin, …) or add the region to the routes file's rtt table",
    });
  }
}

function listenError(flag: string, at: { host: string; port: number }, e: unknown): StarlingError {
  const code = (e as NodeJS.ErrnoException).code;
  const why = code === 'EADDRINUSE' ? 'the address is already in use' : code === 'EACCES' ? 'permission denied' : describeError(e);
  return new StarlingError('ERR_LISTEN', `cannot listen on ${at.host}:${at.port} (${flag}): ${why}`, {
    fault: 'user',
    cause: e,
    hint: code === 'EADDRINUSE' ? `pick another port with ${flag}, or stop what is using it` : undefined,
  });
}

function openAccessLog(spec: string): AccessLogSink | undefined {
  if (spec === 'off') return undefined;
  if (spec === '-') return process.stdout;
  return fs.createWriteStream(spec, { flags: 'a', mode: 0o640 });
}
