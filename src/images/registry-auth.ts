/**
 * Registry authentication without I/O: the `WWW-Authenticate` challenge of a 401 (RFC 9110 §11.6.1,
 * auth-params with quoted strings that may hold commas), the token endpoint's URL and answer (the
 * Docker token spec, distribution's docs/spec/auth/token.md), and a small cache of tokens by
 * (registry, scope) that honours `expires_in` with the time passed in.
 */

export interface Challenge {
  /** Lower-cased: 'bearer', 'basic', or whatever the registry named. */
  scheme: string;
  /** Parameter names lower-cased, values unquoted. */
  params: Record<string, string>;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/;

/**
 * Every challenge in a `WWW-Authenticate` value, in order. A token not followed by `=` starts a new
 * challenge, so `Bearer realm="a,b",scope="x", Basic realm="r"` is two. Malformed tails are dropped.
 */
export function parseWwwAuthenticate(header: string): Challenge[] {
  const out: Challenge[] = [];
  let s = header.trim();
  let current: Challenge | undefined;
  while (s.length > 0) {
    s = s.replace(/^[\s,]+/, '');
    const name = TOKEN.exec(s)?.[0];
    if (!name) break;
    s = s.slice(name.length);
    const rest = s.replace(/^\s*/, '');
    if (!rest.startsWith('=') || current === undefined) {
      // A scheme (token68 credentials after it are not used by registries and are skipped).
      current = { scheme: name.toLowerCase(), params: {} };
      out.push(current);
      continue;
    }
    s = rest.slice(1).replace(/^\s*/, '');
    let value: string;
    if (s.startsWith('"')) {
      let i = 1;
      value = '';
      while (i < s.length && s[i] !== '"') {
        if (s[i] === '\\' && i + 1 < s.length) i++;
        value += s[i];
        i++;
      }
      s = s.slice(i + 1);
    } else {
      value = /^[^\s,]*/.exec(s)![0];
      s = s.slice(value.length);
    }
    if (current) current.params[name.toLowerCase()] = value;
  }
  return out;
}

/** `repository:<repo>:pull` or `repository:<repo>:pull,push`. */
export function repositoryScope(repository: string, push: boolean): string {
  return `repository:${repository}:${push ? 'pull,push' : 'pull'}`;
}

/** The token endpoint's URL for a Bearer challenge: realm?service=…&scope=… (scopes we need, not the registry's hint). */
export function tokenUrl(challenge: Challenge, scopes: string[]): URL {
  const realm = challenge.params['realm'];
  if (!realm) throw new TypeError('the Bearer challenge names no realm');
  const url = new URL(realm);
  if (challenge.params['service']) url.searchParams.set('service', challenge.params['service']);
  for (const scope of scopes) url.searchParams.append('scope', scope);
  return url;
}

export interface TokenAnswer {
  token: string;
  /** Seconds; the spec's default is 60 when the answer names none. */
  expiresIn: number;
}

/** The token endpoint's JSON: `token` or (OAuth2's) `access_token`, and `expires_in`. */
export function parseTokenAnswer(body: unknown): TokenAnswer | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const b = body as Record<string, unknown>;
  const token = typeof b['token'] === 'string' && b['token'] ? b['token'] : typeof b['access_token'] === 'string' ? b['access_token'] : '';
  if (!token) return undefined;
  const e = b['expires_in'];
  return { token, expiresIn: typeof e === 'number' && Number.isFinite(e) && e > 0 ? e : 60 };
}

/** `Basic base64(user:password)` (RFC 7617). */
export function basicAuthorization(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}

/**
 * Tokens by (registry, scope). A token is used until 10 s (or a tenth of its life, when shorter)
 * before it expires, so a request does not leave with a token that dies on the way.
 */
export class TokenCache {
  private readonly tokens = new Map<string, { token: string; until: number }>();

  get(registry: string, scope: string, nowMs: number): string | undefined {
    const key = `${registry} ${scope}`;
    const hit = this.tokens.get(key);
    if (!hit) return undefined;
    if (nowMs < hit.until) return hit.token;
    this.tokens.delete(key);
    return undefined;
  }

  set(registry: string, scope: string, answer: TokenAnswer, nowMs: number): void {
    const lifeMs = answer.expiresIn * 1000;
    this.tokens.set(`${registry} ${scope}`, { token: answer.token, until: nowMs + lifeMs - Math.min(10_000, lifeMs / 10) });
  }

  delete(registry: string, scope: string): void {
    this.tokens.delete(`${registry} ${scope}`);
  }
}
