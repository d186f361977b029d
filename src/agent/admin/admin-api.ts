import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AnnouncerStatus } from '../../announcer/index.js';
import {
  ConnectionGate,
  RateLimiter,
  SystemClock,
  addressKey,
  compilePathTemplate,
  closeNow,
  listenOn,
  StarlingError,
  describeError,
  readRequestBody,
  type Clock,
  type Logger,
} from '../../shared/index.js';

/** What the admin API needs of the announcer (the Announcer itself; a fake in tests). */
export interface AnnouncerControl {
  drain(): void;
  undrain(): void;
  readonly drainState: 'serving' | 'draining' | 'drained';
  status(): Promise<AnnouncerStatus>;
  metricsText(): Promise<string>;
}

/** Socket-free request and response: routing and auth are tested without a port. */
export interface AdminRequest {
  method: string;
  path: string;
  authorization: string | undefined;
  /** The request body (UTF-8), at most MAX_BODY_BYTES; '' or absent when there is none. */
  body?: string;
  query?: URLSearchParams;
  /** Lower-case names, as node:http gives them. */
  headers?: Record<string, string | string[] | undefined>;
  /** `{name}` segments of the matched route, percent-decoded. */
  params?: Record<string, string>;
}

export interface AdminResponse {
  status: number;
  contentType: string;
  /** With `stream`, the first bytes of the answer. */
  body: string;
  headers?: Record<string, string>;
  /**
   * A streamed answer (e.g. NDJSON logs): called once the head and `body` are sent; writes until the
   * client goes, then the returned function is called (unsubscribe there).
   */
  stream?: (write: (chunk: string) => void) => () => void;
}

/** A request error with its HTTP status; the admin API answers it without logging it as a failure. */
export class AdminApiError extends StarlingError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
    opts: { cause?: unknown } = {},
  ) {
    super(code, message, { fault: status < 500 ? 'user' : 'system', ...opts });
  }
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
/** A streaming client that lets this much pile up unread is dropped. */
const MAX_STREAM_BACKLOG = 4 << 20;

/** One endpoint; it gets the (already authorised) request. */
export type AdminHandler = (req: AdminRequest) => Promise<AdminResponse>;

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
 * The agent's local admin API. Every endpoint, `/metrics` included, needs `Authorization: Bearer
 * <token>`: an unauthenticated caller learns nothing, not even which paths exist. Errors are
 * `{ "error": { "code", "message" } }`. Later parts of the agent add endpoints with route().
 */
export class AdminApi {
  private readonly server: http.Server;
  /** By path, or by pattern (`/v1/apps/{app}`) for the routes in `patterns`. */
  private readonly routes = new Map<string, Map<string, AdminHandler>>();
  private readonly patterns: { pattern: string; re: RegExp; names: string[] }[] = [];
  private readonly tokenHash: Buffer;
  private readonly controlHash: Buffer | undefined;
  /** `METHOD path-pattern` of the routes the control plane's token may call. */
  private readonly forControlPlane = new Set<string>();
  readonly gate: ConnectionGate;
  private readonly rate: RateLimiter;
  private readonly failedAuth: RateLimiter;

  constructor(private readonly o: AdminApiOptions) {
    this.tokenHash = sha256(o.token);
    this.controlHash = o.controlToken === undefined ? undefined : sha256(o.controlToken);
    this.server = http.createServer((req, res) => void this.serve(req, res));
    this.server.headersTimeout = 10_000;
    const limits = { ...ADMIN_LIMITS, ...o.limits };
    const clock = o.clock ?? new SystemClock();
    this.gate = new ConnectionGate({ maxConnections: limits.maxConnections, maxPerAddress: limits.maxConnectionsPerIp });
    this.gate.attach(this.server);
    this.rate = new RateLimiter({ perSecond: limits.requestsPerSecond, burst: limits.burst }, clock);
    this.failedAuth = new RateLimiter({ perSecond: 2, burst: 20 }, clock);
    const a = o.announcer;
    this.route('POST', '/v1/drain', async () => {
      const changed = a.drainState === 'serving';
      a.drain();
      if (changed) o.logger.info('drain requested', { delay_ms: o.drain.delay_ms });
      return json(200, this.drainReply(changed));
    });
    this.route('POST', '/v1/undrain', async () => {
      const changed = a.drainState !== 'serving';
      a.undrain();
      if (changed) o.logger.info('undrain requested');
      return json(200, this.drainReply(changed));
    });
    this.route('GET', '/v1/bgp/status', async () => json(200, await a.status()));
    this.route('GET', '/metrics', async () => ({
      status: 200,
      contentType: 'text/plain; version=0.0.4',
      body: await a.metricsText(),
    }));
  }

  /**
   * Adds an endpoint (the agent's later parts: machines, leases, logs). A `{name}` segment matches
   * one non-empty path segment and reaches the handler in `req.params`; exact paths win.
   */
  route(method: string, path: string, handler: AdminHandler, opts: { controlPlane?: boolean } = {}): void {
    if (opts.controlPlane) this.forControlPlane.add(`${method} ${path}`);
    const byMethod = this.routes.get(path) ?? new Map<string, AdminHandler>();
    byMethod.set(method, handler);
    this.routes.set(path, byMethod);
    if (path.includes('{') && !this.patterns.some((p) => p.pattern === path)) this.patterns.push({ pattern: path, ...compilePathTemplate(path) });
  }

  /** Auth first, then the route: the whole decision, without a socket. */
  async handle(req: AdminRequest): Promise<AdminResponse> {
    const found = this.find(req.path);
    if (!this.authorized(req.authorization) && !(found && this.controlPlaneMay(req, found.pattern))) return unauthorized();
    if (!found) return error(404, 'ERR_NOT_FOUND', `no endpoint ${req.path}`);
    const handler = found.byMethod.get(req.method);
    if (!handler) {
      const allow = [...found.byMethod.keys()].join(', ');
      return { ...error(405, 'ERR_METHOD_NOT_ALLOWED', `${req.path} accepts ${allow}, not ${req.method}`), headers: { allow } };
    }
    try {
      return await handler({ ...req, params: found.params });
    } catch (e) {
      if (e instanceof AdminApiError) return error(e.status, e.code, e.message);
      this.o.logger.error('admin request failed', { method: req.method, path: req.path, error: describeError(e) });
      if (e instanceof StarlingError) return error(e.fault === 'user' ? 400 : 500, e.code, e.message);
      return error(500, 'ERR_INTERNAL', describeError(e));
    }
  }

  listen(host: string, port: number): Promise<AddressInfo> {
    return listenOn(this.server, host, port);
  }

  close(): Promise<void> {
    return closeNow(this.server);
  }

  private find(path: string): { byMethod: Map<string, AdminHandler>; params: Record<string, string>; pattern: string } | undefined {
    const exact = this.routes.get(path);
    if (exact) return { byMethod: exact, params: {}, pattern: path };
    for (const p of this.patterns) {
      const m = p.re.exec(path);
      if (!m) continue;
      try {
        return { byMethod: this.routes.get(p.pattern)!, params: Object.fromEntries(p.names.map((n, i) => [n, decodeURIComponent(m[i + 1]!)])), pattern: p.pattern };
      } catch {
        return undefined; // malformed percent-encoding: no such endpoint
      }
    }
    return undefined;
  }

  private drainReply(changed: boolean): DrainReply {
    const { prepend, delay_ms } = this.o.drain;
    return { drain: this.o.announcer.drainState, changed, community: GRACEFUL_SHUTDOWN, prepend, delay_ms };
  }

  /** The control plane's token, on a route registered for it. */
  private controlPlaneMay(req: AdminRequest, pattern: string): boolean {
    if (!this.controlHash || !this.forControlPlane.has(`${req.method} ${pattern}`)) return false;
    const m = /^Bearer +(\S+) *$/i.exec(req.authorization ?? '');
    return m !== null && timingSafeEqual(sha256(m[1]!), this.controlHash);
  }

  /** Compares hashes in constant time, so neither the token nor its length leaks through timing. */
  private authorized(header: string | undefined): boolean {
    const m = /^Bearer +(\S+) *$/i.exec(header ?? '');
    return m !== null && timingSafeEqual(sha256(m[1]!), this.tokenHash);
  }

  /** Which token a request carries (for its rate), or undefined when it carries none this API takes. */
  private caller(req: { method: string; path: string; authorization: string | undefined }): 'local' | 'control' | undefined {
    if (this.authorized(req.authorization)) return 'local';
    const found = this.find(req.path);
    return found && this.controlPlaneMay(req, found.pattern) ? 'control' : undefined;
  }

  /**
   * Auth, then the rate, from the request head alone; only then is the body read (413 over the
   * cap). An answer given before the body arrived closes the connection instead of reading it.
   */
  private async serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://agent');
    const authorization = req.headers.authorization;
    const head = { method: req.method ?? 'GET', path: url.pathname, authorization };
    const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
    const early = (r: AdminResponse): void => {
      res.writeHead(r.status, { 'content-type': r.contentType, 'cache-control': 'no-store', ...(hasBody ? { connection: 'close' } : {}), ...r.headers });
      res.end(r.body);
      if (hasBody) req.resume();
    };
    const who = this.caller(head);
    if (!who) {
      const d = this.failedAuth.take(addressKey(req.socket.remoteAddress));
      return early(d.ok ? unauthorized() : tooMany(d.retryAfterS));
    }
    const d = this.rate.take(who);
    if (!d.ok) return early(tooMany(d.retryAfterS));
    const declared = Number(req.headers['content-length'] ?? 0);
    const body = declared > MAX_BODY_BYTES ? undefined : await readRequestBody(req, MAX_BODY_BYTES).catch(() => null);
    if (body === null) return void res.destroy(); // the client went away mid-body
    if (body === undefined) return early({ ...error(413, 'ERR_BODY_TOO_LARGE', `request bodies are at most ${MAX_BODY_BYTES} bytes`), headers: { connection: 'close' } });
    const out = await this.handle({ ...head, body, query: url.searchParams, headers: req.headers });
    res.writeHead(out.status, { 'content-type': out.contentType, 'cache-control': 'no-store', ...out.headers });
    if (!out.stream) return void res.end(out.body);
    res.flushHeaders();
    if (out.body !== '') res.write(out.body);
    let stop: () => void;
    try {
      stop = out.stream((chunk) => {
        if (res.destroyed) return;
        if (res.writableLength > MAX_STREAM_BACKLOG) return void res.destroy();
        res.write(chunk);
      });
    } catch (e) {
      this.o.logger.error('admin stream failed', { method: req.method, path: url.pathname, error: describeError(e) });
      return void res.destroy();
    }
    if (res.destroyed) stop();
    else res.once('close', stop);
  }
}


function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** Unknown values are `null`, not left out: every documented key is always present. */
export function json(status: number, value: unknown): AdminResponse {
  return { status, contentType: 'application/json', body: JSON.stringify(value, (_k, v: unknown) => (v === undefined ? null : v)) + '\n' };
}

export function error(status: number, code: string, message: string): AdminResponse {
  return json(status, { error: { code, message } });
}

function tooMany(retryAfterS: number): AdminResponse {
  return { ...error(429, 'ERR_RATE_LIMITED', `too many requests: retry in ${retryAfterS} s`), headers: { 'retry-after': String(retryAfterS) } };
}

function unauthorized(): AdminResponse {
  const out = error(401, 'ERR_UNAUTHORIZED', 'missing or wrong bearer token (Authorization: Bearer <token from token_file>)');
  return { ...out, headers: { 'www-authenticate': 'Bearer realm="starling-agent"' } }; // RFC 6750 section 3
}

// The client half lives in admin-client.ts; re-exported so callers keep one import.
export { loadOrCreateToken, callAdminApi, openAdminApi, hostPort, type AdminCallOptions } from './admin-client.js';
