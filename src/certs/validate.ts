/**
 * Checks shared by every CertificateStore, so they all accept and reject the same things.
 *
 * Hostnames and tokens become file names in the file store, so they are held to a strict grammar
 * here (no path can escape the store's directory). Certificates are parsed with node:crypto, and
 * what the certificate says about itself (names, validity) wins over what the caller claims.
 * No error raised here ever carries key material, nor an OpenSSL error about a key as its cause.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { StarlingError } from '../shared/index.js';
import type { CertSource, CertificateSummary, Challenge, StoredCertificate } from './types.js';

const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
// Letters, digits and hyphens only (IDNs in their xn-- form). No underscore: that keeps
// `_wildcard_`, the file store's escape for `*`, from colliding with a real name.
const HOSTNAME = new RegExp(`^(?:\\*\\.)?${LABEL}(?:\\.${LABEL})*$`);
/** ACME tokens are base64url (RFC 8555 §8.1, §8.3). */
const TOKEN = /^[A-Za-z0-9_-]{1,256}$/;
const SOURCES: readonly CertSource[] = ['acme', 'custom'];
const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function nameError(message: string): StarlingError {
  return new StarlingError('ERR_CERT_NAME', message, { fault: 'user' });
}

/** Shows an untrusted string in a message without letting it flood or forge log lines. */
function quote(v: unknown): string {
  const s = typeof v === 'string' ? v : String(v);
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);
}

/** Lower-cased, trailing dot removed; or undefined when it is not a valid hostname. */
export function tryHostname(h: unknown, opts: { wildcard?: boolean } = {}): string | undefined {
  if (typeof h !== 'string') return undefined;
  const n = (h.endsWith('.') ? h.slice(0, -1) : h).toLowerCase();
  if (n.length === 0 || n.length > 253 || !HOSTNAME.test(n)) return undefined;
  if (opts.wildcard === false && n.startsWith('*.')) return undefined;
  return n;
}

/** Like tryHostname, but throws ERR_CERT_NAME (fault user). */
export function checkHostname(h: unknown, opts: { wildcard?: boolean } = {}): string {
  const n = tryHostname(h, opts);
  if (n === undefined) {
    const what = opts.wildcard === false ? 'a hostname (no wildcard)' : 'a hostname or *.wildcard';
    throw nameError(`${quote(h)} is not ${what}: letters, digits and hyphens in dot-separated labels`);
  }
  return n;
}

export function isValidToken(t: unknown): t is string {
  return typeof t === 'string' && TOKEN.test(t);
}

export function checkToken(t: unknown): string {
  if (!isValidToken(t)) throw nameError(`${quote(t)} is not an ACME token (base64url, 1–256 characters)`);
  return t;
}

export function checkSource(s: unknown): CertSource {
  if (!SOURCES.includes(s as CertSource)) throw nameError(`${quote(s)} is not a certificate source (acme or custom)`);
  return s as CertSource;
}

export function checkDirectoryUrl(u: unknown): string {
  if (typeof u !== 'string' || !URL.canParse(u)) throw nameError(`${quote(u)} is not an ACME directory URL`);
  return u;
}

/** Parses a private key; the error says what is wrong without quoting the key or OpenSSL's reply. */
export function parseKey(keyPem: unknown, what = 'private key'): KeyObject {
  if (typeof keyPem !== 'string' || !keyPem.includes('PRIVATE KEY-----')) {
    throw new StarlingError('ERR_CERT_KEY', `the ${what} is not a PEM private key`, { fault: 'user' });
  }
  try {
    return createPrivateKey(keyPem);
  } catch {
    throw new StarlingError('ERR_CERT_KEY', `the ${what} could not be parsed (encrypted keys are not supported)`, {
      fault: 'user',
      hint: 'give an unencrypted PEM key (PKCS#8, PKCS#1 or SEC1)',
    });
  }
}

export interface CertificateFacts {
  /** The chain re-encoded as clean PEM (text around the blocks dropped). */
  certPem: string;
  names: string[];
  notBefore: string;
  notAfter: string;
  fingerprint256: string;
}

/** Parses a PEM chain (leaf first) and checks that `keyPem` is the leaf's key. */
export function inspectCertificate(certPem: unknown, keyPem: unknown): CertificateFacts {
  const chain = parseChain(certPem);
  const leaf = chain[0] as X509Certificate;
  const key = parseKey(keyPem);
  let matches = false;
  try {
    matches = leaf.checkPrivateKey(key);
  } catch {
    matches = false; // different key types can throw instead of answering false
  }
  if (!matches) {
    throw new StarlingError('ERR_CERT_KEY_MISMATCH', `the private key does not belong to the certificate for ${leafLabel(leaf)}`, {
      fault: 'user',
      hint: 'pass the key that was generated with this certificate',
    });
  }
  return {
    certPem: chain.map((c) => c.toString()).join(''),
    names: certificateNames(leaf),
    notBefore: new Date(leaf.validFrom).toISOString(),
    notAfter: new Date(leaf.validTo).toISOString(),
    fingerprint256: leaf.fingerprint256,
  };
}

/**
 * What an imported certificate must be before a PoP serves it: valid now (and not for under a day
 * more), and a chain whose every certificate is issued and signed by the next one. Chains that stop
 * below a root are normal (the root is in the client's store); one whose links do not verify is
 * refused, since clients would refuse it too.
 */
export function checkChain(certPem: string, now: number): void {
  const chain = parseChain(certPem);
  const leaf = chain[0] as X509Certificate;
  const label = leafLabel(leaf);
  const from = Date.parse(leaf.validFrom);
  const to = Date.parse(leaf.validTo);
  if (to <= now) {
    throw new StarlingError('ERR_CERT_EXPIRED', `the certificate for ${label} expired on ${new Date(to).toISOString()}`, { fault: 'user', hint: 'renew it with its CA and import the new one' });
  }
  if (from > now) {
    throw new StarlingError('ERR_CERT_EXPIRED', `the certificate for ${label} is not valid before ${new Date(from).toISOString()}`, { fault: 'user' });
  }
  for (let i = 0; i + 1 < chain.length; i++) {
    const child = chain[i] as X509Certificate;
    const parent = chain[i + 1] as X509Certificate;
    let ok = false;
    try {
      ok = child.checkIssued(parent) && child.verify(parent.publicKey);
    } catch {
      ok = false;
    }
    if (!ok) {
      throw new StarlingError('ERR_CERT_CHAIN', `certificate ${i + 1} of the chain (${child.subject.replace(/\n/g, ', ')}) is not signed by certificate ${i + 2} (${parent.subject.replace(/\n/g, ', ')})`, {
        fault: 'user',
        hint: 'give the chain leaf first, each certificate followed by its issuer (fullchain.pem)',
      });
    }
  }
}

/** Only the public facts: for summaries of certificates that were checked when stored. */
export function fingerprintOf(certPem: string): string {
  return parseChain(certPem)[0]?.fingerprint256 ?? '';
}

function parseChain(certPem: unknown): X509Certificate[] {
  if (typeof certPem !== 'string') throw new StarlingError('ERR_CERT_PARSE', 'the certificate is not a PEM string', { fault: 'user' });
  if (certPem.includes('PRIVATE KEY-----')) {
    // Checked so a key pasted into the certificate field is never stored where `show` prints it.
    throw new StarlingError('ERR_CERT_PARSE', 'the certificate PEM contains a private key; pass the key separately', { fault: 'user' });
  }
  const blocks = certPem.match(CERT_BLOCK) ?? [];
  if (blocks.length === 0) throw new StarlingError('ERR_CERT_PARSE', 'no PEM CERTIFICATE block found', { fault: 'user' });
  return blocks.map((b, i) => {
    try {
      return new X509Certificate(b);
    } catch (e) {
      throw new StarlingError('ERR_CERT_PARSE', `certificate ${i + 1} of ${blocks.length} in the chain is not valid X.509`, {
        fault: 'user',
        cause: e,
      });
    }
  });
}

/** subjectAltName DNS entries, lower-cased; the subject CN only when there are none (as TLS clients do). */
function certificateNames(cert: X509Certificate): string[] {
  const names: string[] = [];
  // Node prints `DNS:a.example, DNS:"quoted,name", IP Address:…`; quoted values are JSON strings.
  for (const part of (cert.subjectAltName ?? '').split(', ')) {
    if (!part.startsWith('DNS:')) continue;
    let v = part.slice(4);
    if (v.startsWith('"')) {
      try {
        v = JSON.parse(v) as string;
      } catch {
        continue;
      }
    }
    names.push(v.toLowerCase().replace(/\.$/, ''));
  }
  if (names.length === 0) {
    const cn = /^CN=(.*)$/m.exec(cert.subject)?.[1];
    if (cn) names.push(cn.toLowerCase().replace(/\.$/, ''));
  }
  return [...new Set(names)];
}

function leafLabel(cert: X509Certificate): string {
  return certificateNames(cert)[0] ?? 'an unnamed subject';
}

/** Whether a certificate with `names` is valid for `hostname` (exact, or one label under a wildcard). */
export function coversName(names: readonly string[], hostname: string): boolean {
  if (names.includes(hostname)) return true;
  const dot = hostname.indexOf('.');
  return !hostname.startsWith('*.') && dot > 0 && names.includes(`*${hostname.slice(dot)}`);
}

/** The certificate as it is stored: names and dates taken from the certificate itself. */
export function normalizeCertificate(cert: StoredCertificate): StoredCertificate {
  if (typeof cert !== 'object' || cert === null) throw new StarlingError('ERR_CERT_PARSE', 'expected a certificate object', { fault: 'user' });
  const hostname = checkHostname(cert.hostname);
  const source = checkSource(cert.source);
  const facts = inspectCertificate(cert.certPem, cert.keyPem);
  if (!coversName(facts.names, hostname)) {
    throw new StarlingError(
      'ERR_CERT_HOSTNAME_MISMATCH',
      `the certificate covers ${facts.names.join(', ') || 'no names'}, not ${hostname}`,
      { fault: 'user', hint: 'file the certificate under one of the names it covers' },
    );
  }
  const keyPem = (cert.keyPem.endsWith('\n') ? cert.keyPem : `${cert.keyPem}\n`);
  return { hostname, source, certPem: facts.certPem, keyPem, names: facts.names, notBefore: facts.notBefore, notAfter: facts.notAfter };
}

export function summarize(cert: StoredCertificate, fingerprint256 = fingerprintOf(cert.certPem)): CertificateSummary {
  const { hostname, source, names, notBefore, notAfter } = cert;
  return { hostname, source, names: [...names], notBefore, notAfter, fingerprint256 };
}

/** Validates a challenge answer; the tls-alpn-01 certificate must parse and match its key. */
export function normalizeChallenge(c: Challenge): Challenge {
  if (typeof c !== 'object' || c === null) throw nameError('expected a challenge object');
  if (c.type === 'http-01') {
    const token = checkToken(c.token);
    // RFC 8555 §8.1: keyAuthorization = token || '.' || base64url(JWK thumbprint).
    const ka = c.keyAuthorization;
    if (typeof ka !== 'string' || !ka.startsWith(`${token}.`) || !isValidToken(ka.slice(token.length + 1))) {
      throw new StarlingError('ERR_CERT_CHALLENGE', `the key authorization for token ${token} is not "<token>.<thumbprint>"`, {
        fault: 'user',
      });
    }
    return { type: 'http-01', token, keyAuthorization: ka };
  }
  if (c.type === 'tls-alpn-01') {
    // RFC 8737 §3: the identifier is a plain DNS name; wildcards cannot be validated this way.
    const hostname = checkHostname(c.hostname, { wildcard: false });
    const facts = inspectCertificate(c.certPem, c.keyPem);
    return { type: 'tls-alpn-01', hostname, certPem: facts.certPem, keyPem: c.keyPem };
  }
  throw nameError(`${quote((c as { type?: unknown }).type)} is not a challenge type (http-01 or tls-alpn-01)`);
}
