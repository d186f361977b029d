/**
 * Bearer secrets of the control plane and how they are stored. Every secret is 32 random bytes
 * (hex) behind a prefix that says what it is and where to look it up, so a request costs one store
 * read, and secret scanners can recognise a leaked one:
 *
 *   st1_<id>_<secret>          a user token: one org, optionally one app, a scope, an expiry
 *   sh1_<host>_<secret>        a host credential: what an agent holds after joining
 *   sj1_<id>_<secret>[_<fp>]   a one-time join token; `fp` pins the control plane's certificate
 *
 * Only the SHA-256 of each is stored (`tokens`, `host_credentials`, `join_tokens`; none of them is
 * on the feed). The operator's platform token (control.toml `token_file`) is a plain 64-hex secret,
 * compared in constant time against its hash like the others.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const SCOPES = ['read', 'deploy', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

/** read < deploy < admin: each scope may do what the ones before it may. */
export function scopeAtLeast(have: Scope, need: Scope): boolean {
  return SCOPES.indexOf(have) >= SCOPES.indexOf(need);
}

/** `tokens/<id>`. */
export interface TokenDoc {
  id: string;
  org: string;
  /** Only this app of the org (null: every app of the org). */
  app: string | null;
  scope: Scope;
  /** A label for `tokens list` (who or what holds it). */
  name: string | null;
  /** SHA-256 of the whole token, hex. */
  hash: string;
  created_at: string;
  expires_at: string | null;
}

/** `join_tokens/<id>`: lets one agent join as `host` once, before `expires_at`. */
export interface JoinTokenDoc {
  id: string;
  host: string;
  region: string;
  hash: string;
  created_at: string;
  expires_at: string;
}

/** `host_credentials/<host>`: the credential of a joined host and what the control plane presents to it. */
export interface HostCredentialDoc {
  host: string;
  region: string;
  hash: string;
  joined_at: string;
  /**
   * The secret the agent chose for the control plane's calls to its admin API (reading machine
   * logs), sealed with the secrets key (AES-256-GCM); absent until the agent registers.
   */
  agent_secret?: string;
  /** Its number in the private network's addressing plan, once it registered a mesh key (host-mesh.ts). */
  mesh_number?: number;
}

export const TOKEN_ID_RE = /^[0-9a-f]{12}$/;
const SECRET = '[0-9a-f]{64}';
const USER_RE = new RegExp(`^st1_([0-9a-f]{12})_${SECRET}$`);
const HOST_RE = new RegExp(`^sh1_([a-z0-9][a-z0-9-]{0,62})_${SECRET}$`);
const JOIN_RE = new RegExp(`^sj1_([0-9a-f]{12})_${SECRET}(?:_([0-9a-f]{64}))?$`);
const PLATFORM_RE = /^\S{16,}$/;

export type ParsedSecret =
  | { kind: 'user'; id: string }
  | { kind: 'host'; host: string }
  | { kind: 'join'; id: string; fingerprint: string | undefined }
  | { kind: 'platform' };

/** What kind of secret a bearer token is, by its shape; undefined when it can be none. */
export function parseSecret(token: string): ParsedSecret | undefined {
  let m = USER_RE.exec(token);
  if (m) return { kind: 'user', id: m[1]! };
  m = HOST_RE.exec(token);
  if (m) return { kind: 'host', host: m[1]! };
  m = JOIN_RE.exec(token);
  if (m) return { kind: 'join', id: m[1]!, fingerprint: m[2] };
  return PLATFORM_RE.test(token) ? { kind: 'platform' } : undefined;
}

const secret = (): string => randomBytes(32).toString('hex');
export const newTokenId = (): string => randomBytes(6).toString('hex');
export const userToken = (id: string): string => `st1_${id}_${secret()}`;
export const hostCredential = (host: string): string => `sh1_${host}_${secret()}`;
/** `fingerprint`: the hex SHA-256 of the control plane's certificate, when it serves TLS. */
export const joinToken = (id: string, fingerprint?: string): string => `sj1_${id}_${secret()}${fingerprint ? `_${fingerprint}` : ''}`;

export function hashSecret(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Constant-time comparison of a presented token with a stored hash. */
export function matchesHash(token: string, storedHex: string): boolean {
  const given = createHash('sha256').update(token).digest();
  const stored = Buffer.from(storedHex, 'hex');
  return stored.length === given.length && timingSafeEqual(given, stored);
}
