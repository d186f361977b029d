import tls from 'node:tls';
import { CertificateIndex, defaultSelfSigned, type CertificateStore } from '../../certs/index.js';
import { describeError, type Clock, type Logger } from '../../shared/index.js';
import type { AcmeHttpAnswers } from '../core/index.js';
import type { TlsContexts } from './front-door.js';

export type DefaultCert = 'refuse' | 'self-signed';

/**
 * The proxy's certificates from a CertificateStore: an SNI index rebuilt whenever the store changes
 * (new, renewed, removed certificates take effect for the next handshake; open connections keep the
 * certificate they were made with), and the ACME challenge answers, read from the same shared store.
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
  ) {
    this.index = CertificateIndex.from([], { clock, logger });
  }

  static async open(
    store: CertificateStore,
    opts: { defaultCert: DefaultCert; clock: Clock; logger: Logger },
  ): Promise<StoreTlsContexts> {
    let fallback: tls.SecureContext | undefined;
    if (opts.defaultCert === 'self-signed') {
      const pair = await defaultSelfSigned(['starling.invalid']);
      fallback = tls.createSecureContext({ cert: pair.certPem, key: pair.keyPem });
    }
    const c = new StoreTlsContexts(store, fallback, opts.clock, opts.logger);
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
  }
}
