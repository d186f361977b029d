/**
 * Who is calling, and what a route lets them do. The control plane knows four callers (and
 * `anonymous`, on the one public route):
 *
 *   platform  the operator (control.toml `token_file`): every org, orgs themselves, hosts
 *   user      a token of one org (and maybe one app) with a scope: read < deploy < admin
 *   host      a joined host's credential: only its own registration, its own machines
 *   join      a one-time join token: only `POST /v1/hosts/join`
 *
 * Each route declares an Access; `check` says 403 when a known caller may not use it. An app of
 * another org (or another app than a token's own) is answered 404 by the router, exactly as an app
 * that does not exist, so a token learns nothing about other tenants.
 */
import { DEFAULT_ORG } from '../../contract/index.js';
import type { Clock } from '../../shared/index.js';
import type { StateStore } from '../store/index.js';
import { hashSecret, matchesHash, parseSecret, scopeAtLeast, type HostCredentialDoc, type JoinTokenDoc, type Scope, type TokenDoc } from './tokens.js';

export type Principal =
  | { kind: 'anonymous' }
  | { kind: 'platform' }
  /** The scraper's token (control.toml metrics_token_file): reads /metrics, nothing else. */
  | { kind: 'metrics' }
  | { kind: 'user'; token: string; org: string; app: string | null; scope: Scope }
  | { kind: 'host'; host: string; region: string }
  | { kind: 'join'; join: JoinTokenDoc };

/** `public`: no token; `any`: any caller but a join token; a scope: users with at least it (and the platform). */
export type Access = 'public' | 'any' | Scope | 'platform' | 'host' | 'feed' | 'join' | 'metrics';

export type AuthResult = { ok: true; principal: Principal } | { ok: false; code: 'ERR_UNAUTHORIZED' | 'ERR_TOKEN_EXPIRED'; message: string };

export { DEFAULT_ORG };

export class Authenticator {
  private readonly platform: string[];
  private readonly metrics: string[];

  constructor(private readonly o: { store: StateStore; platformTokens: readonly string[]; metricsTokens?: readonly string[] | undefined; clock: Clock }) {
    this.platform = o.platformTokens.map(hashSecret);
    this.metrics = (o.metricsTokens ?? []).map(hashSecret);
  }

  /** Reads `Authorization: Bearer <token>`; at most one store read. */
  async authenticate(header: string | undefined): Promise<AuthResult> {
    const m = /^Bearer +(\S+) *$/i.exec(header ?? '');
    const token = m?.[1];
    const parsed = token === undefined ? undefined : parseSecret(token);
    if (!token || !parsed) return denied();
    switch (parsed.kind) {
      case 'platform': {
        // Every hash is compared (no early exit), each in constant time.
        let ok = false;
        for (const h of this.platform) ok = matchesHash(token, h) || ok;
        let scraper = false;
        for (const h of this.metrics) scraper = matchesHash(token, h) || scraper;
        if (ok) return { ok: true, principal: { kind: 'platform' } };
        return scraper ? { ok: true, principal: { kind: 'metrics' } } : denied();
      }
      case 'user': {
        const doc = (await this.o.store.get('tokens', parsed.id))?.value as TokenDoc | undefined;
        if (!doc || !matchesHash(token, doc.hash)) return denied();
        if (this.expired(doc.expires_at)) return expired('token', doc.expires_at!);
        return { ok: true, principal: { kind: 'user', token: doc.id, org: doc.org, app: doc.app, scope: doc.scope } };
      }
      case 'host': {
        const doc = (await this.o.store.get('host_credentials', parsed.host))?.value as HostCredentialDoc | undefined;
        if (!doc || !matchesHash(token, doc.hash)) return denied();
        return { ok: true, principal: { kind: 'host', host: doc.host, region: doc.region } };
      }
      case 'join': {
        const doc = (await this.o.store.get('join_tokens', parsed.id))?.value as JoinTokenDoc | undefined;
        if (!doc || !matchesHash(token, doc.hash)) return denied('the join token is not valid: it was used already, revoked, or never issued');
        if (this.expired(doc.expires_at)) return expired('join token', doc.expires_at);
        return { ok: true, principal: { kind: 'join', join: doc } };
      }
    }
  }

  private expired(at: string | null): boolean {
    return at !== null && Date.parse(at) <= this.o.clock.now();
  }
}

function denied(message = 'missing or wrong bearer token'): AuthResult {
  return { ok: false, code: 'ERR_UNAUTHORIZED', message };
}

function expired(what: string, at: string): AuthResult {
  return { ok: false, code: 'ERR_TOKEN_EXPIRED', message: `the ${what} expired at ${at}` };
}

/** Whether `p` may call a route with `access`; the reason when not (always a 403: the caller is known). */
export function check(p: Principal, access: Access): { ok: true } | { ok: false; message: string } {
  const no = (message: string): { ok: false; message: string } => ({ ok: false, message });
  if (access === 'public') return { ok: true };
  if (p.kind === 'anonymous') return no('this endpoint needs a token');
  if (p.kind === 'join') return access === 'join' ? { ok: true } : no('a join token is only good for joining (POST /v1/hosts/join)');
  if (p.kind === 'metrics') return access === 'metrics' ? { ok: true } : no('the metrics token only reads /metrics');
  switch (access) {
    case 'metrics':
      return p.kind === 'platform' ? { ok: true } : no("this endpoint needs the metrics token (control.toml metrics_token_file) or the platform operator's");
    case 'join':
      return no('this endpoint takes a join token (starling hosts add prints one)');
    case 'any':
      return { ok: true };
    case 'platform':
      return p.kind === 'platform' ? { ok: true } : no("this endpoint needs the platform operator's token (control.toml token_file)");
    case 'host':
      return p.kind === 'host' ? { ok: true } : no('this endpoint is for hosts: it takes a host credential (an agent gets one when it joins)');
    case 'feed':
      return p.kind === 'host' || p.kind === 'platform' ? { ok: true } : no('the feed is for hosts and the platform operator');
    default:
      if (p.kind === 'platform') return { ok: true };
      if (p.kind === 'host') return no('a host credential cannot act on apps');
      return scopeAtLeast(p.scope, access) ? { ok: true } : no(`this token's scope is ${p.scope}; this endpoint needs ${access}`);
  }
}

/** Whether `p` sees the app `name` of org `org` (apps without an org are in DEFAULT_ORG). */
export function seesApp(p: Principal, app: { name: string; org?: string | undefined }): boolean {
  if (p.kind === 'platform') return true;
  if (p.kind !== 'user') return false;
  return (app.org ?? DEFAULT_ORG) === p.org && (p.app === null || p.app === app.name);
}

/** Whether `p` sees org `org` at all (others' orgs are answered 404). */
export function seesOrg(p: Principal, org: string): boolean {
  return p.kind === 'platform' || (p.kind === 'user' && p.org === org);
}

/** The rate limiter's key for a caller: one bucket per token, per host, or for the operator. */
export function principalKey(p: Principal): string {
  switch (p.kind) {
    case 'anonymous':
      return 'anonymous';
    case 'platform':
      return 'platform';
    case 'metrics':
      return 'metrics';
    case 'user':
      return `token:${p.token}`;
    case 'host':
      return `host:${p.host}`;
    case 'join':
      return `join:${p.join.id}`;
  }
}
