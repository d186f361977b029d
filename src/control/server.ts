/**
 * The control plane's HTTP(S) server: puts the socket-free router (api/http.ts) on a port. The
 * order of a request is the order of what it costs: the connection is counted against the caps
 * (total, per client address) when it is accepted; the request line and headers decide the caller,
 * their rate and their right to the route (401 / 429 / 403 / 404) before one byte of the body is
 * read; only then is the body read, capped (413). Long polls end when their client goes or the
 * server closes.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import {
  ConnectionGate,
  RateLimiter,
  addressKey,
  closeNow,
  describeError,
  isStarlingError,
  listenOn,
  readRequestBody,
  type Clock,
  type Logger,
} from '../shared/index.js';
import { Authenticator, principalKey } from './auth/index.js';
import { Router, errorBody, json, type ApiResponse } from './api/http.js';
import { controlRoutes } from './api/openapi.js';
import { ensureDefaultOrg } from './api/orgs.js';
import { DeployRunner } from './deploy/index.js';
import { DEFAULT_HOST_TIMEOUT_MS, HostHealth } from './api/host-health.js';
import type { StateStore } from './store/index.js';

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
  /** Uploaded images; created when missing. */
  imagesDir: string;
  /** A host not heard from for this long is marked down (default 75 s; api/host-health.ts). */
  hostTimeoutMs?: number;
  /** 32 bytes: encrypts secrets at rest (src/control/secrets). */
  secretsKey: Buffer;
  /** Serve HTTPS with this certificate (PEM); plain HTTP without. */
  tls?: { cert: string; key: string; fingerprint: string } | undefined;
  limits?: Partial<ControlLimits>;
  clock: Clock;
  logger: Logger;
}

export interface ControlPlane {
  address: AddressInfo;
  /** The router without a socket (tests, embedding). */
  router: Router;
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
  const ctx = { store: o.store, secretsKey: o.secretsKey, imagesDir: o.imagesDir, clock: o.clock, logger, deploys, hostHealth, tlsFingerprint: o.tls?.fingerprint, peerKey: await peerKey(o.store) };
  await ensureDefaultOrg(ctx);
  const router = new Router(controlRoutes(ctx), new Authenticator({ store: o.store, platformTokens: o.tokens, clock: o.clock }), o.store, logger);
  const perCaller = new RateLimiter({ perSecond: limits.requestsPerSecond, burst: limits.burst }, o.clock);
  const failedAuth = new RateLimiter({ perSecond: limits.failedAuthPerSecond, burst: limits.failedAuthBurst }, o.clock);
  const open = new Set<AbortController>();
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => void serve(req, res);
  const server = o.tls ? https.createServer({ cert: o.tls.cert, key: o.tls.key, minVersion: 'TLSv1.2' }, handler) : http.createServer(handler);
  // A client gets 10 s to send its request head (slowloris), 10 min for a whole request (image uploads).
  server.headersTimeout = 10_000;
  server.requestTimeout = 600_000;
  const gate = new ConnectionGate({ maxConnections: limits.maxConnections, maxPerAddress: limits.maxConnectionsPerIp });
  gate.attach(server);

  /** Answers without reading the body; a body on its way means the connection cannot be reused. */
  function reply(req: http.IncomingMessage, res: http.ServerResponse, out: ApiResponse, bodyLeft: boolean): void {
    if (res.destroyed || res.headersSent) return;
    res.writeHead(out.status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...(bodyLeft ? { connection: 'close' } : {}), ...out.headers });
    res.end(JSON.stringify(out.body) + '\n');
    if (bodyLeft) req.resume(); // what arrives until the close is thrown away, not buffered
    logger.debug('control API request', { method: req.method, path: req.url?.split('?')[0], status: out.status });
  }

  async function serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const abort = new AbortController();
    open.add(abort);
    res.once('close', () => {
      open.delete(abort);
      abort.abort();
    });
    const url = new URL(req.url ?? '/', 'http://control');
    const method = req.method ?? 'GET';
    const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
    let admitted;
    try {
      admitted = await router.admit(method, url.pathname, req.headers.authorization);
    } catch (e) {
      logger.error('control API auth failed', { method, path: url.pathname, error: describeError(e) });
      return reply(req, res, json(500, errorBody(isStarlingError(e) ? e.code : 'ERR_INTERNAL', 'internal error; see the control plane log')), hasBody);
    }
    if ('status' in admitted) {
      // Guessing tokens is slowed per client address; other refusals are cheap and final.
      if (admitted.status === 401) {
        const d = failedAuth.take(`ip:${addressKey(req.socket.remoteAddress)}`);
        if (!d.ok) return reply(req, res, tooMany(d.retryAfterS, 'too many requests with a missing or wrong token from this address'), hasBody);
      }
      return reply(req, res, admitted, hasBody);
    }
    // /healthz (the one public route) is not counted: load balancers poll it.
    const rate = admitted.principal.kind === 'anonymous' ? ({ ok: true } as const) : perCaller.take(principalKey(admitted.principal));
    if (!rate.ok) return reply(req, res, tooMany(rate.retryAfterS, 'too many requests with this token'), hasBody);
    if (admitted.route.raw) {
      try {
        await admitted.route.raw(req, res, admitted.params, admitted.principal);
      } catch (e) {
        logger.error('control API request failed', { method, path: url.pathname, error: describeError(e) });
        if (!res.headersSent) reply(req, res, json(500, errorBody('ERR_INTERNAL', 'internal error; see the control plane log')), true);
        else res.destroy();
      }
      return;
    }
    let body: string | undefined;
    if (Number(req.headers['content-length'] ?? 0) > MAX_BODY_BYTES) return reply(req, res, tooLarge(), true);
    try {
      body = await readRequestBody(req, MAX_BODY_BYTES);
    } catch (e) {
      logger.debug('control API client went away', { method, path: url.pathname, error: describeError(e) });
      return void res.destroy();
    }
    if (body === undefined) return reply(req, res, tooLarge(), true);
    const out = await router.run(admitted, { method, path: url.pathname, body, query: url.searchParams, signal: abort.signal });
    reply(req, res, out, false);
  }

  const address = await listenOn(server, o.listen.host, o.listen.port);
  hostHealth.start();
  logger.info('control plane listening', { address: address.address, port: address.port, tls: o.tls ? `sha256 ${o.tls.fingerprint}` : 'off' });
  return {
    address,
    router,
    deploys,
    gate,
    close: async () => {
      hostHealth.stop();
      await deploys.close();
      for (const a of open) a.abort();
      return closeNow(server);
    },
  };
}

function tooLarge(): ApiResponse {
  return json(413, errorBody('ERR_BODY_TOO_LARGE', `request bodies are at most ${MAX_BODY_BYTES} bytes`));
}

function tooMany(retryAfterS: number, message: string): ApiResponse {
  return json(429, errorBody('ERR_RATE_LIMITED', `${message}: retry in ${retryAfterS} s`), { 'retry-after': String(retryAfterS) });
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
