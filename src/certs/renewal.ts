import { describeError, type Clock, type Logger, type TimerHandle } from '../shared/index.js';
import type { CertSource, CertificateStore, StoredCertificate } from './types.js';

/**
 * Keeps ACME certificates fresh: renews at two-thirds of a certificate's lifetime (as Let's Encrypt
 * recommends for 90-day certificates), spread by ±5 % of the lifetime so a fleet does not renew in
 * one burst. Failures back off exponentially and are reported (warn log + status()).
 *
 * The manager never removes a certificate: the issuer stores the new one over the old, so an
 * expiring certificate stays in service until its replacement has landed. Custom certificates are
 * never renewed; while one exists for a hostname, no ACME order is placed for it.
 *
 * The state is re-read from the store on every wake-up, so a certificate renewed by another PoP
 * (shared store) is noticed and not renewed twice. Wake-ups are at most `checkIntervalMs` apart,
 * which also keeps every delay far below the 2^31 ms limit of real timers.
 */
export type RenewalState = 'valid' | 'renewing' | 'failing' | 'missing';

export interface RenewalStatus {
  hostname: string;
  state: RenewalState;
  /** Which certificate is in service ('custom' ones are never renewed). */
  source?: CertSource;
  notAfter?: string;
  /** Epoch ms of the next renewal (or retry) attempt. */
  nextAttemptAt: number;
  lastError?: string;
  failures: number;
}

export interface RenewalManagerOptions {
  store: Pick<CertificateStore, 'get'>;
  issuer: { issue(hostname: string): Promise<StoredCertificate> };
  clock: Clock;
  logger: Logger;
  /** In [0, 1); draws the jitter. Default Math.random. */
  random?: () => number;
  /** Longest sleep between looks at the store. Default 1 h. */
  checkIntervalMs?: number;
  /** Retry delay after the n-th consecutive failure: baseMs · 2^(n-1), at most maxMs. Default 1 min, 6 h. */
  backoff?: { baseMs: number; maxMs: number };
}

interface Entry {
  status: RenewalStatus;
  timer: TimerHandle | undefined;
  /** Jitter drawn for the certificate with this notAfter; redrawn only when the certificate changes. */
  jitter: { notAfter: string; ms: number } | undefined;
  busy: boolean;
  /** The look (and renewal) under way while busy: what retryNow hands back. */
  attempt: Promise<void> | undefined;
}

const JITTER = 0.05;

export class RenewalManager {
  private readonly entries = new Map<string, Entry>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly random: () => number;
  private readonly checkMs: number;
  private readonly backoff: { baseMs: number; maxMs: number };
  private readonly log: Logger;
  private running = false;

  constructor(private readonly opts: RenewalManagerOptions) {
    this.random = opts.random ?? Math.random;
    this.checkMs = opts.checkIntervalMs ?? 60 * 60_000;
    this.backoff = opts.backoff ?? { baseMs: 60_000, maxMs: 6 * 60 * 60_000 };
    this.log = opts.logger.child({ component: 'cert-renewal' });
  }

  manage(hostname: string): void {
    if (this.entries.has(hostname)) return;
    const status: RenewalStatus = { hostname, state: 'missing', nextAttemptAt: this.opts.clock.now(), failures: 0 };
    this.entries.set(hostname, { status, timer: undefined, jitter: undefined, busy: false, attempt: undefined });
    if (this.running) void this.wake(hostname);
  }

  /** Stops renewing `hostname`. Its certificate stays in the store. */
  unmanage(hostname: string): void {
    this.entries.get(hostname)?.timer?.cancel();
    this.entries.delete(hostname);
  }

  /**
   * Looks at `hostname` now: a failing one is retried at once instead of after its backoff. Resolves
   * when that look (and the order it places) has ended — or the one already under way, if any.
   */
  retryNow(hostname: string): Promise<void> {
    const entry = this.entries.get(hostname);
    if (!entry || !this.running) return Promise.resolve();
    if (entry.busy && entry.attempt) return entry.attempt;
    entry.timer?.cancel();
    entry.timer = undefined;
    entry.status.nextAttemptAt = this.opts.clock.now();
    return this.wake(hostname);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    for (const hostname of this.entries.keys()) void this.wake(hostname);
  }

  /** Cancels every timer and waits for renewals already under way (their results are still stored). */
  async stop(): Promise<void> {
    this.running = false;
    for (const e of this.entries.values()) {
      e.timer?.cancel();
      e.timer = undefined;
    }
    await Promise.allSettled([...this.inFlight]);
  }

  /** Resolves when no look at the store or renewal is under way (for tests and orderly shutdown). */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  status(): RenewalStatus[] {
    return [...this.entries.values()].map((e) => ({ ...e.status }));
  }

  /** One name's status (a copy), or undefined when it is not managed. */
  statusOf(hostname: string): RenewalStatus | undefined {
    const e = this.entries.get(hostname);
    return e && { ...e.status };
  }

  private wake(hostname: string): Promise<void> {
    const p = this.check(hostname).catch((e: unknown) => {
      // Reading the store failed: try again at the next check, as after a failed renewal.
      const entry = this.entries.get(hostname);
      if (entry) this.failed(entry, e);
    });
    // check() marks the entry busy before its first await: this call is the one under way.
    const entry = this.entries.get(hostname);
    if (entry?.busy) entry.attempt = p;
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
    return p;
  }

  /** Looks at the store and either sleeps until the renewal point or renews now. */
  private async check(hostname: string): Promise<void> {
    const entry = this.entries.get(hostname);
    if (!entry || entry.busy || !this.running) return;
    entry.busy = true;
    try {
      const now = this.opts.clock.now();
      const custom = await this.opts.store.get(hostname, 'custom');
      if (custom) {
        Object.assign(entry.status, { state: 'valid', source: 'custom', notAfter: custom.notAfter, failures: 0, lastError: undefined });
        return this.schedule(entry, now + this.checkMs);
      }
      const current = await this.opts.store.get(hostname, 'acme');
      const renewAt = current ? this.renewalPoint(entry, current) : now;
      if (current) Object.assign(entry.status, { source: 'acme', notAfter: current.notAfter });
      if (renewAt > now) {
        // Fresh (maybe renewed by another PoP meanwhile): forget earlier failures.
        Object.assign(entry.status, { state: 'valid', failures: 0, lastError: undefined });
        return this.schedule(entry, renewAt);
      }
      if (entry.status.failures > 0 && entry.status.nextAttemptAt > now) return this.schedule(entry, entry.status.nextAttemptAt);
      await this.renew(entry, current);
    } finally {
      entry.busy = false;
    }
  }

  private async renew(entry: Entry, current: StoredCertificate | undefined): Promise<void> {
    const { hostname } = entry.status;
    entry.status.state = 'renewing';
    this.log.info(current ? 'renewing certificate' : 'obtaining certificate', { hostname, notAfter: current?.notAfter });
    let fresh: StoredCertificate;
    try {
      fresh = await this.opts.issuer.issue(hostname);
    } catch (e) {
      return this.failed(entry, e);
    }
    if (this.entries.get(hostname) !== entry) return; // unmanaged meanwhile
    Object.assign(entry.status, { state: 'valid', source: 'acme', notAfter: fresh.notAfter, failures: 0, lastError: undefined });
    this.log.info('certificate renewed', { hostname, notAfter: fresh.notAfter });
    this.schedule(entry, this.renewalPoint(entry, fresh));
  }

  private failed(entry: Entry, e: unknown): void {
    if (this.entries.get(entry.status.hostname) !== entry) return;
    const failures = entry.status.failures + 1;
    const delay = Math.min(this.backoff.baseMs * 2 ** (failures - 1), this.backoff.maxMs);
    Object.assign(entry.status, { state: 'failing', failures, lastError: describeError(e) });
    this.log.warn('certificate renewal failed', {
      hostname: entry.status.hostname,
      failures,
      retryInMs: delay,
      notAfter: entry.status.notAfter,
      error: entry.status.lastError,
    });
    this.schedule(entry, this.opts.clock.now() + delay);
  }

  /** notBefore + 2/3 of the lifetime ± 5 % of the lifetime. */
  private renewalPoint(entry: Entry, cert: StoredCertificate): number {
    const from = Date.parse(cert.notBefore);
    const lifetime = Date.parse(cert.notAfter) - from;
    if (entry.jitter?.notAfter !== cert.notAfter) {
      entry.jitter = { notAfter: cert.notAfter, ms: (this.random() * 2 - 1) * JITTER * lifetime };
    }
    return from + (lifetime * 2) / 3 + entry.jitter.ms;
  }

  private schedule(entry: Entry, at: number): void {
    entry.timer?.cancel();
    entry.timer = undefined;
    entry.status.nextAttemptAt = at;
    if (!this.running || this.entries.get(entry.status.hostname) !== entry) return;
    const delay = Math.min(Math.max(0, at - this.opts.clock.now()), this.checkMs);
    entry.timer = this.opts.clock.setTimeout(() => void this.wake(entry.status.hostname), delay);
  }
}
