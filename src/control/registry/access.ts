/**
 * Who may use the platform registry, with Starling's own tokens: the token comes as the password
 * of Basic auth (any user name: `skopeo --creds x:TOKEN`) or as a Bearer token, and is checked by
 * the control plane's Authenticator. Pull: a user token that sees the app (any scope), the
 * platform operator, or a host credential (agents pull every app's image). Push: deploy scope on
 * the app, or the operator. An app of another org is answered NAME_UNKNOWN, exactly as one that
 * does not exist: a token learns nothing about other tenants.
 */
import type { IncomingMessage } from 'node:http';
import { APP_NAME_RE, type AppDoc } from '../../contract/index.js';
import { addressKey, type RateLimiter } from '../../shared/index.js';
import { principalKey, scopeAtLeast, seesApp, type Authenticator, type Principal } from '../auth/index.js';
import type { StateStore } from '../store/index.js';
import { credentialOf, registryError, type RegistryErrorCode } from './manifest.js';

export interface RegistryAuth {
  authenticator: Authenticator;
  /** Requests answered 401, per client address (the /v1 API's limiter). */
  failedAuth?: RateLimiter | undefined;
  /** Requests per caller (the /v1 API's limiter). */
  rate?: RateLimiter | undefined;
}

export type Refusal = { status: number; body: unknown; headers: Record<string, string> };
export type Decision = { ok: true; principal: Principal } | { ok: false; refusal: Refusal };

export const CHALLENGE = 'Basic realm="Starling"';

function refuse(code: RegistryErrorCode, message: string, headers: Record<string, string> = {}): Decision {
  const e = registryError(code, message);
  return { ok: false, refusal: { status: e.status, body: e.body, headers } };
}

/** The caller, or the answer to give instead (401 with the Basic challenge, 429). */
export async function caller(auth: RegistryAuth | undefined, req: IncomingMessage): Promise<Decision> {
  const header = req.headers.authorization;
  const token = credentialOf(typeof header === 'string' ? header : undefined);
  // Never the token itself in any answer or log line.
  const who = token === undefined || !auth ? undefined : await auth.authenticator.authenticate(`Bearer ${token}`);
  if (!who?.ok) {
    const d = auth?.failedAuth?.take(`ip:${addressKey(req.socket.remoteAddress)}`);
    if (d && !d.ok) return refuse('TOOMANYREQUESTS', 'too many requests with a missing or wrong token from this address', { 'retry-after': String(d.retryAfterS) });
    const message = who && !who.ok && who.code === 'ERR_TOKEN_EXPIRED' ? who.message : 'authentication required: a Starling token as the password (Basic) or a Bearer token';
    return refuse('UNAUTHORIZED', message, { 'www-authenticate': CHALLENGE });
  }
  const p = who.principal;
  if (p.kind !== 'platform' && p.kind !== 'user' && p.kind !== 'host') return refuse('DENIED', 'this token cannot use the registry');
  const d = auth!.rate?.take(principalKey(p));
  if (d && !d.ok) return refuse('TOOMANYREQUESTS', 'too many requests with this token', { 'retry-after': String(d.retryAfterS) });
  return { ok: true, principal: p };
}

/** May `p` pull from (or push to) repository `name`? NAME_UNKNOWN for an app it cannot see. */
export async function mayUse(store: StateStore, p: Principal, name: string, push: boolean): Promise<Decision> {
  const doc = APP_NAME_RE.test(name) ? ((await store.get('apps', name))?.value as AppDoc | undefined) : undefined;
  const visible = doc !== undefined && (p.kind === 'platform' || p.kind === 'host' || seesApp(p, doc));
  if (!visible) return refuse('NAME_UNKNOWN', `no repository ${JSON.stringify(name.slice(0, 80))}`);
  if (!push || p.kind === 'platform') return { ok: true, principal: p };
  if (p.kind === 'user' && scopeAtLeast(p.scope, 'deploy')) return { ok: true, principal: p };
  return refuse('DENIED', p.kind === 'user' ? `this token's scope is ${p.scope}; pushing needs deploy` : 'a host credential only pulls');
}
