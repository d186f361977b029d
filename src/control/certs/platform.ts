/**
 * The control plane's certificates, wired: the sealed store over the state store, the manager with
 * its ACME client (when control.toml has `[acme]`), and the anycast addresses `certs show` tells an
 * app's owner to point a custom domain at.
 */
import { hostnameStoreKey, type HostnameDoc } from '../../contract/index.js';
import type { Clock, Logger } from '../../shared/index.js';
import type { StateStore } from '../store/index.js';
import { CertManager, type AcmeSettings, type AppsCertificateMode } from './manager.js';
import { ControlCertStore } from './store.js';

export interface PlatformCertificates {
  store: ControlCertStore;
  manager: CertManager;
  anycast: string[];
}

export interface CertificateSettings {
  apps: AppsCertificateMode;
  acme?: AcmeSettings | undefined;
  anycast: string[];
  /** Retry delays after failures (default 1 min doubling to 6 h). */
  backoff?: { baseMs: number; maxMs: number } | undefined;
}

export interface PlatformCertificatesContext {
  store: StateStore;
  secretsKey: Buffer;
  appsDomain?: string | undefined;
  clock: Clock;
  logger: Logger;
  /** Waits until every live host's view holds `revision` (challenge answers go out before the CA looks). */
  propagated?: ((revision: number) => Promise<string[]>) | undefined;
}

export function platformCertificates(ctx: PlatformCertificatesContext, settings: CertificateSettings | undefined): PlatformCertificates {
  const domain = ctx.appsDomain ?? 'starling.test';
  const store = new ControlCertStore({
    store: ctx.store,
    secretsKey: ctx.secretsKey,
    logger: ctx.logger.child({ component: 'certificates' }),
    now: () => ctx.clock.now(),
    propagated: ctx.propagated,
    async appOf(hostname) {
      if (hostname.endsWith(`.${domain}`) && !hostname.startsWith('*.')) {
        const app = hostname.slice(0, -domain.length - 1);
        if (!app.includes('.')) return app;
      }
      const doc = (await ctx.store.get('hostnames', hostnameStoreKey(hostname)))?.value as HostnameDoc | undefined;
      return doc?.app ?? null;
    },
  });
  const manager = new CertManager({
    store: ctx.store,
    certs: store,
    appsDomain: domain,
    apps: settings?.apps ?? 'per-app',
    acme: settings?.acme,
    backoff: settings?.backoff,
    clock: ctx.clock,
    logger: ctx.logger,
  });
  return { store, manager, anycast: settings?.anycast ?? [] };
}
