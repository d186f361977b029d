/**
 * The platform's one ACME client (docs/certificates.md): it keeps a certificate for every name the
 * platform serves — each app's `<app>.<apps_domain>` (control.toml `[certificates] apps =
 * "per-app"`) or the one `*.<apps_domain>` (`"wildcard"`: imported, or ordered by DNS-01), and every
 * custom domain (`hostnames`). RenewalManager (src/certs) orders what is missing, renews at 2/3 of
 * the lifetime with jitter, and backs off on failure; a certificate whose renewal fails stays in
 * service until it expires. The names follow the store: an app or hostname added or removed is
 * managed or dropped within one change.
 */
import { AcmeIssuer, RenewalManager, type ChallengeType, type Dns01Solver, type RenewalStatus } from '../../certs/index.js';
import { hostnameFromStoreKey, type AppDoc, type HostnameDoc } from '../../contract/index.js';
import { describeError, type Clock, type Logger } from '../../shared/index.js';
import type { StateStore } from '../store/index.js';
import type { ControlCertStore } from './store.js';

export interface AcmeSettings {
  directoryUrl: string;
  email?: string | undefined;
  /** PEM of a CA to trust for the directory's own HTTPS (Pebble's, in tests and the lab). */
  caBundlePem?: string | undefined;
  challenges?: ChallengeType[] | undefined;
  /** First delay between order status polls (acme-client's own timers). */
  pollIntervalMs?: number | undefined;
  /** DNS-01 (RFC 2136): wildcards can be ordered, `*.<apps_domain>` among them in "wildcard" mode. */
  dns01?: Dns01Solver | undefined;
}

export type AppsCertificateMode = 'per-app' | 'wildcard';

export interface CertManagerOptions {
  store: StateStore;
  certs: ControlCertStore;
  appsDomain: string;
  apps: AppsCertificateMode;
  /** Without it nothing is ordered: certificates come from imports only. */
  acme?: AcmeSettings | undefined;
  clock: Clock;
  logger: Logger;
  /** Retry delays after failures (default 1 min doubling to 6 h). */
  backoff?: { baseMs: number; maxMs: number } | undefined;
}

export class CertManager {
  private readonly renewal: RenewalManager | undefined;
  private readonly log: Logger;
  private unwatch: (() => void) | undefined;
  private syncing: Promise<void> | undefined;
  private again = false;

  constructor(private readonly o: CertManagerOptions) {
    this.log = o.logger.child({ component: 'certificates' });
    if (o.acme) {
      const issuer = new AcmeIssuer({
        directoryUrl: o.acme.directoryUrl,
        email: o.acme.email,
        caBundlePem: o.acme.caBundlePem,
        ...(o.acme.challenges ? { challengePriority: o.acme.challenges } : {}),
        dns01: o.acme.dns01,
        ...(o.acme.pollIntervalMs !== undefined ? { pollIntervalMs: o.acme.pollIntervalMs } : {}),
        store: o.certs,
        logger: this.log,
      });
      this.renewal = new RenewalManager({ store: o.certs, issuer, clock: o.clock, logger: this.log, ...(o.backoff ? { backoff: o.backoff } : {}) });
    }
  }

  /** Wildcards can be ordered (DNS-01 is set up). */
  get dns01Enabled(): boolean {
    return this.o.acme?.dns01 !== undefined;
  }

  get acmeEnabled(): boolean {
    return this.renewal !== undefined;
  }

  /** The names ordered by ACME for `<app>.<apps_domain>` ("per-app"), else none. */
  appHostname(app: string): string {
    return `${app}.${this.o.appsDomain}`;
  }

  /** The name whose certificate covers an app's own hostname. */
  coveringName(app: string): string {
    return this.o.apps === 'wildcard' ? `*.${this.o.appsDomain}` : this.appHostname(app);
  }

  async start(): Promise<void> {
    if (!this.renewal) {
      this.log.info('no ACME CA configured ([acme] in control.toml): certificates come from imports only');
      return;
    }
    const from = await this.o.store.revision();
    await this.sync();
    this.renewal.start();
    this.unwatch = this.o.store.watch(
      from,
      () => this.resync(),
      (e) => this.log.warn('watching apps and hostnames ended; names added from now on wait for a restart', { error: describeError(e) }),
      { collections: ['apps', 'hostnames'] },
    );
  }

  async stop(): Promise<void> {
    this.unwatch?.();
    await this.syncing;
    await this.renewal?.stop();
  }

  /** Resolves when no order or look at the store is under way (tests). */
  async idle(): Promise<void> {
    await this.syncing;
    await this.renewal?.idle();
  }

  /** Every managed name's renewal state. */
  statuses(): RenewalStatus[] {
    return this.renewal?.status() ?? [];
  }

  status(hostname: string): RenewalStatus | undefined {
    return this.renewal?.statusOf(hostname);
  }

  /** `certs check`: look at a name now (a failing order is retried at once); resolves when that attempt has ended. */
  retryNow(hostname: string): Promise<void> {
    return this.renewal?.retryNow(hostname) ?? Promise.resolve();
  }

  /** The names that should have a certificate now. */
  async wantedNames(): Promise<Set<string>> {
    const names = new Set<string>();
    if (this.o.apps === 'per-app') {
      for (const e of await this.o.store.list('apps')) names.add(this.appHostname((e.value as AppDoc).name));
    }
    // "wildcard": one certificate for every app, ordered by DNS-01 when it is set up, else imported.
    else if (this.dns01Enabled) names.add(`*.${this.o.appsDomain}`);
    for (const e of await this.o.store.list('hostnames')) names.add((e.value as HostnameDoc).hostname ?? hostnameFromStoreKey(e.key));
    return names;
  }

  private resync(): void {
    if (this.syncing) {
      this.again = true;
      return;
    }
    this.syncing = (async () => {
      do {
        this.again = false;
        await this.sync().catch((e: unknown) => this.log.warn('could not read the names to certify', { error: describeError(e) }));
      } while (this.again);
      this.syncing = undefined;
    })();
  }

  private async sync(): Promise<void> {
    const r = this.renewal;
    if (!r) return;
    const wanted = await this.wantedNames();
    for (const name of wanted) r.manage(name);
    for (const s of r.status()) {
      if (wanted.has(s.hostname)) continue;
      r.unmanage(s.hostname);
      // A name nobody serves any more: its ACME certificate goes (an imported one is the operator's to remove).
      await this.o.certs.remove(s.hostname, 'acme').catch((e: unknown) => this.log.warn('could not remove a certificate', { hostname: s.hostname, error: describeError(e) }));
    }
  }
}
