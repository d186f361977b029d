/**
 * SNI → certificate, for the TLS listener's SNICallback: one Map probe for the exact name and one
 * for the wildcard a label up, whatever the number of certificates.
 *
 * Choice for a name, best first:
 *   1. a certificate valid now, exact name before wildcard;
 *   2. among those for the same name: custom before acme, then the latest notAfter;
 *   3. when nothing is valid, the best expired (or not yet valid) one is still served: a
 *      certificate whose renewal failed stays in service until a new one is ready, and a client
 *      warning beats a handshake failure.
 * SecureContexts are made on first lookup, one per certificate, and kept: building 100,000 of
 * them up front costs seconds and gigabytes, and most names are never asked for by one process.
 */
import tls from 'node:tls';
import { SystemClock, describeError, silentLogger, type Clock, type Logger } from '../shared/index.js';
import type { StoredCertificate } from './types.js';

export interface CertificateIndexOptions {
  /** What "now" is when telling valid from expired (default SystemClock). */
  clock?: Clock;
  logger?: Logger;
  /** Merged into every SecureContext (ciphers, minVersion, ecdhCurve, …). */
  contextOptions?: tls.SecureContextOptions;
  /** How a context is made (default tls.createSecureContext with the certificate and key). */
  createContext?: (cert: StoredCertificate, options: tls.SecureContextOptions) => tls.SecureContext;
}

interface Candidate {
  readonly cert: StoredCertificate;
  /** 0 for custom, 1 for acme: lower wins. */
  readonly rank: number;
  readonly notBefore: number;
  readonly notAfter: number;
  /** undefined: not made yet; null: making it failed (logged once, not retried per handshake). */
  ctx: tls.SecureContext | null | undefined;
}

/** A name maps to one candidate (the common case, kept small) or several, best-ranked first. */
type Slot = Candidate | Candidate[];

export class CertificateIndex {
  private readonly byName = new Map<string, Slot>();
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly contextOptions: tls.SecureContextOptions;
  private readonly create: (cert: StoredCertificate, options: tls.SecureContextOptions) => tls.SecureContext;
  private created = 0;

  private constructor(opts: CertificateIndexOptions) {
    this.clock = opts.clock ?? new SystemClock();
    this.logger = (opts.logger ?? silentLogger).child({ component: 'cert-index' });
    this.contextOptions = opts.contextOptions ?? {};
    this.create = opts.createContext ?? ((c, o) => tls.createSecureContext({ ...o, cert: c.certPem, key: c.keyPem }));
  }

  /** Indexes every certificate under each name it covers (its subjectAltNames and its hostname). */
  static from(certs: readonly StoredCertificate[], opts: CertificateIndexOptions = {}): CertificateIndex {
    const index = new CertificateIndex(opts);
    for (const cert of certs) {
      const c: Candidate = {
        cert,
        rank: cert.source === 'custom' ? 0 : 1,
        notBefore: Date.parse(cert.notBefore),
        notAfter: Date.parse(cert.notAfter),
        ctx: undefined,
      };
      const names = new Set([cert.hostname, ...cert.names].map(normalize));
      for (const name of names) if (name) index.add(name, c);
    }
    return index;
  }

  /** The context to present for `servername` (as given in SNI), or undefined for an unknown name. */
  lookup(servername: string): tls.SecureContext | undefined {
    const c = this.choose(servername);
    if (!c) return undefined;
    if (c.ctx === undefined) {
      try {
        c.ctx = this.create(c.cert, this.contextOptions);
        this.created++;
      } catch (e) {
        c.ctx = null;
        // The error is OpenSSL's, about the key's format: it never contains the key.
        this.logger.error('cannot build a TLS context for a certificate', {
          hostname: c.cert.hostname,
          source: c.cert.source,
          error: describeError(e),
        });
      }
    }
    return c.ctx ?? undefined;
  }

  /** The certificate `lookup` would serve for `servername` (for diagnostics and tests). */
  certificateFor(servername: string): StoredCertificate | undefined {
    return this.choose(servername)?.cert;
  }

  /** Number of names (exact and wildcard) the index answers for. */
  get size(): number {
    return this.byName.size;
  }

  names(): string[] {
    return [...this.byName.keys()];
  }

  /** How many SecureContexts have been made so far (they are made on first lookup). */
  get contextsCreated(): number {
    return this.created;
  }

  private add(name: string, c: Candidate): void {
    const slot = this.byName.get(name);
    if (slot === undefined) {
      this.byName.set(name, c);
      return;
    }
    const list = Array.isArray(slot) ? slot : [slot];
    list.push(c);
    list.sort((a, b) => a.rank - b.rank || b.notAfter - a.notAfter);
    this.byName.set(name, list);
  }

  private choose(servername: string): Candidate | undefined {
    const name = normalize(servername);
    // `*` in SNI is never a real name; without this it would match the wildcard entry itself.
    if (!name || name.includes('*')) return undefined;
    const exact = this.byName.get(name);
    const dot = name.indexOf('.');
    // One label up only: a.b.example.com is not covered by *.example.com (RFC 6125 §6.4.3).
    const wild = dot > 0 ? this.byName.get(`*${name.slice(dot)}`) : undefined;
    if (exact === undefined && wild === undefined) return undefined;
    const now = this.clock.now();
    return validIn(exact, now) ?? validIn(wild, now) ?? first(exact) ?? first(wild);
  }
}

function normalize(name: string): string {
  const n = name.toLowerCase();
  return n.endsWith('.') ? n.slice(0, -1) : n;
}

function isValid(c: Candidate, now: number): boolean {
  return c.notBefore <= now && now < c.notAfter; // NaN dates compare false: never "valid"
}

function validIn(slot: Slot | undefined, now: number): Candidate | undefined {
  if (slot === undefined) return undefined;
  if (!Array.isArray(slot)) return isValid(slot, now) ? slot : undefined;
  return slot.find((c) => isValid(c, now));
}

function first(slot: Slot | undefined): Candidate | undefined {
  return Array.isArray(slot) ? slot[0] : slot;
}
