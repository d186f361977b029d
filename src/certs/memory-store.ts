/**
 * A CertificateStore in memory: for unit tests, and for embedding the proxy where one process is
 * the whole deployment. Same validation and semantics as FileCertStore (one conformance suite).
 */
import { describeError, silentLogger, type Logger } from '../shared/index.js';
import type {
  AlpnChallenge,
  CertSource,
  CertificateStore,
  CertificateSummary,
  Challenge,
  HttpChallenge,
  StoredCertificate,
} from './types.js';
import {
  checkDirectoryUrl,
  checkHostname,
  checkSource,
  checkToken,
  isValidToken,
  normalizeCertificate,
  normalizeChallenge,
  parseKey,
  summarize,
  tryHostname,
} from './validate.js';

interface Entry {
  cert: StoredCertificate;
  fingerprint256: string;
}

const copy = (c: StoredCertificate): StoredCertificate => ({ ...c, names: [...c.names] });

export class MemoryCertStore implements CertificateStore {
  private readonly certs = new Map<string, Entry>();
  private readonly http = new Map<string, string>();
  private readonly alpn = new Map<string, { certPem: string; keyPem: string }>();
  private readonly accounts = new Map<string, string>();
  private readonly listeners = new Set<() => void>();
  private readonly logger: Logger;

  constructor(opts: { logger?: Logger } = {}) {
    this.logger = (opts.logger ?? silentLogger).child({ component: 'cert-store', store: 'memory' });
  }

  // Every method is async, so a bad argument is a rejected promise, never a synchronous throw.
  async get(hostname: string, source: CertSource): Promise<StoredCertificate | undefined> {
    const e = this.certs.get(key(checkHostname(hostname), checkSource(source)));
    return e && copy(e.cert);
  }

  async all(): Promise<StoredCertificate[]> {
    return [...this.certs.values()].map((e) => copy(e.cert));
  }

  async list(): Promise<CertificateSummary[]> {
    return [...this.certs.values()].map((e) => summarize(e.cert, e.fingerprint256));
  }

  async put(cert: StoredCertificate): Promise<void> {
    const c = normalizeCertificate(cert);
    const { fingerprint256 } = summarize(c);
    this.certs.set(key(c.hostname, c.source), { cert: c, fingerprint256 });
    this.logger.info('certificate stored', { hostname: c.hostname, source: c.source, notAfter: c.notAfter, fingerprint256 });
    this.changed();
  }

  async remove(hostname: string, source: CertSource): Promise<boolean> {
    const h = checkHostname(hostname);
    const s = checkSource(source);
    const had = this.certs.delete(key(h, s));
    if (had) {
      this.logger.info('certificate removed', { hostname: h, source: s });
      this.changed();
    }
    return had;
  }

  async putChallenge(c: Challenge): Promise<void> {
    const n = normalizeChallenge(c);
    if (n.type === 'http-01') this.http.set(n.token, n.keyAuthorization);
    else this.alpn.set(n.hostname, { certPem: n.certPem, keyPem: n.keyPem });
  }

  async removeChallenge(c: Pick<HttpChallenge, 'type' | 'token'> | Pick<AlpnChallenge, 'type' | 'hostname'>): Promise<void> {
    if (c.type === 'http-01') this.http.delete(checkToken(c.token));
    else this.alpn.delete(checkHostname(c.hostname, { wildcard: false }));
  }

  // The two lookups below answer anonymous clients (a URL path, an SNI name): anything that
  // cannot be a valid token or hostname is simply not there.
  async httpChallenge(token: string): Promise<string | undefined> {
    return isValidToken(token) ? this.http.get(token) : undefined;
  }

  async alpnChallenge(hostname: string): Promise<{ certPem: string; keyPem: string } | undefined> {
    const h = tryHostname(hostname, { wildcard: false });
    const a = h === undefined ? undefined : this.alpn.get(h);
    return a && { ...a };
  }

  async accountKey(directoryUrl: string): Promise<string | undefined> {
    return this.accounts.get(checkDirectoryUrl(directoryUrl));
  }

  async putAccountKey(directoryUrl: string, pem: string): Promise<void> {
    const url = checkDirectoryUrl(directoryUrl);
    parseKey(pem, 'account key');
    this.accounts.set(url, pem);
  }

  watch(onChange: () => void): () => void {
    // A wrapper per call, so the same function subscribed twice is two subscriptions.
    const listener = (): void => onChange();
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Listeners run after the write has resolved, and one that throws cannot break the others. */
  private changed(): void {
    for (const l of [...this.listeners]) {
      queueMicrotask(() => {
        if (!this.listeners.has(l)) return;
        try {
          l();
        } catch (e) {
          this.logger.error('certificate change listener threw', { error: describeError(e) });
        }
      });
    }
  }
}

function key(hostname: string, source: CertSource): string {
  return `${source}/${hostname}`;
}
