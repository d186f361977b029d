/**
 * The agent's certificates: a read-only CertificateStore over the synced view (`certificates` and
 * `challenges`, contract/certificates.ts), which the proxy's TLS port serves from. The view is the
 * agent's cache, so TLS keeps working while the control plane is down; a certificate that arrives
 * on the feed is served from the next handshake on, without a restart (StoreTlsContexts rebuilds
 * its SNI index on `watch`), and open connections keep the certificate they started with.
 * Only the control plane writes certificates: put/remove here are refused.
 */
import type { CertificateDoc, ChallengeDoc } from '../contract/index.js';
import type { CertificateStore, CertificateSummary, StoredCertificate } from '../certs/index.js';
import { StarlingError, describeError, type Logger } from '../shared/index.js';
import type { SyncView } from './sync-cache.js';

export class ViewCertStore implements CertificateStore {
  private certs: readonly StoredCertificate[] = [];
  private summaries: readonly CertificateSummary[] = [];
  private http = new Map<string, string>();
  private alpn = new Map<string, { certPem: string; keyPem: string }>();
  private seenCerts: ReadonlyMap<string, unknown> | undefined;
  private seenChallenges: ReadonlyMap<string, unknown> | undefined;
  private readonly listeners = new Set<() => void>();
  private readonly warned = new Set<string>();

  constructor(private readonly logger: Logger) {}

  /** Takes a new view; tells the watchers when its certificates changed. */
  update(view: SyncView): void {
    const certs = view.documents.get('certificates');
    const challenges = view.documents.get('challenges');
    // A batch that did not touch a collection keeps its Map: nothing to rebuild.
    if (challenges !== this.seenChallenges) {
      this.seenChallenges = challenges;
      const http = new Map<string, string>();
      const alpn = new Map<string, { certPem: string; keyPem: string }>();
      for (const v of challenges?.values() ?? []) {
        const c = v as ChallengeDoc;
        if (c.type === 'http-01') http.set(c.token, c.key_authorization);
        else if (c.type === 'tls-alpn-01' && typeof c.key_pem === 'string') alpn.set(c.hostname, { certPem: c.cert_pem, keyPem: c.key_pem });
      }
      this.http = http;
      this.alpn = alpn;
    }
    if (certs === this.seenCerts) return;
    this.seenCerts = certs;
    const list: StoredCertificate[] = [];
    const summaries: CertificateSummary[] = [];
    for (const v of certs?.values() ?? []) {
      const d = v as CertificateDoc;
      if (typeof d.key_pem !== 'string') {
        if (!this.warned.has(d.hostname)) {
          this.warned.add(d.hostname);
          this.logger.warn('a certificate came without its key (the control plane sends keys over HTTPS only); not served', { hostname: d.hostname });
        }
        continue;
      }
      list.push({ hostname: d.hostname, source: d.source, certPem: d.cert_pem, keyPem: d.key_pem, names: d.names, notBefore: d.not_before, notAfter: d.not_after });
      summaries.push({ hostname: d.hostname, source: d.source, names: d.names, notBefore: d.not_before, notAfter: d.not_after, fingerprint256: d.fingerprint256 });
    }
    this.certs = list;
    this.summaries = summaries;
    for (const l of [...this.listeners]) {
      try {
        l();
      } catch (e) {
        this.logger.error('certificate change listener threw', { error: describeError(e) });
      }
    }
  }

  async get(hostname: string, source: 'acme' | 'custom'): Promise<StoredCertificate | undefined> {
    return this.certs.find((c) => c.hostname === hostname && c.source === source);
  }

  async all(): Promise<StoredCertificate[]> {
    return [...this.certs];
  }

  async list(): Promise<CertificateSummary[]> {
    return [...this.summaries];
  }

  async put(): Promise<void> {
    throw readOnly();
  }

  async remove(): Promise<boolean> {
    throw readOnly();
  }

  async putChallenge(): Promise<void> {
    throw readOnly();
  }

  async removeChallenge(): Promise<void> {
    throw readOnly();
  }

  async httpChallenge(token: string): Promise<string | undefined> {
    return this.http.get(token);
  }

  async alpnChallenge(hostname: string): Promise<{ certPem: string; keyPem: string } | undefined> {
    const a = this.alpn.get(hostname.toLowerCase());
    return a && { ...a };
  }

  async accountKey(): Promise<string | undefined> {
    return undefined;
  }

  async putAccountKey(): Promise<void> {
    throw readOnly();
  }

  watch(onChange: () => void): () => void {
    const l = (): void => onChange();
    this.listeners.add(l);
    return () => void this.listeners.delete(l);
  }
}

function readOnly(): StarlingError {
  return new StarlingError('ERR_CERT_WRITE', "an agent's certificates come from the control plane (starling certs … --app); this store is read-only", { fault: 'user' });
}
