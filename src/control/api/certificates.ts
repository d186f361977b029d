/**
 * Certificates and custom domains (`starling certs …`, docs/certificates.md). An app has its own
 * `<app>.<apps_domain>` and any custom domains attached with `certs add`; each name belongs to one
 * app (hostnames/<name>, created with expectRevision 0: a second claim is 409). The platform's one
 * ACME client (control/certs) orders and renews their certificates; an imported certificate (PEM
 * chain and key, checked: key matches, valid now, chain verifies) beats ACME for its name. Answers
 * never hold a private key.
 */
import { z } from 'zod';
import { checkChain, coversName, inspectCertificate } from '../../certs/index.js';
import { DEFAULT_APPS_DOMAIN, certificateKey, hostnameStoreKey, type CertificateDoc, type HostnameDoc } from '../../contract/index.js';
import { StarlingError, isStarlingError, type TimerHandle } from '../../shared/index.js';
import { certificateView, hostnameProblem, platformCertificates, type CertificateView } from '../certs/index.js';
import { getApp } from './apps.js';
import { HttpError, json, route, type Route } from './http.js';
import type { ApiContext } from './schemas.js';

const Pem = z.string().min(1).max(64 * 1024);
const AddCertificate = z.strictObject({ hostname: z.string().min(1).max(300), cert_pem: Pem.optional(), key_pem: Pem.optional() });
const ImportCertificate = z.strictObject({ cert_pem: Pem, key_pem: Pem });
const CheckQuery = z.strictObject({ wait: z.string().regex(/^\d{1,3}$/, 'seconds, 0 to 120').optional() });

export function certificateRoutes(ctx: ApiContext): Route[] {
  const { store } = ctx;
  const domain = ctx.appsDomain ?? DEFAULT_APPS_DOMAIN;
  // Socket-free tests pass no certificates: imports still work, nothing is ordered.
  ctx.certificates ??= platformCertificates(ctx, undefined);
  const certs = (): NonNullable<ApiContext['certificates']> => ctx.certificates!;
  const now = (): string => new Date(ctx.clock.now()).toISOString();

  /** The docs that cover `hostname`, best first: custom exact, acme exact, then a custom wildcard one label up. */
  async function candidates(hostname: string): Promise<CertificateDoc[]> {
    const c = certs().store;
    const dot = hostname.indexOf('.');
    const wild = !hostname.startsWith('*.') && dot > 0 ? `*${hostname.slice(dot)}` : undefined;
    const found = await Promise.all([c.doc(hostname, 'custom'), c.doc(hostname, 'acme'), wild ? c.doc(wild, 'custom') : undefined, wild ? c.doc(wild, 'acme') : undefined]);
    return found.filter((d): d is CertificateDoc => d !== undefined);
  }

  async function view(app: string, hostname: string, kind: 'app' | 'custom'): Promise<CertificateView> {
    const { manager, anycast } = certs();
    return certificateView({
      hostname,
      app,
      kind,
      candidates: await candidates(hostname),
      status: manager.status(kind === 'app' ? manager.coveringName(app) : hostname),
      acmeEnabled: manager.acmeEnabled,
      anycast,
      now: ctx.clock.now(),
    });
  }

  async function customOf(app: string): Promise<HostnameDoc[]> {
    return (await store.list('hostnames')).map((e) => e.value as HostnameDoc).filter((h) => h.app === app);
  }

  /** The app's name `hostname` (its own, or an attached custom domain), else 404. */
  async function nameOf(app: string, raw: string): Promise<{ hostname: string; kind: 'app' | 'custom' }> {
    const h = raw.toLowerCase().replace(/\.$/, '');
    if (h === `${app}.${domain}`) return { hostname: h, kind: 'app' };
    const doc = (await store.get('hostnames', hostnameStoreKey(h)).catch(() => undefined))?.value as HostnameDoc | undefined;
    if (doc?.app !== app) throw new HttpError(404, 'ERR_HOSTNAME_NOT_FOUND', `app ${app} has no hostname ${JSON.stringify(raw)}`);
    return { hostname: h, kind: 'custom' };
  }

  /** Checks an imported certificate for `hostname` and stores it as the name's custom certificate. */
  async function importFor(hostname: string, certPem: string, keyPem: string): Promise<void> {
    try {
      const facts = inspectCertificate(certPem, keyPem);
      checkChain(facts.certPem, ctx.clock.now());
      if (!coversName(facts.names, hostname)) {
        throw new StarlingError('ERR_CERT_HOSTNAME_MISMATCH', `the certificate covers ${facts.names.join(', ') || 'no names'}, not ${hostname}`, { fault: 'user' });
      }
      await certs().store.put({ hostname, source: 'custom', certPem: facts.certPem, keyPem, names: facts.names, notBefore: facts.notBefore, notAfter: facts.notAfter });
    } catch (e) {
      if (e instanceof StarlingError && e.fault === 'user') throw new HttpError(400, e.code, e.message);
      throw e;
    }
  }

  return [
    route({
      method: 'POST',
      path: '/v1/apps/{app}/certificates',
      access: 'deploy',
      summary: 'Attach a custom domain to the app and order its certificate (or import one: cert_pem + key_pem)',
      requestSchema: AddCertificate,
      responses: { '201': 'the certificate view', '200': 'already attached to this app', '400': 'ERR_HOSTNAME_INVALID, or an imported certificate refused', '409': 'ERR_HOSTNAME_TAKEN' },
      async handler({ params, body }) {
        const app = params.app!;
        await getApp(ctx, app);
        const checked = hostnameProblem(body.hostname, domain);
        if ('problem' in checked) throw new HttpError(400, 'ERR_HOSTNAME_INVALID', checked.problem);
        const hostname = checked.hostname;
        if ((body.cert_pem === undefined) !== (body.key_pem === undefined)) throw new HttpError(400, 'ERR_BAD_REQUEST', 'give both cert_pem and key_pem to import a certificate, or neither to order one');
        if (hostname.startsWith('*.') && body.cert_pem === undefined && !certs().manager.dns01Enabled) {
          throw new HttpError(400, 'ERR_HOSTNAME_INVALID', `${hostname}: a wildcard is ordered by DNS-01, which this platform has not set up ([acme.dns01] in control.toml); import a certificate for it instead`);
        }
        const existing = (await store.get('hostnames', hostnameStoreKey(hostname)))?.value as HostnameDoc | undefined;
        if (existing && existing.app !== app) throw taken(hostname);
        // The certificate is checked before the name is claimed: a refused import claims nothing.
        if (body.cert_pem !== undefined && body.key_pem !== undefined) await importFor(hostname, body.cert_pem, body.key_pem);
        if (!existing) {
          try {
            await store.put('hostnames', hostnameStoreKey(hostname), { hostname, app, created_at: now() } satisfies HostnameDoc, { expectRevision: 0 });
          } catch (e) {
            if (!isStarlingError(e, 'ERR_STORE_CONFLICT')) throw e;
            const winner = (await store.get('hostnames', hostnameStoreKey(hostname)))?.value as HostnameDoc | undefined;
            if (winner?.app !== app) throw taken(hostname);
          }
          ctx.logger.info('hostname attached', { app, hostname });
        }
        return json(existing ? 200 : 201, await view(app, hostname, 'custom'));
      },
    }),
    route({
      method: 'GET',
      path: '/v1/apps/{app}/certificates',
      access: 'read',
      summary: "The app's hostnames (its own and custom domains) and their certificates",
      responses: { '200': '{ certificates: [view] }', '404': 'ERR_APP_NOT_FOUND' },
      async handler({ params }) {
        const app = params.app!;
        await getApp(ctx, app);
        const own = await view(app, `${app}.${domain}`, 'app');
        const custom = await Promise.all((await customOf(app)).map((h) => view(app, h.hostname, 'custom')));
        return json(200, { certificates: [own, ...custom.sort((a, b) => a.hostname.localeCompare(b.hostname))] });
      },
    }),
    route({
      method: 'GET',
      path: '/v1/apps/{app}/certificates/{hostname}',
      access: 'read',
      summary: 'One hostname: the certificate served (issuer, expiry, challenge), renewal, and the DNS records to create',
      responses: { '200': 'the certificate view', '404': 'ERR_APP_NOT_FOUND or ERR_HOSTNAME_NOT_FOUND' },
      async handler({ params }) {
        const app = params.app!;
        await getApp(ctx, app);
        const n = await nameOf(app, params.hostname!);
        return json(200, await view(app, n.hostname, n.kind));
      },
    }),
    route({
      method: 'POST',
      path: '/v1/apps/{app}/certificates/{hostname}/check',
      access: 'deploy',
      summary: 'Order (or retry) the certificate now instead of after its backoff; waits up to `wait` seconds for the outcome',
      querySchema: CheckQuery,
      responses: { '200': 'the certificate view', '404': 'ERR_APP_NOT_FOUND or ERR_HOSTNAME_NOT_FOUND' },
      async handler({ params, query, signal }) {
        const app = params.app!;
        await getApp(ctx, app);
        const n = await nameOf(app, params.hostname!);
        const { manager } = certs();
        const name = n.kind === 'app' ? manager.coveringName(app) : n.hostname;
        // The attempt itself, or the deadline, or the client going: whichever comes first.
        const waitMs = Math.min(Number(query.wait ?? '30'), 120) * 1000;
        let timer: TimerHandle | undefined;
        let onAbort: (() => void) | undefined;
        await Promise.race([
          manager.retryNow(name),
          new Promise<void>((resolve) => {
            timer = ctx.clock.setTimeout(resolve, waitMs);
            onAbort = resolve;
            signal.addEventListener('abort', onAbort);
          }),
        ]).finally(() => {
          timer?.cancel();
          if (onAbort) signal.removeEventListener('abort', onAbort);
        });
        return json(200, await view(app, n.hostname, n.kind));
      },
    }),
    route({
      method: 'DELETE',
      path: '/v1/apps/{app}/certificates/{hostname}',
      access: 'deploy',
      summary: 'Detach a custom domain: no PoP routes it or serves its certificate any more',
      responses: { '200': '{ deleted: hostname }', '400': "the app's own hostname cannot be removed", '404': 'ERR_APP_NOT_FOUND or ERR_HOSTNAME_NOT_FOUND' },
      async handler({ params }) {
        const app = params.app!;
        await getApp(ctx, app);
        const n = await nameOf(app, params.hostname!);
        if (n.kind === 'app') throw new HttpError(400, 'ERR_HOSTNAME_INVALID', `${n.hostname} is the app's own hostname; it goes with the app (starling apps destroy)`);
        await store.transaction([
          { op: 'delete', collection: 'hostnames', key: hostnameStoreKey(n.hostname) },
          { op: 'delete', collection: 'certificates', key: certificateKey('custom', n.hostname) },
          { op: 'delete', collection: 'certificates', key: certificateKey('acme', n.hostname) },
        ]);
        ctx.logger.info('hostname detached', { app, hostname: n.hostname });
        return json(200, { deleted: n.hostname });
      },
    }),
    ...platformCertificateRoutes(ctx, importFor),
  ];
}

/** The owner is not named: it may be another org's app. */
function taken(hostname: string): HttpError {
  return new HttpError(409, 'ERR_HOSTNAME_TAKEN', `${hostname} already belongs to another app; remove it there first (starling certs remove ${hostname} --app OTHER)`);
}

/** The operator's certificates: the apps' wildcard (`*.<apps_domain>`) and the list of all. */
function platformCertificateRoutes(ctx: ApiContext, importFor: (h: string, c: string, k: string) => Promise<void>): Route[] {
  return [
    route({
      method: 'PUT',
      path: '/v1/certificates/{hostname}',
      access: 'platform',
      summary: 'Import a platform certificate (e.g. *.<apps_domain>, for [certificates] apps = "wildcard")',
      requestSchema: ImportCertificate,
      responses: { '200': 'the stored certificate (no key)', '400': 'the certificate is refused: the reason' },
      async handler({ params, body }) {
        const raw = (params.hostname ?? '').toLowerCase();
        const hostname = raw.replace(/^_wildcard_\./, '*.');
        const domain = ctx.appsDomain ?? DEFAULT_APPS_DOMAIN;
        const ok = hostname === `*.${domain}` || hostname.endsWith(`.${domain}`);
        if (!ok) throw new HttpError(400, 'ERR_HOSTNAME_INVALID', `${hostname}: a platform certificate is for the apps_domain (*.${domain} or <app>.${domain}); an app's custom domain is imported with certs import --app`);
        await importFor(hostname, body.cert_pem, body.key_pem);
        const doc = await ctx.certificates!.store.doc(hostname, 'custom');
        return json(200, doc && publicDoc(doc));
      },
    }),
    route({
      method: 'GET',
      path: '/v1/certificates',
      access: 'platform',
      summary: 'Every certificate the platform holds (never a key)',
      responses: { '200': '{ certificates: [...] }' },
      async handler() {
        const docs = ctx.certificates ? await ctx.certificates.store.docs() : [];
        return json(200, { certificates: docs.map(publicDoc) });
      },
    }),
  ];
}

export function publicDoc(d: CertificateDoc): Omit<CertificateDoc, 'key_sealed' | 'key_pem'> {
  const { key_sealed: _sealed, key_pem: _clear, ...rest } = d;
  return rest;
}
