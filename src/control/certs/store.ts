/**
 * The control plane's CertificateStore: the platform's certificates in its state store, each key
 * sealed with the secrets key (AES-256-GCM, bound to the certificate's name), ACME challenge answers
 * in `challenges` (on the feed: every PoP answers them) and the ACME account keys, sealed too.
 * The one AcmeIssuer and RenewalManager of the platform run against it (manager.ts).
 *
 * putChallenge resolves only once every live host's view holds the answer (or after
 * `propagationTimeoutMs`, logged with the hosts that lag): the CA is asked to validate after it,
 * and its validation may land on any PoP.
 */
import { X509Certificate, createHash } from 'node:crypto';
import {
  certificateKey,
  challengeKey,
  type CertificateDoc,
  type ChallengeDoc,
  type CertificateSourceName,
} from '../../contract/index.js';
import {
  checkDirectoryUrl,
  checkHostname,
  checkToken,
  isValidToken,
  normalizeCertificate,
  normalizeChallenge,
  parseKey,
  tryHostname,
  type AlpnChallenge,
  type CertificateStore,
  type CertificateSummary,
  type Challenge,
  type HttpChallenge,
  type StoredCertificate,
} from '../../certs/index.js';
import { describeError, type Logger } from '../../shared/index.js';
import { decryptSecret, encryptSecret } from '../secrets/index.js';
import type { StateStore } from '../store/index.js';

export interface ControlCertStoreOptions {
  store: StateStore;
  secretsKey: Buffer;
  logger: Logger;
  /** The app a hostname belongs to (null: a platform certificate), recorded with its certificate. */
  appOf(hostname: string): Promise<string | null>;
  /** Waits until every live host has applied `revision` (api/feed-progress.ts); answers the laggards. */
  propagated?: ((revision: number) => Promise<string[]>) | undefined;
  /** Wall-clock ms (the injected clock's). */
  now(): number;
}

/** The sealed key is bound to its certificate's name and source: moved under another name, it does not open. */
const keyRef = (source: CertificateSourceName, hostname: string) => ({ app: '@certificates', name: `${source}/${hostname}` });
const accountRef = (url: string) => ({ app: '@acme-accounts', name: url });
const alpnRef = (hostname: string) => ({ app: '@acme-challenges', name: `tls-alpn-01/${hostname}` });
const accountKeyOf = (url: string): string => createHash('sha256').update(url).digest('hex');

export class ControlCertStore implements CertificateStore {
  constructor(private readonly o: ControlCertStoreOptions) {}

  async get(hostname: string, source: CertificateSourceName): Promise<StoredCertificate | undefined> {
    const h = checkHostname(hostname);
    const e = await this.o.store.get('certificates', certificateKey(source, h));
    return e && this.open(e.value as CertificateDoc);
  }

  /** The stored document (its key still sealed), for the API's views. */
  async doc(hostname: string, source: CertificateSourceName): Promise<CertificateDoc | undefined> {
    return (await this.o.store.get('certificates', certificateKey(source, hostname)))?.value as CertificateDoc | undefined;
  }

  async docs(): Promise<CertificateDoc[]> {
    return (await this.o.store.list('certificates')).map((e) => e.value as CertificateDoc);
  }

  async all(): Promise<StoredCertificate[]> {
    return (await this.docs()).map((d) => this.open(d));
  }

  async list(): Promise<CertificateSummary[]> {
    return (await this.docs()).map((d) => ({ hostname: d.hostname, source: d.source, names: d.names, notBefore: d.not_before, notAfter: d.not_after, fingerprint256: d.fingerprint256 }));
  }

  async put(cert: StoredCertificate & { challenge?: CertificateDoc['challenge'] }): Promise<void> {
    const c = normalizeCertificate(cert);
    const doc = await this.toDoc(c, cert.challenge);
    await this.o.store.put('certificates', certificateKey(c.source, c.hostname), doc);
    this.o.logger.info('certificate stored', { hostname: c.hostname, source: c.source, app: doc.app, not_after: doc.not_after, fingerprint256: doc.fingerprint256 });
  }

  async remove(hostname: string, source: CertificateSourceName): Promise<boolean> {
    const h = checkHostname(hostname);
    const rev = await this.o.store.delete('certificates', certificateKey(source, h));
    if (rev !== undefined) this.o.logger.info('certificate removed', { hostname: h, source });
    return rev !== undefined;
  }

  async putChallenge(c: Challenge): Promise<void> {
    const n = normalizeChallenge(c);
    const doc: ChallengeDoc =
      n.type === 'http-01'
        ? { type: 'http-01', token: n.token, key_authorization: n.keyAuthorization }
        : { type: 'tls-alpn-01', hostname: n.hostname, cert_pem: n.certPem, key_sealed: encryptSecret(this.o.secretsKey, alpnRef(n.hostname), n.keyPem) };
    const revision = await this.o.store.put('challenges', challengeKey(n), doc);
    const lagging = (await this.o.propagated?.(revision)) ?? [];
    if (lagging.length > 0) {
      this.o.logger.warn('challenge answer not yet on every host; asking the CA anyway', { type: n.type, hosts: lagging });
    }
  }

  async removeChallenge(c: Pick<HttpChallenge, 'type' | 'token'> | Pick<AlpnChallenge, 'type' | 'hostname'>): Promise<void> {
    const key = c.type === 'http-01' ? challengeKey({ type: c.type, token: checkToken(c.token) }) : challengeKey({ type: c.type, hostname: checkHostname(c.hostname, { wildcard: false }) });
    await this.o.store.delete('challenges', key);
  }

  async httpChallenge(token: string): Promise<string | undefined> {
    if (!isValidToken(token)) return undefined;
    const d = (await this.o.store.get('challenges', challengeKey({ type: 'http-01', token })))?.value as ChallengeDoc | undefined;
    return d?.type === 'http-01' ? d.key_authorization : undefined;
  }

  async alpnChallenge(hostname: string): Promise<{ certPem: string; keyPem: string } | undefined> {
    const h = tryHostname(hostname, { wildcard: false });
    if (h === undefined) return undefined;
    const d = (await this.o.store.get('challenges', challengeKey({ type: 'tls-alpn-01', hostname: h })))?.value as ChallengeDoc | undefined;
    return d?.type === 'tls-alpn-01' ? { certPem: d.cert_pem, keyPem: openChallengeKey(this.o.secretsKey, d) } : undefined;
  }

  async accountKey(directoryUrl: string): Promise<string | undefined> {
    const url = checkDirectoryUrl(directoryUrl);
    const d = (await this.o.store.get('acme_accounts', accountKeyOf(url)))?.value as { key_sealed: string } | undefined;
    return d && decryptSecret(this.o.secretsKey, accountRef(url), d.key_sealed);
  }

  async putAccountKey(directoryUrl: string, pem: string): Promise<void> {
    const url = checkDirectoryUrl(directoryUrl);
    parseKey(pem, 'account key');
    await this.o.store.put('acme_accounts', accountKeyOf(url), { directory_url: url, key_sealed: encryptSecret(this.o.secretsKey, accountRef(url), pem) });
  }

  /** Certificate changes (the proxy-side watch of this interface); the manager watches the store itself. */
  watch(onChange: () => void): () => void {
    let stop: (() => void) | undefined;
    let cancelled = false;
    void this.o.store.revision().then((rev) => {
      if (cancelled) return;
      stop = this.o.store.watch(rev, () => onChange(), (e) => this.o.logger.warn('certificate watch ended', { error: describeError(e) }), { collections: ['certificates'] });
    });
    return () => {
      cancelled = true;
      stop?.();
    };
  }

  private open(d: CertificateDoc): StoredCertificate {
    const keyPem = openCertificateKey(this.o.secretsKey, d);
    return { hostname: d.hostname, source: d.source, certPem: d.cert_pem, keyPem, names: d.names, notBefore: d.not_before, notAfter: d.not_after };
  }

  private async toDoc(c: StoredCertificate, challenge: CertificateDoc['challenge']): Promise<CertificateDoc> {
    const leaf = leafOf(c.certPem);
    return {
      hostname: c.hostname,
      app: await this.o.appOf(c.hostname),
      source: c.source,
      cert_pem: c.certPem,
      key_sealed: encryptSecret(this.o.secretsKey, keyRef(c.source, c.hostname), c.keyPem),
      names: c.names,
      not_before: c.notBefore,
      not_after: c.notAfter,
      fingerprint256: leaf.fingerprint256,
      issuer: leaf.issuer.replace(/\n/g, ', '),
      ...(challenge ? { challenge } : {}),
      issued_at: new Date(this.o.now()).toISOString(),
    };
  }
}

function leafOf(chainPem: string): X509Certificate {
  return new X509Certificate(chainPem);
}

/** A TLS-ALPN-01 answer's key, opened (for the feed to its hosts). */
export function openChallengeKey(secretsKey: Buffer, d: Extract<ChallengeDoc, { type: 'tls-alpn-01' }>): string {
  return decryptSecret(secretsKey, alpnRef(d.hostname), d.key_sealed ?? '');
}

/** A stored certificate's private key, opened (for the feed to its hosts: api/feed.ts). */
export function openCertificateKey(secretsKey: Buffer, d: CertificateDoc): string {
  return decryptSecret(secretsKey, keyRef(d.source, d.hostname), d.key_sealed ?? '');
}
