/**
 * The platform's certificates as the control plane stores them and the agents read them off the
 * feed (docs/certificates.md).
 *
 * - `hostnames/<hostname>`: a custom domain attached to one app (the key makes a name belong to
 *   one app: a second claim is a conflict). An app's `<app>.<apps_domain>` is implied, never stored.
 * - `certificates/<source>/<hostname>`: one certificate. In the store its key is sealed
 *   (AES-256-GCM, `key_sealed`); the feed hands it to hosts in `key_pem`, over TLS only, and an
 *   agent seals it again in its own cache. Nobody else ever gets the key.
 * - `challenges/<type>/<token or hostname>`: an ACME challenge answer, on the feed so that whichever
 *   PoP the CA's validation reaches answers it.
 */

/** `*` is not a store key character: a wildcard is filed as `_wildcard_.example.com`. */
const WILDCARD = '_wildcard_';

export function hostnameStoreKey(hostname: string): string {
  return hostname.startsWith('*.') ? `${WILDCARD}${hostname.slice(1)}` : hostname;
}

export function hostnameFromStoreKey(key: string): string {
  return key.startsWith(`${WILDCARD}.`) ? `*${key.slice(WILDCARD.length)}` : key;
}

export type CertificateSourceName = 'acme' | 'custom';
export type AcmeChallengeName = 'http-01' | 'tls-alpn-01' | 'dns-01';

export const certificateKey = (source: CertificateSourceName, hostname: string): string => `${source}/${hostnameStoreKey(hostname)}`;

export interface HostnameDoc {
  hostname: string;
  app: string;
  created_at: string;
}

export interface CertificateDoc {
  /** The name it is filed under: an app hostname, a custom domain, or `*.<apps_domain>`. */
  hostname: string;
  /** The app it was ordered or imported for; null for a platform certificate (the apps wildcard). */
  app: string | null;
  source: CertificateSourceName;
  /** PEM chain, leaf first. */
  cert_pem: string;
  /** In the store: the private key sealed with the control plane's key. Never on the feed. */
  key_sealed?: string;
  /** On the feed to a host only (and in no API answer): the private key, PEM. */
  key_pem?: string;
  names: string[];
  not_before: string;
  not_after: string;
  fingerprint256: string;
  issuer: string;
  /** Which ACME challenge passed (absent for imported certificates). */
  challenge?: AcmeChallengeName | undefined;
  issued_at: string;
}

/**
 * A TLS-ALPN-01 answer's key is a throwaway, good for one validation; it is still a private key,
 * so it is sealed in the store (`key_sealed`) and opened for hosts only (`key_pem`), as a
 * certificate's.
 */
export type ChallengeDoc =
  | { type: 'http-01'; token: string; key_authorization: string }
  | { type: 'tls-alpn-01'; hostname: string; cert_pem: string; key_sealed?: string; key_pem?: string };

/** The collections whose documents carry a private key (sealed in the store, opened for hosts). */
export const KEYED_COLLECTIONS = ['certificates', 'challenges'] as const;

export const challengeKey = (c: { type: 'http-01'; token: string } | { type: 'tls-alpn-01'; hostname: string }): string =>
  c.type === 'http-01' ? `http-01/${c.token}` : `tls-alpn-01/${c.hostname}`;

/** What the API answers for one hostname of an app (`certs list|show|check --app`): never a key. */
export type CertificateState = 'ready' | 'pending' | 'failing' | 'expired' | 'awaiting_import';

export interface DnsRecord {
  type: 'A' | 'AAAA';
  name: string;
  value: string;
}

export interface CertificateView {
  hostname: string;
  app: string;
  /** `app`: the app's own `<app>.<apps_domain>`; `custom`: a domain added with certs add. */
  kind: 'app' | 'custom';
  state: CertificateState;
  /** One line on why it is not ready (the CA's answer, or what the operator must do). */
  reason: string | null;
  /** The certificate served for the name, or null. */
  certificate: {
    filed_under: string;
    source: 'acme' | 'custom';
    issuer: string;
    names: string[];
    not_before: string;
    not_after: string;
    fingerprint256: string;
    challenge: string | null;
    issued_at: string;
  } | null;
  renewal: { state: string; next_attempt_at: string; failures: number; last_error: string | null } | null;
  dns_records: DnsRecord[];
}

