/**
 * One socket-free router for every HTTP API of the platform (the control plane, an agent's admin
 * and Machines API, the proxy's admin endpoint): a route table with zod-checked bodies and queries
 * (every issue at once, each with its path), an access rule per route that the API's own
 * authenticator and authoriser interpret, the error envelope, and an OpenAPI document from the same
 * table (openapi.ts). node.ts puts it on a socket; tests call it without one.
 *
 * The order of a request is the order of what it costs: `admit` decides from the request line and
 * the headers alone — the route (404, 405), the caller (401), their right to it (403 / 404) — so a
 * server reads no body before that; `run` parses the body and query and calls the handler.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';
import { StarlingError, describeError } from '../shared/index.js';
import type { Logger } from '../shared/index.js';
import { compilePathTemplate } from '../shared/index.js';
import { fromZod } from '../shared/index.js';
import { HttpError, errorBody, statusFor, type ErrorDetail } from './errors.js';

export type Headers = Record<string, string | string[] | undefined>;

export interface HttpRequest {
  method: string;
  /** Percent-encoded, as received, without the query. */
  path: string;
  /** Lower-case names, as node:http gives them. */
  headers: Headers;
  /** UTF-8 text; '' when there is none. */
  body: string;
  query: URLSearchParams;
  /** Aborted when the client goes away or the server closes (long polls stop waiting). */
  signal: AbortSignal;
}

export interface HttpResponse {
  status: number;
  /** Serialised as JSON (undefined values as null: every documented key is always present). */
  json?: unknown;
  /** A text answer instead (metrics, plain health). */
  text?: string;
  contentType?: string;
  headers?: Record<string, string>;
  /**
   * A streamed answer (NDJSON logs): called once the head (and `text`, if any) is sent; writes until
   * the client goes, then the returned function is called.
   */
  stream?: (write: (chunk: string) => void) => () => void;
}

/** What a handler sees: the parsed body and query, the `{name}` segments, the caller. */
export interface HandlerInput<P, B = unknown, Q = Record<string, string | undefined>> {
  body: B;
  query: Q;
  params: Record<string, string>;
  signal: AbortSignal;
  headers: Headers;
  principal: P;
}

export interface Route<P = unknown> {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** OpenAPI-style template: `/v1/apps/{app}`; a `{name}` matches one non-empty segment; exact paths win. */
  path: string;
  summary: string;
  /** Who may call it, in the API's own words (scopes, roles); `public` needs no token. */
  access: string;
  requestSchema?: z.ZodType;
  /** A strict object of string fields; query parameters are validated like bodies. */
  querySchema?: z.ZodObject;
  /** Status → description, for the OpenAPI document. */
  responses: Record<string, string>;
  handler: (input: HandlerInput<P, never, never>) => Promise<HttpResponse>;
  /** A route whose body is not JSON (image uploads): the server hands it the streams after admit. */
  raw?: (req: IncomingMessage, res: ServerResponse, params: Record<string, string>, principal: P) => Promise<void>;
  /** The raw route's content type, for the OpenAPI document. */
  contentType?: string;
  /**
   * A raw route that streams both ways for as long as its client wants (exec into a machine, a
   * forwarded port): the server's whole-request timeout does not apply to it once admitted.
   */
  longLived?: boolean;
}

/** Typed route definition: the handler's input types follow from the schemas. */
export function route<P, B extends z.ZodType = z.ZodUndefined, Q extends z.ZodObject = z.ZodObject>(
  r: Omit<Route<P>, 'handler' | 'requestSchema' | 'querySchema'> & {
    requestSchema?: B;
    querySchema?: Q;
    handler: (input: HandlerInput<P, z.output<B>, z.output<Q>>) => Promise<HttpResponse>;
  },
): Route<P> {
  return r;
}

export function json(status: number, body: unknown, headers?: Record<string, string>): HttpResponse {
  return headers ? { status, json: body, headers } : { status, json: body };
}

export function errorResponse(status: number, code: string, message: string, details?: readonly ErrorDetail[], headers?: Record<string, string>): HttpResponse {
  return json(status, errorBody(code, message, details), headers);
}

/** The outcome of authentication: a caller, or the answer to give instead (401, 429…). */
export type Authenticated<P> = { ok: true; principal: P } | { ok: false; response: HttpResponse };

export interface RouterOptions<P> {
  /** Who is calling, from the headers; `route` is undefined for a path no route matches. */
  authenticate(headers: Headers, route: Route<P> | undefined): Promise<Authenticated<P>>;
  /** May this caller use this route (with these params)? An answer refuses (403, or 404 to hide). */
  authorize?(principal: P, route: Route<P>, params: Record<string, string>): Promise<HttpResponse | undefined>;
  /** The caller of a `public` route. */
  anonymous: P;
  logger: Logger;
}

/** A request that passed the route, auth and access checks, waiting for its body. */
export interface Admitted<P> {
  route: Route<P>;
  params: Record<string, string>;
  principal: P;
}

interface Compiled<P> {
  route: Route<P>;
  re: RegExp;
  names: string[];
  exact: boolean;
}

export class Router<P> {
  private compiled: Compiled<P>[] = [];
  private readonly table: Route<P>[] = [];

  constructor(
    routes: readonly Route<P>[],
    private readonly o: RouterOptions<P>,
  ) {
    this.add(...routes);
  }

  get routes(): readonly Route<P>[] {
    return this.table;
  }

  /** More routes (an API whose parts register their own); a method and path already taken is a bug. */
  add(...routes: Route<P>[]): void {
    for (const r of routes) {
      if (this.table.some((t) => t.method === r.method && t.path === r.path)) throw new Error(`route ${r.method} ${r.path} is registered twice`);
      this.table.push(r);
    }
    // Exact paths first, so `/v1/hosts/join` wins over `/v1/hosts/{host}`.
    this.compiled = this.table.map((r) => ({ route: r, ...compilePathTemplate(r.path), exact: !r.path.includes('{') })).sort((a, b) => Number(b.exact) - Number(a.exact));
  }

  /** admit, then run: the whole decision, without a socket (tests, embedding). */
  async handle(req: HttpRequest): Promise<HttpResponse> {
    const admitted = await this.admit(req.method, req.path, req.headers);
    if ('status' in admitted) return admitted;
    return this.run(admitted, req);
  }

  async admit(method: string, path: string, headers: Headers): Promise<Admitted<P> | HttpResponse> {
    const matches = this.match(path);
    const exact = matches.find((m) => m.route.method === method);
    if (exact?.route.access === 'public') return { ...exact, principal: this.o.anonymous };
    const who = await this.o.authenticate(headers, exact?.route);
    // Without a good token nobody learns whether a path exists (404, 405).
    if (!who.ok) return who.response;
    if (matches.length === 0) return errorResponse(404, 'ERR_NOT_FOUND', `no endpoint ${path}`);
    if (!exact) {
      const allow = [...new Set(matches.map((m) => m.route.method))].join(', ');
      return errorResponse(405, 'ERR_METHOD_NOT_ALLOWED', `${path} accepts ${allow}, not ${method}`, undefined, { allow });
    }
    const refused = await this.o.authorize?.(who.principal, exact.route, exact.params);
    if (refused) return refused;
    return { ...exact, principal: who.principal };
  }

  async run(a: Admitted<P>, req: Pick<HttpRequest, 'method' | 'path' | 'body' | 'query' | 'signal' | 'headers'>): Promise<HttpResponse> {
    try {
      const body = parseBody(a.route, req.body);
      const query = parseQuery(a.route, req.query);
      return await a.route.handler({ body, query, params: a.params, signal: req.signal, headers: req.headers, principal: a.principal } as HandlerInput<P, never, never>);
    } catch (e) {
      const status = statusFor(e);
      if (status !== undefined && e instanceof HttpError) return errorResponse(status, e.code, e.message, e.details);
      if (status !== undefined && e instanceof StarlingError) return errorResponse(status, e.code, e.hint ? `${e.message} (${e.hint})` : e.message);
      // Only method and path: bodies may hold secret values.
      this.o.logger.error('API request failed', { method: req.method, path: req.path, error: describeError(e) });
      return errorResponse(500, e instanceof StarlingError ? e.code : 'ERR_INTERNAL', 'internal error; see the log of the server');
    }
  }

  private match(path: string): { route: Route<P>; params: Record<string, string> }[] {
    const out: { route: Route<P>; params: Record<string, string> }[] = [];
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

function parseBody<P>(r: Route<P>, text: string): unknown {
  if (!r.requestSchema) {
    if (text.trim() !== '') throw new HttpError(400, 'ERR_BAD_REQUEST', `${r.method} ${r.path} takes no request body`);
    return undefined;
  }
  if (text.trim() === '') {
    // An optional body may be left out; a required one is named as missing, not as bad JSON.
    const none = r.requestSchema.safeParse(undefined);
    if (none.success) return none.data;
    throw new HttpError(400, 'ERR_BAD_REQUEST', `${r.method} ${r.path} needs a JSON request body`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    // Not JSON.parse's message: it quotes part of the body, which may be a secret value.
    throw new HttpError(400, 'ERR_BAD_REQUEST', 'the request body is not valid JSON');
  }
  return validate(r.requestSchema, doc, 'request body');
}

function parseQuery<P>(r: Route<P>, params: URLSearchParams): unknown {
  const raw: Record<string, string> = {};
  for (const [k, v] of params) raw[k] = v;
  if (!r.querySchema) {
    const keys = Object.keys(raw);
    if (keys.length > 0) throw new HttpError(400, 'ERR_BAD_REQUEST', `unknown query parameter${keys.length > 1 ? 's' : ''} ${keys.join(', ')}`);
    return {};
  }
  return validate(r.querySchema, raw, 'query');
}

/** Every issue at once, each with its path; never the offending value (it may be a secret). */
export function validate<T extends z.ZodType>(schema: T, value: unknown, what: string): z.output<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const details = fromZod(result.error);
  throw new HttpError(400, 'ERR_BAD_REQUEST', `invalid ${what}: ${details.map((d) => `${d.path}: ${d.message}`).join('; ')}`, details);
}

/** A route served by `raw` (a streamed, non-JSON body); see Route.raw. */
export function rawRoute<P>(r: Omit<Route<P>, 'handler' | 'requestSchema' | 'querySchema'> & { raw: NonNullable<Route<P>['raw']> }): Route<P> {
  return { ...r, handler: () => Promise.reject(new Error(`${r.method} ${r.path} is served by its raw handler`)) };
}
