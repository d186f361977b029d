/**
 * The lab's certificates as the control plane tells them: `GET /v1/certificates` (every certificate
 * it holds: issuer, expiry, challenge) and each app's `GET /v1/apps/{app}/certificates` (the state
 * of each name: ready, pending, failing, …), asked from the control namespace by the prober's `get`
 * mode with the operator's token and the control plane's certificate pinned. And the wait of `lab
 * up` until every PoP host serves the demo app over HTTPS with a certificate Pebble's root vouches for.
 */
import { join } from 'node:path';
import type { CertificateDoc, CertificateView } from '../contract/index.js';
import { StarlingError } from '../shared/index.js';
import { labRootPath, controlCert, controlUserToken, logTail, type LabContext } from './lab-context.js';
import { controlLog } from './lab-control.js';
import { pebbleLog } from './lab-ca.js';
import { getInLab, waitHttp, type GetLine } from './probe.js';

export interface LabCertificate {
  hostname: string;
  /** The app it belongs to (null: a platform certificate, such as the apps' wildcard). */
  app: string | null;
  /** ready, pending, failing, expired, awaiting_import (the app's view); a certificate of no app: ready or expired. */
  state: string;
  reason: string | null;
  issuer: string | null;
  notAfter: string | null;
  /** acme or custom. */
  source: string | null;
  /** The ACME challenge that passed (tls-alpn-01, http-01, dns-01). */
  challenge: string | null;
}

/** Every certificate and every app's names, from the control plane; sorted by hostname. */
export async function labCertificates(ctx: LabContext, now = Date.now()): Promise<LabCertificate[]> {
  const base = ctx.plan.control.url;
  const [docs, apps] = await api(ctx, [`${base}/v1/certificates`, `${base}/v1/apps`]);
  const certificates = (parse(docs) as { certificates?: CertificateDoc[] }).certificates ?? [];
  const names = ((parse(apps) as { apps?: Array<{ name: string }> }).apps ?? []).map((a) => a.name);
  const views = names.length === 0 ? [] : await api(ctx, names.map((n) => `${base}/v1/apps/${encodeURIComponent(n)}/certificates`));
  const out = new Map<string, LabCertificate>();
  for (const d of certificates) {
    if (out.has(d.hostname) && d.source !== 'custom') continue; // a custom certificate beats ACME's for its name
    out.set(d.hostname, {
      hostname: d.hostname,
      app: d.app,
      state: Date.parse(d.not_after) > now ? 'ready' : 'expired',
      reason: null,
      issuer: d.issuer,
      notAfter: d.not_after,
      source: d.source,
      challenge: d.challenge ?? null,
    });
  }
  for (const line of views) {
    for (const v of (parse(line) as { certificates?: CertificateView[] }).certificates ?? []) {
      const c = v.certificate;
      out.set(v.hostname, {
        hostname: v.hostname,
        app: v.app,
        state: v.state,
        reason: v.reason,
        issuer: c?.issuer ?? null,
        notAfter: c?.not_after ?? null,
        source: c?.source ?? null,
        challenge: c?.challenge ?? null,
      });
    }
  }
  return [...out.values()].sort((a, b) => a.hostname.localeCompare(b.hostname));
}

async function api(ctx: LabContext, urls: string[]): Promise<GetLine[]> {
  return getInLab(ctx.plan.control.ns, urls, { pinFile: controlCert(ctx), tokenFile: controlUserToken(ctx), timeoutMs: 5000 });
}

function parse(l: GetLine | undefined): unknown {
  if (!l || l.error !== undefined || l.status !== 200) {
    throw new StarlingError('ERR_LAB_CONTROL', `the lab's control plane did not answer ${l?.url ?? 'the certificates call'}: ${l?.error ?? `HTTP ${l?.status ?? '?'} ${l?.body.slice(0, 200) ?? ''}`}`, {
      hint: 'is the control plane running? starling lab status shows it',
    });
  }
  return JSON.parse(l.body) as unknown;
}

/**
 * Waits until every PoP host answers https://<demo app>/ at the anycast address with a certificate
 * that Pebble's root vouches for: the control plane ordered it, Pebble validated it through the
 * lab's routing, and every agent has it from the feed.
 */
export async function waitHttps(ctx: LabContext, timeoutMs = 60_000): Promise<void> {
  await Promise.all(
    ctx.plan.popHosts.map((h) =>
      waitHttp(h.ns, { url: `https://${ctx.plan.serviceAddress}/`, host: ctx.appHost, caFile: labRootPath(ctx), deadlineMs: timeoutMs, timeoutMs: 2000, everyMs: 250 }, `${h.id} to serve https://${ctx.appHost}/ with a certificate from the lab's Pebble`).catch((e: unknown) => {
        const certs = logTail(controlLog(ctx), 200).split('\n').filter((l) => /certif|acme|challenge/i.test(l)).slice(-6).join('\n');
        throw new StarlingError('ERR_LAB_TIMEOUT', `${(e as Error).message}\ncontrol plane (certificates):\n${certs}\npebble (${pebbleLog(ctx)}):\n${logTail(pebbleLog(ctx), 6)}\nagent ${h.id}: ${join(ctx.dir, 'hosts', h.id, 'agent.log')}`, { cause: e });
      }),
    ),
  );
}
