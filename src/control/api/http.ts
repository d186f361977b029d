/**
 * The control plane's HTTP core, without sockets: a route table, bearer-token auth, JSON bodies
 * checked by zod (every issue listed at once), and `{ "error": { "code", "message" } }` answers.
 * server.ts puts it on a port; the OpenAPI document is generated from the same table (openapi.ts).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { compilePathTemplate, StarlingError, describeError, fromZod, type Logger } from '../../shared/index.js';

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
   * Who may call it: `user` (default: the operator's token), `agent` (a host's token: registering,
   * reporting machine states, fetching a machine's secrets), `any` (either: the feed, images), or
   * false (only /healthz). A user token cannot read secret values; an agent token cannot change apps.
   */
  auth?: AuthRole | false;
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
  raw?: (req: IncomingMessage, res: ServerResponse, params: Record<string, string>) => Promise<void>;
  /** The raw route's content type, for the OpenAPI document. */
  contentType?: string;
}

export type AuthRole = 'user' | 'agent' | 'any';

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

export class Router {
  private readonly compiled: Compiled[];
  private readonly userHashes: Buffer[];
  private readonly agentHashes: Buffer[];

  constructor(
    readonly routes: readonly Route[],
    tokens: readonly string[],
    private readonly logger: Logger,
    agentTokens: readonly string[] = [],
  ) {
    if (tokens.length === 0) throw new StarlingError('ERR_CONTROL_NO_TOKEN', 'the control plane needs at least one API token');
    this.userHashes = tokens.map(sha256);
    this.agentHashes = agentTokens.map(sha256);
    this.compiled = routes.map((r) => ({ route: r, ...compilePathTemplate(r.path) }));
  }

  /** Auth, route, validation and the handler: the whole decision, without a socket. */
  async handle(req: ApiRequest): Promise<ApiResponse> {
    const matches = this.match(req.path);
    const exact = matches.find((m) => m.route.method === req.method);
    // Without an exact match (404, 405) any valid token may learn that much; never without one.
    const role = exact ? exact.route.auth ?? 'user' : 'any';
    if (role !== false && !this.authorized(req.authorization, role)) return unauthorized(role);
    if (matches.length === 0) return json(404, errorBody('ERR_NOT_FOUND', `no endpoint ${req.path}`));
    if (!exact) {
      const allow = [...new Set(matches.map((m) => m.route.method))].join(', ');
      return json(405, errorBody('ERR_METHOD_NOT_ALLOWED', `${req.path} accepts ${allow}, not ${req.method}`), { allow });
    }
    try {
      const body = parseBody(exact.route, req.body);
      const query = parseQuery(exact.route, req.query);
      return await exact.route.handler({ body, query, params: exact.params, signal: req.signal } as HandlerInput<never, never>);
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

  /** A raw route for this request, with its params and who may call it; undefined for JSON routes. */
  matchRaw(method: string, path: string): { route: Route; params: Record<string, string> } | undefined {
    const m = this.match(path).find((x) => x.route.method === method);
    return m?.route.raw ? m : undefined;
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

  /** Whether the Authorization header carries a token of `role` (the raw-body routes use this too). */
  authorized(header: string | undefined, role: AuthRole): boolean {
    const m = /^Bearer +(\S+) *$/i.exec(header ?? '');
    if (!m) return false;
    const given = sha256(m[1]!);
    const hashes = role === 'user' ? this.userHashes : role === 'agent' ? this.agentHashes : [...this.userHashes, ...this.agentHashes];
    // Every token is compared (no early exit), each in constant time over its SHA-256.
    let ok = false;
    for (const h of hashes) ok = timingSafeEqual(given, h) || ok;
    return ok;
  }
}

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

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

export function unauthorized(role: AuthRole): ApiResponse {
  const which = role === 'agent' ? 'an agent token (agent_token_file)' : role === 'user' ? 'the API token (token_file)' : 'a token (token_file or agent_token_file)';
  // RFC 6750 section 3: the challenge names the scheme.
  return json(401, errorBody('ERR_UNAUTHORIZED', `missing or wrong bearer token: this endpoint needs ${which} as Authorization: Bearer <token>`), {
    'www-authenticate': 'Bearer realm="starling-control"',
  });
}

/** A route served by `raw` (a streamed, non-JSON body); see Route.raw. */
export function rawRoute(r: Omit<Route, 'handler' | 'requestSchema' | 'querySchema'> & { raw: NonNullable<Route['raw']> }): Route {
  return {
    ...r,
    handler: () => Promise.reject(new Error(`${r.method} ${r.path} is served by its raw handler`)),
  };
}
