/**
 * The control plane's HTTP server: puts the socket-free router (api/http.ts) on a port. Bodies are
 * capped before they are buffered; long polls end when their client goes or the server closes.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { closeNow, listenOn, describeError, readRequestBody, type Clock, type Logger } from '../shared/index.js';
import { Router, errorBody, unauthorized, type ApiResponse } from './api/http.js';
import { controlRoutes } from './api/openapi.js';
import { DeployRunner } from './deploy/index.js';
import { DEFAULT_HOST_TIMEOUT_MS, HostHealth } from './api/host-health.js';
import type { StateStore } from './store/index.js';

/** Request bodies are small JSON documents (a release config is the largest). */
export const MAX_BODY_BYTES = 1 << 20;

export interface ControlPlaneOptions {
  listen: { host: string; port: number };
  store: StateStore;
  /** Users' bearer tokens; every endpoint but GET /healthz needs a token (docs/control-api.md). */
  tokens: string[];
  /** Agents' bearer tokens (host registration, state reports, secret values for their machines). */
  agentTokens?: string[];
  /** Uploaded images; created when missing. */
  imagesDir: string;
  /** A host not heard from for this long is marked down (default 75 s; api/host-health.ts). */
  hostTimeoutMs?: number;
  /** 32 bytes: encrypts secrets at rest (src/control/secrets). */
  secretsKey: Buffer;
  clock: Clock;
  logger: Logger;
}

export interface ControlPlane {
  address: AddressInfo;
  /** The router without a socket (tests, embedding). */
  router: Router;
  /** The deploy runner (tests wait on `settled(app)`). */
  deploys: DeployRunner;
  /** Stops listening, ends open requests (long polls first). Does not close the store. */
  close(): Promise<void>;
}

export async function startControlPlane(o: ControlPlaneOptions): Promise<ControlPlane> {
  const logger = o.logger;
  const deploys = new DeployRunner({ store: o.store, clock: o.clock, logger: logger.child({ component: 'deploys' }) });
  const interrupted = await deploys.recover();
  if (interrupted > 0) logger.warn('deploys were interrupted by a restart: resume or roll them back', { count: interrupted });
  const hostHealth = new HostHealth({ store: o.store, clock: o.clock, logger: logger.child({ component: 'hosts' }), timeoutMs: o.hostTimeoutMs ?? DEFAULT_HOST_TIMEOUT_MS });
  const ctx = { store: o.store, secretsKey: o.secretsKey, imagesDir: o.imagesDir, agentToken: o.agentTokens?.[0], clock: o.clock, logger, deploys, hostHealth };
  const router = new Router(controlRoutes(ctx), o.tokens, logger, o.agentTokens ?? []);
  const open = new Set<AbortController>();
  const server = http.createServer((req, res) => void serve(req, res));

  async function serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const abort = new AbortController();
    open.add(abort);
    res.once('close', () => {
      open.delete(abort);
      abort.abort();
    });
    const url = new URL(req.url ?? '/', 'http://control');
    const raw = router.matchRaw(req.method ?? 'GET', url.pathname);
    if (raw) {
      const role = raw.route.auth ?? 'user';
      if (role !== false && !router.authorized(req.headers.authorization, role)) {
        const out = unauthorized(role);
        req.resume();
        res.writeHead(out.status, { 'content-type': 'application/json', ...out.headers });
        return void res.end(JSON.stringify(out.body) + '\n');
      }
      try {
        await raw.route.raw!(req, res, raw.params);
      } catch (e) {
        logger.error('control API request failed', { method: req.method, path: url.pathname, error: describeError(e) });
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify(errorBody('ERR_INTERNAL', 'internal error; see the control plane log')) + '\n');
        else res.destroy();
      }
      return;
    }
    let out: ApiResponse;
    try {
      const body = await readRequestBody(req, MAX_BODY_BYTES);
      out =
        body === undefined
          ? { status: 413, body: errorBody('ERR_BODY_TOO_LARGE', `request bodies are at most ${MAX_BODY_BYTES} bytes`), headers: { connection: 'close' } }
          : await router.handle({ method: req.method ?? 'GET', path: url.pathname, authorization: req.headers.authorization, body, query: url.searchParams, signal: abort.signal });
    } catch (e) {
      logger.debug('control API client went away', { method: req.method, path: url.pathname, error: describeError(e) });
      return void res.destroy();
    }
    if (res.destroyed) return;
    const text = JSON.stringify(out.body) + '\n';
    res.writeHead(out.status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...out.headers });
    res.end(text);
    logger.debug('control API request', { method: req.method, path: url.pathname, status: out.status });
  }

  const address = await listenOn(server, o.listen.host, o.listen.port);
  hostHealth.start();
  logger.info('control plane listening', { address: address.address, port: address.port });
  return {
    address,
    router,
    deploys,
    close: async () => {
      hostHealth.stop();
      await deploys.close();
      for (const a of open) a.abort();
      return closeNow(server);
    },
  };
}

