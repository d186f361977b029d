import tls from 'node:tls';
import { CertificateIndex, OcspStapler, defaultSelfSigned, type CertificateStore, type OcspStaplerOptions } from '../../certs/index.js';
import { describeError, type Clock, type Logger } from '../../shared/index.js';
import type { AcmeHttpAnswers } from '../core/index.js';
import type { TlsContexts } from './front-door.js';

export type DefaultCert = 'refuse' | 'self-signed';

export interface StoreTlsContextsOptions {
  defaultCert: DefaultCert;
  clock: Clock;
  logger: Logger;
  /**
   * OCSP stapling (docs/ocsp.md): on by default; a certificate that names no OCSP responder costs
   * a byte search per rebuild and nothing per handshake. Options go to the OcspStapler (its clock
   * and logger default to these).
   */
  ocsp?: boolean | OcspStaplerOptions;
}

/**
 * The proxy's certificates from a CertificateStore: an SNI index rebuilt whenever the store changes
 * (new, renewed, removed certificates take effect for the next handshake; open connections keep the
 * certificate they were made with), and the ACME challenge answers, read from the same shared store.
 * With OCSP stapling on, every rebuild also tells the stapler which certificates are in service.
 */
export class StoreTlsContexts implements TlsContexts, AcmeHttpAnswers {
  private index: CertificateIndex;
  private unwatch: (() => void) | undefined;
  private rebuilding: Promise<void> | undefined;
  private again = false;

  private constructor(
    private readonly store: CertificateStore,
    private readonly fallbackContext: tls.SecureContext | undefined,
    private readonly clock: Clock,
    private readonly logger: Logger,
    /** Undefined when OCSP stapling is off. */
    readonly stapler: OcspStapler | undefined,
  ) {
    this.index = CertificateIndex.from([], { clock, logger });
  }

  static async open(store: CertificateStore, opts: StoreTlsContextsOptions): Promise<StoreTlsContexts> {
    let fallback: tls.SecureContext | undefined;
    if (opts.defaultCert === 'self-signed') {
      const pair = await defaultSelfSigned(['starling.invalid']);
      fallback = tls.createSecureContext({ cert: pair.certPem, key: pair.keyPem });
    }
    const ocsp = opts.ocsp ?? true;
    const stapler = ocsp === false ? undefined : new OcspStapler({ clock: opts.clock, logger: opts.logger, ...(ocsp === true ? {} : ocsp) });
    const c = new StoreTlsContexts(store, fallback, opts.clock, opts.logger, stapler);
    await c.rebuild();
    c.unwatch = store.watch(() => void c.rebuild());
    return c;
  }

  get size(): number {
    return this.index.size;
  }

  lookup(servername: string): tls.SecureContext | undefined {
    return this.index.lookup(servername);
  }

  fallback(): tls.SecureContext | undefined {
    return this.fallbackContext;
  }

  /** The OCSP response to staple for the certificate (DER) a context serves; O(1). */
  ocspResponse(certificate: Buffer): Buffer | undefined {
    return this.stapler?.staple(certificate);
  }

  ocspStapling(): boolean {
    return this.stapler !== undefined && this.stapler.size > 0;
  }

  async alpnChallenge(servername: string): Promise<tls.SecureContext | undefined> {
    const c = await this.store.alpnChallenge(servername);
    return c ? tls.createSecureContext({ cert: c.certPem, key: c.keyPem }) : undefined;
  }

  httpChallenge(token: string): Promise<string | undefined> {
    return this.store.httpChallenge(token);
  }

  /** Rebuilds the index from the store; overlapping calls coalesce into one more rebuild. */
  rebuild(): Promise<void> {
    if (this.rebuilding) {
      this.again = true;
      return this.rebuilding;
    }
    this.rebuilding = (async () => {
      do {
        this.again = false;
        try {
          const certs = await this.store.all();
          this.index = CertificateIndex.from(certs, { clock: this.clock, logger: this.logger });
          this.stapler?.sync(certs);
          this.logger.info('certificates loaded', { certificates: certs.length, names: this.index.size });
        } catch (e) {
          this.logger.error('reading certificates failed; keeping the previous ones', { error: describeError(e) });
        }
      } while (this.again);
      this.rebuilding = undefined;
    })();
    return this.rebuilding;
  }

  close(): void {
    this.unwatch?.();
    this.stapler?.close();
  }
}
