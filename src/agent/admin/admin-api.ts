import { createHash, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { AnnouncerStatus } from '../../announcer/index.js';
import { RateLimiter, SystemClock, type Clock, type ConnectionGate, type Logger } from '../../shared/index.js';
import { HttpMetrics, Router, errorResponse, json, openApiDocument, route, serveHttp, type Headers, type HttpResponse, type HttpServer, type Route } from '../../http/index.js';
import { MetricsRegistry } from '../../shared/index.js';

/** What the admin API needs of the announcer (the Announcer itself; a fake in tests). */
export interface AnnouncerControl {
  drain(): void;
  undrain(): void;
  readonly drainState: 'serving' | 'draining' | 'drained';
  status(): Promise<AnnouncerStatus>;
  metricsText(): Promise<string>;
}

/** Who is calling: the host's operator (the local token) or the control plane (its secret). */
export type AdminCaller = 'local' | 'control';
export type AdminRoute = Route<AdminCaller>;

/** Route access: the local token only, or the control plane's secret as well (machine logs). */
export const LOCAL = 'local token';
export const LOCAL_OR_CONTROL = 'local token or the control plane secret';

/** A request for `handle` (tests call the API without a socket). */
export interface AdminRequest {
  method: string;
  /** Percent-encoded, as on the wire; may carry a `?query`. */
  path: string;
  authorization?: string | undefined;
  body?: string;
  headers?: Headers;
}

/** Bodies are small JSON documents; a bigger one is refused (413) before it is buffered. */
export const MAX_BODY_BYTES = 1 << 20;

/** The admin API serves the host's operator and the control plane: a few clients, never a crowd. */
export interface AdminLimits {
  maxConnections: number;
  maxConnectionsPerIp: number;
  requestsPerSecond: number;
  burst: number;
}
export const ADMIN_LIMITS: AdminLimits = { maxConnections: 512, maxConnectionsPerIp: 128, requestsPerSecond: 50, burst: 200 };

/** `POST /v1/drain` and `POST /v1/undrain` answer this (stable keys, read by the CLI). */
export interface DrainReply {
  /** The drain state after the call. */
  drain: 'serving' | 'draining' | 'drained';
  /** False when the agent was already in the asked-for state. */
  changed: boolean;
  community: '65535:0';
  prepend: number;
  delay_ms: number;
}

export interface AdminApiOptions {
  announcer: AnnouncerControl;
  /** The bearer token every request must carry (see loadOrCreateToken). */
  token: string;
  /**
   * The secret this agent gave the control plane when it registered, when it follows one: accepted
   * on the routes registered with `{ controlPlane: true }` only (reading machine logs for
   * `starling logs`), nowhere else.
   */
  controlToken?: string | undefined;
  /** Caps on open connections and on requests per token (defaults: ADMIN_LIMITS). */
  limits?: Partial<AdminLimits>;
  clock?: Clock;
  /** Echoed in drain replies so the operator sees what happens: AS-path prepends and the delay. */
  drain: { prepend: number; delay_ms: number };
  logger: Logger;
}

export const GRACEFUL_SHUTDOWN = '65535:0';

/**
 * The agent's local admin API, on the shared HTTP kit. Every endpoint, `/metrics` included, needs
 * `Authorization: Bearer <token>`: an unauthenticated caller learns nothing, not even which paths
 * exist. Errors are `{ "error": { "code", "message" } }`. Later parts of the agent add routes with
 * add() (the Machines API).
 */
export class AdminApi {
  private readonly router: Router<AdminCaller>;
  private readonly http: HttpServer;
  /** What GET /metrics answers: the announcer and this API; the agent adds the proxy and the machines. */
  readonly metrics = new MetricsRegistry();
  private readonly tokenHash: Buffer;
  private readonly controlHash: Buffer | undefined;

  constructor(private readonly o: AdminApiOptions) {
    this.tokenHash = sha256(o.token);
    this.controlHash = o.controlToken === undefined ? undefined : sha256(o.controlToken);
    const limits = { ...ADMIN_LIMITS, ...o.limits };
    const clock = o.clock ?? new SystemClock();
    this.router = new Router<AdminCaller>(this.ownRoutes(), {
      anonymous: 'local',
      logger: o.logger,
      authenticate: async (headers, r) => {
        const token = bearer(headers.authorization);
        if (token !== undefined && timingSafeEqual(sha256(token), this.tokenHash)) return { ok: true, principal: 'local' };
        if (token !== undefined && this.controlHash && r?.access === LOCAL_OR_CONTROL && timingSafeEqual(sha256(token), this.controlHash)) {
          return { ok: true, principal: 'control' };
        }
        return { ok: false, response: unauthorized() };
      },
    });
    const httpMetrics = new HttpMetrics('agent');
    this.metrics.add(() => o.announcer.metricsText(), () => httpMetrics.families());
    this.http = serveHttp(this.router, {
      metrics: httpMetrics,
      logger: o.logger,
      limits: { maxConnections: limits.maxConnections, maxPerAddress: limits.maxConnectionsPerIp },
      maxBodyBytes: MAX_BODY_BYTES,
      rate: { limiter: new RateLimiter({ perSecond: limits.requestsPerSecond, burst: limits.burst }, clock), key: (who) => who },
      failedAuth: new RateLimiter({ perSecond: 2, burst: 20 }, clock),
    });
  }

  get gate(): ConnectionGate {
    return this.http.gate;
  }

  /** Adds endpoints (the agent's later parts: machines, leases, logs); exact paths win over `{name}` ones. */
  add(...routes: AdminRoute[]): void {
    this.router.add(...routes);
  }

  /** The whole decision (auth, route, handler) without a socket. */
  handle(req: AdminRequest): Promise<HttpResponse> {
    const url = new URL(req.path, 'http://agent');
    const headers: Headers = { ...req.headers, ...(req.authorization === undefined ? {} : { authorization: req.authorization }) };
    return this.router.handle({ method: req.method, path: url.pathname, headers, body: req.body ?? '', query: url.searchParams, signal: new AbortController().signal });
  }

  listen(host: string, port: number): Promise<AddressInfo> {
    return this.http.listen(host, port);
  }

  close(): Promise<void> {
    return this.http.close();
  }

  private ownRoutes(): AdminRoute[] {
    const a = this.o.announcer;
    const log = this.o.logger;
    return [
      route<AdminCaller>({
        method: 'POST', path: '/v1/drain', access: LOCAL, summary: 'Start a graceful drain: GRACEFUL_SHUTDOWN, prepends, then withdraw', responses: { '200': 'DrainReply' },
        handler: async () => {
          const changed = a.drainState === 'serving';
          a.drain();
          if (changed) log.info('drain requested', { delay_ms: this.o.drain.delay_ms });
          return json(200, this.drainReply(changed));
        },
      }),
      route<AdminCaller>({
        method: 'POST', path: '/v1/undrain', access: LOCAL, summary: 'Announce normally again', responses: { '200': 'DrainReply' },
        handler: async () => {
          const changed = a.drainState !== 'serving';
          a.undrain();
          if (changed) log.info('undrain requested');
          return json(200, this.drainReply(changed));
        },
      }),
      route<AdminCaller>({
        method: 'GET', path: '/v1/bgp/status', access: LOCAL, summary: 'BIRD, its sessions and the health of the anycast service', responses: { '200': 'AnnouncerStatus' },
        handler: async () => json(200, await a.status()),
      }),
      route<AdminCaller>({
        method: 'GET', path: '/openapi.json', access: LOCAL, summary: 'This API (the Machines API included), as an OpenAPI 3.1 document', responses: { '200': 'the OpenAPI document' },
        handler: async () => json(200, openApiDocument(this.router.routes, { title: 'Starling agent', version: '1', description: 'README "Admin API" and "Machines API"' })),
      }),
      route<AdminCaller>({
        method: 'GET', path: '/metrics', access: LOCAL, summary: 'Prometheus text', responses: { '200': 'metrics' },
        handler: async () => ({ status: 200, contentType: 'text/plain; version=0.0.4', text: await this.metrics.text((e) => log.error('a metrics collector failed', { error: String(e) })) }),
      }),
    ];
  }

  private drainReply(changed: boolean): DrainReply {
    const { prepend, delay_ms } = this.o.drain;
    return { drain: this.o.announcer.drainState, changed, community: GRACEFUL_SHUTDOWN, prepend, delay_ms };
  }
}

/** The token of `Authorization: Bearer <token>` (scheme in any case), or undefined. */
function bearer(header: string | string[] | undefined): string | undefined {
  const m = /^Bearer +(\S+) *$/i.exec(typeof header === 'string' ? header : '');
  return m?.[1];
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function unauthorized(): HttpResponse {
  // RFC 6750 section 3
  return errorResponse(401, 'ERR_UNAUTHORIZED', 'missing or wrong bearer token (Authorization: Bearer <token from token_file>)', undefined, { 'www-authenticate': 'Bearer realm="starling-agent"' });
}

// The client half lives in admin-client.ts; re-exported so callers keep one import.
export { loadOrCreateToken, callAdminApi, openAdminApi, hostPort, type AdminCallOptions } from './admin-client.js';
