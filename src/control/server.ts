/**
 * The control plane's HTTP(S) server: its router (api/http.ts) on the shared HTTP kit's adapter,
 * which checks the caller, the rate and the route from the request head before reading a body,
 * and caps connections (http/node.ts). Long polls end when their client goes or the server
 * closes.
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { RateLimiter, isStarlingError, type Clock, type ConnectionGate, type Logger } from '../shared/index.js';
import { HttpMetrics, serveHttp, type Router } from '../http/index.js';
import { MetricsRegistry } from '../shared/index.js';
import { Authenticator, principalKey, type Principal } from './auth/index.js';
import { controlRouter } from './api/http.js';
import { controlRoutes } from './api/openapi.js';
import { certificatesCollector, connectionsCollector, platformCollector } from './api/metrics.js';
import { ensureDefaultOrg } from './api/orgs.js';
import { DeployRunner } from './deploy/index.js';
import { DEFAULT_HOST_TIMEOUT_MS, HostHealth } from './api/host-health.js';
import type { StateStore } from './store/index.js';
import { DEFAULT_MAX_IMAGE_BYTES, type HostDoc } from '../contract/index.js';
import { RegistryStorage } from './registry/index.js';
import { FeedProgress } from './api/feed-progress.js';
import { platformCertificates, type CertificateSettings } from './certs/index.js';

/** Request bodies are small JSON documents (a release config is the largest). */
export const MAX_BODY_BYTES = 1 << 20;

export interface ControlLimits {
  /** Open connections in all, and from one client address (an IPv6 /64). */
  maxConnections: number;
  maxConnectionsPerIp: number;
  /** Requests per second per caller (a token, a host, the operator), after a burst. */
  requestsPerSecond: number;
  burst: number;
  /** Requests with a missing or wrong token, per client address. */
  failedAuthPerSecond: number;
  failedAuthBurst: number;
}

export const DEFAULT_CONTROL_LIMITS: ControlLimits = {
  maxConnections: 4096,
  maxConnectionsPerIp: 256,
  requestsPerSecond: 50,
  burst: 200,
  failedAuthPerSecond: 2,
  failedAuthBurst: 20,
};

export interface ControlPlaneOptions {
  listen: { host: string; port: number };
  store: StateStore;
  /** The platform operator's bearer tokens (control.toml token_file); org tokens live in the store. */
  tokens: string[];
  /** Tokens that read /metrics and nothing else (control.toml metrics_token_file). */
  metricsTokens?: string[] | undefined;
  /** Uploaded images; created when missing. */
  imagesDir: string;
  /** The largest image upload taken (default 1 GiB). */
  maxImageBytes?: number | undefined;
  /** Apps are served at `<app>.<appsDomain>` (default starling.test), as the agents' apps_domain says. */
  appsDomain?: string | undefined;
  /** The private network's /16 (control.toml [network] private_prefix). */
  privatePrefix?: string | undefined;
  /** A host not heard from for this long is marked down (default 75 s; api/host-health.ts). */
  hostTimeoutMs?: number;
  /** 32 bytes: encrypts secrets at rest (src/control/secrets). */
  secretsKey: Buffer;
  /** How app hostnames get certificates, and the ACME CA (control.toml [certificates], [acme]). */
  certificates?: CertificateSettings | undefined;
  /** Serve HTTPS with this certificate (PEM); plain HTTP without. */
  tls?: { cert: string; key: string; fingerprint: string } | undefined;
  limits?: Partial<ControlLimits>;
  clock: Clock;
  logger: Logger;
}

export interface ControlPlane {
  address: AddressInfo;
  /** The router without a socket (tests, embedding). */
  router: Router<Principal>;
  /** The deploy runner (tests wait on `settled(app)`). */
  deploys: DeployRunner;
  /** Connection caps in force and what they refused. */
  gate: ConnectionGate;
  /** Stops listening, ends open requests (long polls first). Does not close the store. */
  close(): Promise<void>;
}

export async function startControlPlane(o: ControlPlaneOptions): Promise<ControlPlane> {
  const logger = o.logger;
  const limits = { ...DEFAULT_CONTROL_LIMITS, ...o.limits };
  const deploys = new DeployRunner({ store: o.store, clock: o.clock, logger: logger.child({ component: 'deploys' }) });
  const interrupted = await deploys.recover();
  if (interrupted > 0) logger.warn('deploys were interrupted by a restart: resume or roll them back', { count: interrupted });
  const hostHealth = new HostHealth({ store: o.store, clock: o.clock, logger: logger.child({ component: 'hosts' }), timeoutMs: o.hostTimeoutMs ?? DEFAULT_HOST_TIMEOUT_MS });
  const metrics = new MetricsRegistry();
  const httpMetrics = new HttpMetrics('control');
  const feedProgress = new FeedProgress();
  const registry = new RegistryStorage({ imagesDir: o.imagesDir, maxBytes: o.maxImageBytes ?? DEFAULT_MAX_IMAGE_BYTES, clock: o.clock });
  const base = { store: o.store, secretsKey: o.secretsKey, imagesDir: o.imagesDir, maxImageBytes: o.maxImageBytes, registry, appsDomain: o.appsDomain, privatePrefix: o.privatePrefix, clock: o.clock, logger, deploys, hostHealth, feedProgress, tlsFingerprint: o.tls?.fingerprint, peerKey: await peerKey(o.store), metrics };
  const certificates = platformCertificates({ ...base, propagated: (revision) => challengePropagated(base, revision) }, o.certificates);
  const ctx = { ...base, certificates };
  await ensureDefaultOrg(ctx);
  const authenticator = new Authenticator({ store: o.store, platformTokens: o.tokens, metricsTokens: o.metricsTokens, clock: o.clock });
  const rate = new RateLimiter({ perSecond: limits.requestsPerSecond, burst: limits.burst }, o.clock);
  const failedAuth = new RateLimiter({ perSecond: limits.failedAuthPerSecond, burst: limits.failedAuthBurst }, o.clock);
  // The registry at /v2/ checks its callers itself (Basic or Bearer), against the same tokens and limits.
  const router = controlRouter(controlRoutes({ ...ctx, registryAuth: { authenticator, failedAuth, rate } }), authenticator, o.store, logger);
  const http = serveHttp(router, {
    metrics: httpMetrics,
    logger,
    tls: o.tls,
    limits: { maxConnections: limits.maxConnections, maxPerAddress: limits.maxConnectionsPerIp },
    maxBodyBytes: MAX_BODY_BYTES,
    // /healthz (the one public route) is not counted: load balancers poll it.
    rate: { limiter: rate, key: (p) => (p.kind === 'anonymous' ? undefined : principalKey(p)) },
    failedAuth,
  });
  metrics.add(platformCollector(ctx), certificatesCollector(certificates), connectionsCollector(() => http.gate.stats()), () => httpMetrics.families());
  const address = await http.listen(o.listen.host, o.listen.port);
  hostHealth.start();
  if (!o.tls) logger.warn('serving plain HTTP: certificate keys are never sent to agents over it, so no PoP can serve HTTPS for the platform\'s certificates');
  await certificates.manager.start();
  logger.info('control plane listening', { address: address.address, port: address.port, tls: o.tls ? `sha256 ${o.tls.fingerprint}` : 'off' });
  return {
    address,
    router,
    deploys,
    gate: http.gate,
    close: async () => {
      hostHealth.stop();
      await certificates.manager.stop();
      await deploys.close();
      await http.close();
    },
  };
}

/** How long an ACME challenge answer may take to reach every live host before the CA is asked anyway. */
export const CHALLENGE_PROPAGATION_TIMEOUT_MS = 10_000;

/** Waits until every live host's view holds `revision`; answers the hosts still behind. */
async function challengePropagated(ctx: { store: StateStore; hostHealth: HostHealth; feedProgress: FeedProgress; clock: Clock }, revision: number): Promise<string[]> {
  const hosts = (await ctx.store.list('hosts')).map((e) => e.value as HostDoc).filter((h) => h.healthy !== false && ctx.hostHealth.alive(h.id)).map((h) => h.id);
  return ctx.feedProgress.waitFor(revision, hosts, CHALLENGE_PROPAGATION_TIMEOUT_MS, ctx.clock);
}

/** The platform's peer key (proxies mark requests to each other with it): made once, kept in the store. */
async function peerKey(store: StateStore): Promise<string> {
  const found = await store.get('platform', 'peer_key');
  if (found) return (found.value as { key: string }).key;
  const key = randomBytes(32).toString('hex');
  try {
    await store.put('platform', 'peer_key', { key }, { expectRevision: 0 });
    return key;
  } catch (e) {
    if (!isStarlingError(e, 'ERR_STORE_CONFLICT')) throw e;
    return peerKey(store); // another replica made it first
  }
}
