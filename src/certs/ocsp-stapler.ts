/**
 * OCSP stapling: per certificate (by leaf fingerprint), the current `good` OCSP response, for the
 * TLS listener to hand to clients that ask (status_request). Handshakes never wait for a responder:
 * a certificate is asked about in the background when first seen, and `staple` is a Map probe.
 *
 * Refresh: half-way between thisUpdate and nextUpdate, less up to `jitter` of that half at random
 * (a fleet of proxies does not ask at one instant). A failed fetch, or an answer that does not
 * check out, is retried with exponential backoff; the last good response is kept meanwhile, up to
 * its nextUpdate, and then stapling stops for that certificate (one warning) until a good one
 * comes. A `revoked` or `unknown` answer stops stapling at once. A certificate without an OCSP URL
 * costs a base64 decode and a byte search when the store changes, and nothing per handshake. The
 * ASN.1 code (./ocsp.ts) is loaded only when a certificate with an OCSP URL shows up.
 */
import { Backoff, SystemClock, describeError, silentLogger, StarlingError, type Clock, type Logger, type TimerHandle } from '../shared/index.js';
import type { OcspAnswer, OcspTarget } from './ocsp.js';
import { fingerprintOfDer, mayHaveOcspUrl, normalizeFingerprint, pemCertificates } from './ocsp-der.js';

/** The part of fetch the stapler uses (injectable for tests and for a proxy's own transport). */
export type OcspFetch = (
  url: string,
  init: { method: 'POST'; headers: Record<string, string>; body: Uint8Array; signal: AbortSignal },
) => Promise<{ status: number; arrayBuffer(): Promise<ArrayBuffer> }>;

export interface OcspStaplerOptions {
  clock?: Clock;
  logger?: Logger;
  fetch?: OcspFetch;
  /** Per request (default 10 s). */
  timeoutMs?: number;
  /** Backoff after a failed fetch: first delay and cap (defaults 30 s and 1 h). */
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** Fraction of the half-way delay taken off at random (default 0.1). */
  jitter?: number;
  /** [0, 1), injectable for tests (default Math.random). */
  random?: () => number;
  /** Never refresh sooner than this after a good answer (default 60 s). */
  minRefreshMs?: number;
  /** How long an answer without nextUpdate is stapled after its thisUpdate (default 1 h). */
  noNextUpdateMs?: number;
  /** Larger answers are refused (default 64 KiB). */
  maxResponseBytes?: number;
}

interface Staple {
  readonly der: Buffer;
  readonly expiresAt: number;
  readonly answer: OcspAnswer;
}

interface Entry {
  readonly fingerprint: string;
  readonly certPem: string;
  target: OcspTarget | undefined;
  staple: Staple | undefined;
  refresh: TimerHandle | undefined;
  expiry: TimerHandle | undefined;
  readonly backoff: Backoff;
  fetching: boolean;
  removed: boolean;
  /** A warning was logged for the current trouble (expired, revoked): not repeated. */
  warned: boolean;
  /** The last fetch failed (its failure was logged at info; the retries log at debug). */
  failing: boolean;
}

type OcspModule = typeof import('./ocsp.js');
let ocspModule: Promise<OcspModule> | undefined;

export class OcspStapler {
  private readonly entries = new Map<string, Entry>();
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly fetch: OcspFetch;
  private readonly o: Required<Omit<OcspStaplerOptions, 'clock' | 'logger' | 'fetch' | 'random'>> & { random: () => number };
  private closed = false;
  /** Fetches under way (for tests and for close). */
  private inFlight = new Set<Promise<void>>();

  constructor(opts: OcspStaplerOptions = {}) {
    this.clock = opts.clock ?? new SystemClock();
    this.logger = (opts.logger ?? silentLogger).child({ component: 'ocsp' });
    this.fetch = opts.fetch ?? ((url, init) => globalThis.fetch(url, init));
    this.o = {
      timeoutMs: opts.timeoutMs ?? 10_000,
      retryInitialMs: opts.retryInitialMs ?? 30_000,
      retryMaxMs: opts.retryMaxMs ?? 3_600_000,
      jitter: Math.min(1, Math.max(0, opts.jitter ?? 0.1)),
      random: opts.random ?? Math.random,
      minRefreshMs: opts.minRefreshMs ?? 60_000,
      noNextUpdateMs: opts.noNextUpdateMs ?? 3_600_000,
      maxResponseBytes: opts.maxResponseBytes ?? 64 * 1024,
    };
  }

  /**
   * The certificates in service now: new ones are asked about (in the background), gone ones are
   * dropped with their timers. Ones already known keep their staple.
   */
  sync(certs: readonly { certPem: string }[]): void {
    if (this.closed) return;
    const seen = new Set<string>();
    for (const c of certs) {
      const leaf = pemCertificates(c.certPem)[0];
      // Without id-ad-ocsp in its bytes a certificate is not kept, nor even hashed.
      if (!leaf || !mayHaveOcspUrl(leaf)) continue;
      const fingerprint = fingerprintOfDer(leaf);
      seen.add(fingerprint);
      if (this.entries.has(fingerprint)) continue;
      const entry: Entry = {
        fingerprint,
        certPem: c.certPem,
        target: undefined,
        staple: undefined,
        refresh: undefined,
        expiry: undefined,
        backoff: new Backoff({ initialMs: this.o.retryInitialMs, maxMs: this.o.retryMaxMs, random: this.o.random }),
        fetching: false,
        removed: false,
        warned: false,
        failing: false,
      };
      this.entries.set(fingerprint, entry);
      this.run(entry);
    }
    for (const [fp, e] of this.entries) if (!seen.has(fp)) this.drop(e);
  }

  /** The good OCSP response to staple for a certificate (PEM chain, leaf DER, or its fingerprint). */
  staple(cert: string | Buffer): Buffer | undefined {
    const s = this.entryOf(cert)?.staple;
    return s && this.clock.now() < s.expiresAt ? s.der : undefined;
  }

  /** The answer behind the current staple (diagnostics, tests). */
  answer(cert: string | Buffer): OcspAnswer | undefined {
    return this.entryOf(cert)?.staple?.answer;
  }

  /** Certificates being kept stapled (those with an OCSP URL). */
  get size(): number {
    return this.entries.size;
  }

  /** Resolves when no fetch is under way (tests). */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  close(): void {
    this.closed = true;
    for (const e of this.entries.values()) this.drop(e);
  }

  private entryOf(cert: string | Buffer): Entry | undefined {
    const fp = typeof cert !== 'string' ? fingerprintOfDer(cert) : cert.startsWith('-----') ? pemFingerprint(cert) : normalizeFingerprint(cert);
    return fp === undefined ? undefined : this.entries.get(fp);
  }

  private drop(e: Entry): void {
    e.removed = true;
    e.refresh?.cancel();
    e.expiry?.cancel();
    this.entries.delete(e.fingerprint);
  }

  private run(e: Entry): void {
    if (e.fetching || e.removed) return;
    e.fetching = true;
    const p = this.refreshOnce(e).finally(() => {
      e.fetching = false;
      this.inFlight.delete(p);
    });
    this.inFlight.add(p);
  }

  private schedule(e: Entry, ms: number): void {
    e.refresh?.cancel();
    if (e.removed) return;
    e.refresh = this.clock.setTimeout(() => this.run(e), Math.max(1, ms));
  }

  private async refreshOnce(e: Entry): Promise<void> {
    let ocsp: OcspModule;
    try {
      ocsp = await (ocspModule ??= import('./ocsp.js'));
      e.target ??= ocsp.ocspTarget(e.certPem);
    } catch (err) {
      // A chain without its issuer cannot be asked about until the certificate is replaced.
      this.logger.warn('cannot staple OCSP for a certificate', { fingerprint: e.fingerprint, error: describeError(err) });
      return;
    }
    const target = e.target;
    if (!target) {
      this.drop(e); // the id-ad-ocsp bytes were not an http(s) OCSP URL: nothing to do, ever
      return;
    }
    let answer: OcspAnswer;
    try {
      const der = await this.post(target);
      answer = ocsp.parseOcspResponse(der, target, this.clock.now());
    } catch (err) {
      if (e.removed) return;
      this.failed(e, err);
      return;
    }
    if (e.removed) return;
    e.backoff.reset();
    e.failing = false;
    const expiresAt = answer.nextUpdate ?? answer.thisUpdate + this.o.noNextUpdateMs;
    const half = Math.max(0, (expiresAt - answer.thisUpdate) / 2);
    const dueAt = answer.thisUpdate + half - half * this.o.jitter * this.o.random();
    this.schedule(e, Math.max(this.o.minRefreshMs, dueAt - this.clock.now()));
    if (answer.status !== 'good') {
      this.stop(e);
      if (!e.warned) this.logger.warn(`the OCSP responder says this certificate is ${answer.status}: not stapling it`, { fingerprint: e.fingerprint, url: target.url });
      e.warned = true;
      return;
    }
    if (e.warned) this.logger.info('stapling OCSP again', { fingerprint: e.fingerprint });
    e.warned = false;
    e.staple = { der: answer.der, expiresAt, answer };
    e.expiry?.cancel();
    e.expiry = this.clock.setTimeout(() => this.expire(e), Math.max(1, expiresAt - this.clock.now()));
    this.logger.debug('OCSP response stapled', { fingerprint: e.fingerprint, nextUpdate: new Date(expiresAt).toISOString() });
  }

  private failed(e: Entry, err: unknown): void {
    const delay = e.backoff.next();
    this.schedule(e, e.staple ? Math.min(delay, Math.max(1, e.staple.expiresAt - this.clock.now())) : delay);
    // One line per trouble at info; the retries after it at debug.
    const level = e.failing ? 'debug' : 'info';
    e.failing = true;
    this.logger[level]('OCSP refresh failed; retrying', { fingerprint: e.fingerprint, retryInMs: delay, error: describeError(err) });
  }

  private expire(e: Entry): void {
    if (!e.staple || e.removed) return;
    this.stop(e);
    if (!e.warned) this.logger.warn('the last good OCSP response is past its nextUpdate: not stapling this certificate until the responder answers', { fingerprint: e.fingerprint });
    e.warned = true;
  }

  private stop(e: Entry): void {
    e.staple = undefined;
    e.expiry?.cancel();
    e.expiry = undefined;
  }

  private async post(target: OcspTarget): Promise<Buffer> {
    const abort = new AbortController();
    const timer = this.clock.setTimeout(() => abort.abort(), this.o.timeoutMs);
    try {
      const res = await this.fetch(target.url, {
        method: 'POST',
        headers: { 'content-type': 'application/ocsp-request', accept: 'application/ocsp-response' },
        body: target.request,
        signal: abort.signal,
      });
      if (res.status !== 200) throw new StarlingError('ERR_OCSP_FETCH', `the OCSP responder answered HTTP ${res.status}`);
      const body = Buffer.from(await res.arrayBuffer());
      if (body.length > this.o.maxResponseBytes) throw new StarlingError('ERR_OCSP_FETCH', `the OCSP response is larger than ${this.o.maxResponseBytes} bytes`);
      return body;
    } catch (err) {
      if (err instanceof StarlingError) throw err;
      const why = abort.signal.aborted ? `did not answer within ${this.o.timeoutMs} ms` : 'cannot be reached';
      throw new StarlingError('ERR_OCSP_FETCH', `the OCSP responder at ${target.url} ${why}`, { cause: err });
    } finally {
      timer.cancel();
    }
  }
}

function pemFingerprint(pem: string): string | undefined {
  const leaf = pemCertificates(pem)[0];
  return leaf ? fingerprintOfDer(leaf) : undefined;
}
