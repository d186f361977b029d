/**
 * The control plane's routes on the HTTP kit (src/http): its callers (auth/), the app
 * check that answers another tenant's app as a 404, the scope check, and what the state store's
 * errors answer. Handlers throw HttpError for a request error; the kit answers it.
 */
import { type Logger } from '../../shared/index.js';
import { HttpError, Router, errorResponse, json, rawRoute as kitRawRoute, route as kitRoute, type HandlerInput, type HttpResponse, type Route as KitRoute } from '../../http/index.js';
import type { z } from 'zod';
import { APP_NAME_RE } from '../../contract/index.js';
import { check, seesApp, type Access, type Authenticator, type Principal } from '../auth/index.js';
import type { StateStore } from '../store/index.js';

export { HttpError, json };
export type ApiResponse = HttpResponse;

/** A control plane route: its access is one of the control plane's (auth/principal.ts). */
export type Route = KitRoute<Principal> & { access: Access };

export function route<B extends z.ZodType = z.ZodUndefined, Q extends z.ZodObject = z.ZodObject>(
  r: Omit<KitRoute<Principal>, 'handler' | 'requestSchema' | 'querySchema' | 'access'> & {
    access: Access;
    requestSchema?: B;
    querySchema?: Q;
    handler: (input: HandlerInput<Principal, z.output<B>, z.output<Q>>) => Promise<HttpResponse>;
  },
): Route {
  return kitRoute<Principal, B, Q>(r) as Route;
}

export function rawRoute(r: Omit<Route, 'handler' | 'requestSchema' | 'querySchema'> & { raw: NonNullable<Route['raw']> }): Route {
  return kitRawRoute<Principal>(r) as Route;
}

/** Routes about apps by scope; host, feed and platform routes name apps for other reasons. */
const isAppAccess = (a: string): boolean => a === 'read' || a === 'deploy' || a === 'admin';

/** The control plane's router: its table, its callers, its store. */
export function controlRouter(routes: readonly Route[], auth: Authenticator, store: StateStore, logger: Logger): Router<Principal> {
  return new Router<Principal>(routes, {
    anonymous: { kind: 'anonymous' },
    logger,
    async authenticate(headers) {
      const header = headers.authorization;
      const who = await auth.authenticate(typeof header === 'string' ? header : undefined);
      return who.ok ? { ok: true, principal: who.principal } : { ok: false, response: unauthorized(who.code, who.message) };
    },
    async authorize(principal, r, params) {
      const app = params.app;
      if (app !== undefined && isAppAccess(r.access) && principal.kind !== 'platform') {
        const doc = APP_NAME_RE.test(app) ? ((await store.get('apps', app))?.value as { name: string; org?: string } | undefined) : undefined;
        // Another org's app is answered exactly as one that does not exist.
        if (!doc || !seesApp(principal, doc)) return errorResponse(404, 'ERR_APP_NOT_FOUND', `no app ${JSON.stringify(app)}`);
      }
      const allowed = check(principal, r.access as Access);
      return allowed.ok ? undefined : errorResponse(403, 'ERR_FORBIDDEN', `${r.method} ${r.path}: ${allowed.message}`);
    },
  });
}

export function unauthorized(code: string, message: string): HttpResponse {
  const hint = code === 'ERR_TOKEN_EXPIRED' ? ': ask for a new token (starling tokens create)' : ": send Authorization: Bearer <token> (a token from starling tokens create, or the operator's token_file)";
  // RFC 6750 section 3: the challenge names the scheme.
  return errorResponse(401, code, `${message}${hint}`, undefined, { 'www-authenticate': 'Bearer realm="starling-control"' });
}
