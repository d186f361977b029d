/**
 * The control plane's HTTP core, without sockets: a route table, bearer-token auth, JSON bodies
 * checked by zod (every issue listed at once), and `{ "error": { "code", "message" } }` answers.
 * server.ts puts it on a port; the OpenAPI document is generated from the same table (openapi.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { compilePathTemplate, StarlingError, describeError, fromZod, type Logger } from '../../shared/index.js';
import { check, seesApp, type Access, type Authenticator, type Principal } from '../auth/index.js';
import type { StateStore } from '../store/index.js';

export interface ApiRequest {
  method: string;
  /** Percent-encoded, as received (without the query). */
  path: string;
  authorization: string | undefined;
  /** UTF-8 text; '' when there is none. */
  body: string;
  query: URLSearchParams;
  /** Aborted when the client goes away or the server closes (long polls stop waiting). */
  signal: AbortSignal;
}

/** What a handler sees: the parsed body, the parsed query and the `{name}` path segments. */
export interface HandlerInput<B = unknown, Q = Record<string, string | undefined>> {
  body: B;
  query: Q;
  params: Record<string, string>;
  signal: AbortSignal;
  /** Who is calling; already checked against the route's access (and its `{app}`, when it has one). */
  principal: Principal;
}

export interface ApiResponse {
  status: number;
  /** Serialised as JSON. */
  body: unknown;
  headers?: Record<string, string>;
}

/** One endpoint. Both the router and the OpenAPI document are built from a table of these. */
export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** OpenAPI-style template: `/v1/apps/{app}`; a `{name}` matches one non-empty segment. */
  path: string;
  summary: string;
  /**
   * Who may call it (auth/principal.ts): a scope (`read`, `deploy`, `admin`: org tokens with at
   * least that scope, and the platform operator), `platform`, `host` (a joined host), `feed` (hosts
   * and the platform), `join` (a join token), `any` or `public` (only /healthz). Every route says.
   * A route with `{app}` in its path is also checked against the token's org and app: another
   * tenant's app is a 404.
   */
  access: Access;
  requestSchema?: z.ZodType;
  /** A strict object of string fields; query parameters are validated like bodies. */
  querySchema?: z.ZodObject;
  /** Status → description; errors use the shared Error schema in the OpenAPI document. */
  responses: Record<string, string>;
  handler: (input: HandlerInput<never, never>) => Promise<ApiResponse>;
  /**
   * A route whose body is not JSON (image uploads and downloads): the server hands it the socket
   * streams after auth, without buffering the body. `handler` is then never called.
   */
  raw?: (req: IncomingMessage, res: ServerResponse, params: Record<string, string>, principal: Principal) => Promise<void>;
  /** The raw route's content type, for the OpenAPI document. */
  contentType?: string;
}

/** Typed route definition: the handler's input types follow from the schemas. */
export function route<B extends z.ZodType = z.ZodUndefined, Q extends z.ZodObject = z.ZodObject>(
  r: Omit<Route, 'handler' | 'requestSchema' | 'querySchema'> & {
    requestSchema?: B;
    querySchema?: Q;
    handler: (input: HandlerInput<z.output<B>, z.output<Q>>) => Promise<ApiResponse>;
  },
): Route {
  return r as unknown as Route;
}

/** A request error with its HTTP status; answered as is, not logged as a failure. */
export class ApiError extends StarlingError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
    readonly details?: { path: string; message: string }[],
  ) {
    super(code, message, { fault: status < 500 ? 'user' : 'system' });
  }
}

export function json(status: number, body: unknown, headers?: Record<string, string>): ApiResponse {
  return headers ? { status, body, headers } : { status, body };
}

export function errorBody(code: string, message: string, details?: { path: string; message: string }[]): unknown {
  return { error: details ? { code, message, details } : { code, message } };
}

/** Store errors a client can cause, and the status each answers with. */
const STORE_STATUS: Record<string, number> = {
  ERR_STORE_CONFLICT: 409,
  ERR_STORE_INVALID: 400,
  ERR_STORE_TOO_LARGE: 413,
  ERR_STORE_COMPACTED: 410,
  ERR_STORE_FUTURE_REVISION: 410,
};

interface Compiled {
  route: Route;
  re: RegExp;
  names: string[];
}

/** A request that passed auth and access checks, waiting for its body. */
export interface Admitted {
  route: Route;
  params: Record<string, string>;
  principal: Principal;
}

export class Router {
  private readonly compiled: Compiled[];

  constructor(
    readonly routes: readonly Route[],
    private readonly auth: Authenticator,
    private readonly store: StateStore,
    private readonly logger: Logger,
  ) {
    this.compiled = routes.map((r) => ({ route: r, ...compilePathTemplate(r.path) }));
  }

  /** Prepare, then run: the whole decision, without a socket (tests, embedding). */
  async handle(req: ApiRequest): Promise<ApiResponse> {
    const admitted = await this.admit(req.method, req.path, req.authorization);
    if ('status' in admitted) return admitted;
    return this.run(admitted, req);
  }

  /**
   * Everything that can be decided from the request line and the headers: the route, the caller
   * (401), whether they may use it (403), whether its `{app}` is theirs to see (404). The server
   * calls this before it reads a byte of the body.
   */
  async admit(method: string, path: string, authorization: string | undefined): Promise<Admitted | ApiResponse> {
    const matches = this.match(path);
    const exact = matches.find((m) => m.route.method === method);
    if (exact?.route.access === 'public') return { ...exact, principal: { kind: 'anonymous' } };
    const who = await this.auth.authenticate(authorization);
    // Without a valid token nobody learns whether a path exists (404, 405).
    if (!who.ok) return unauthorized(who.code, who.message);
    if (matches.length === 0) return json(404, errorBody('ERR_NOT_FOUND', `no endpoint ${path}`));
    if (!exact) {
      const allow = [...new Set(matches.map((m) => m.route.method))].join(', ');
      return json(405, errorBody('ERR_METHOD_NOT_ALLOWED', `${path} accepts ${allow}, not ${method}`), { allow });
    }
    const principal = who.principal;
    const app = exact.params.app;
    if (app !== undefined && isAppAccess(exact.route.access) && principal.kind !== 'platform') {
      const doc = /^[a-z][a-z0-9-]{0,62}$/.test(app) ? ((await this.store.get('apps', app))?.value as { name: string; org?: string } | undefined) : undefined;
      // Another org's app is answered exactly as one that does not exist.
      if (!doc || !seesApp(principal, doc)) return json(404, errorBody('ERR_APP_NOT_FOUND', `no app ${JSON.stringify(app)}`));
    }
    const allowed = check(principal, exact.route.access);
    if (!allowed.ok) return json(403, errorBody('ERR_FORBIDDEN', `${method} ${exact.route.path}: ${allowed.message}`));
    return { ...exact, principal };
  }

  /** Validation and the handler, once the body is read. */
  async run(a: Admitted, req: Pick<ApiRequest, 'method' | 'path' | 'body' | 'query' | 'signal'>): Promise<ApiResponse> {
    try {
      const body = parseBody(a.route, req.body);
      const query = parseQuery(a.route, req.query);
      return await a.route.handler({ body, query, params: a.params, signal: req.signal, principal: a.principal } as HandlerInput<never, never>);
    } catch (e) {
      if (e instanceof ApiError) return json(e.status, errorBody(e.code, e.message, e.details));
      if (e instanceof StarlingError && STORE_STATUS[e.code] !== undefined) {
        return json(STORE_STATUS[e.code]!, errorBody(e.code, e.hint ? `${e.message} (${e.hint})` : e.message));
      }
      // Only method and path: bodies may hold secret values.
      this.logger.error('control API request failed', { method: req.method, path: req.path, error: describeError(e) });
      return json(500, errorBody(e instanceof StarlingError ? e.code : 'ERR_INTERNAL', 'internal error; see the control plane log'));
    }
  }

  private match(path: string): { route: Route; params: Record<string, string> }[] {
    const out: { route: Route; params: Record<string, string> }[] = [];
    for (const c of this.compiled) {
      const m = c.re.exec(path);
      if (!m) continue;
      try {
        out.push({ route: c.route, params: Object.fromEntries(c.names.map((n, i) => [n, decodeURIComponent(m[i + 1]!)])) });
      } catch {
        // malformed percent-encoding: this route does not match
      }
    }
    return out;
  }
}

/** Routes about apps by scope; host, feed and platform routes name apps for other reasons. */
const isAppAccess = (a: Access): boolean => a === 'read' || a === 'deploy' || a === 'admin';

function parseBody(r: Route, text: string): unknown {
  if (!r.requestSchema) {
    if (text.trim() !== '') throw new ApiError(400, 'ERR_BAD_REQUEST', `${r.method} ${r.path} takes no request body`);
    return undefined;
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    // Not JSON.parse's message: it quotes part of the body, which may be a secret value.
    throw new ApiError(400, 'ERR_BAD_REQUEST', 'the request body is not valid JSON');
  }
  return validate(r.requestSchema, doc, 'request body');
}

function parseQuery(r: Route, params: URLSearchParams): unknown {
  const raw: Record<string, string> = {};
  for (const [k, v] of params) raw[k] = v;
  if (!r.querySchema) {
    const keys = Object.keys(raw);
    if (keys.length > 0) throw new ApiError(400, 'ERR_BAD_REQUEST', `unknown query parameter${keys.length > 1 ? 's' : ''} ${keys.join(', ')}`);
    return {};
  }
  return validate(r.querySchema, raw, 'query');
}

/** Every issue at once, each with its path; never the offending value (it may be a secret). */
export function validate<T extends z.ZodType>(schema: T, value: unknown, what: string): z.output<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const details = fromZod(result.error);
  const message = `invalid ${what}: ${details.map((d) => `${d.path}: ${d.message}`).join('; ')}`;
  throw new ApiError(400, 'ERR_BAD_REQUEST', message, details);
}

export function unauthorized(code: string, message: string): ApiResponse {
  const hint = code === 'ERR_TOKEN_EXPIRED' ? ': ask for a new token (starling tokens create)' : ': send Authorization: Bearer <token> (a token from starling tokens create, or the operator\'s token_file)';
  // RFC 6750 section 3: the challenge names the scheme.
  return json(401, errorBody(code, `${message}${hint}`), { 'www-authenticate': 'Bearer realm="starling-control"' });
}

/** A route served by `raw` (a streamed, non-JSON body); see Route.raw. */
export function rawRoute(r: Omit<Route, 'handler' | 'requestSchema' | 'querySchema'> & { raw: NonNullable<Route['raw']> }): Route {
  return {
    ...r,
    handler: () => Promise.reject(new Error(`${r.method} ${r.path} is served by its raw handler`)),
  };
}
