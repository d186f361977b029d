/**
 * What `certs list|show` answer for one hostname of an app: which certificate is served (never its
 * key), how ordering and renewal go, and the DNS records the app's owner must create. Pure.
 */
import type { RenewalStatus } from '../../certs/index.js';
import type { CertificateDoc, CertificateState, CertificateView } from '../../contract/index.js';

export type { CertificateState, CertificateView, DnsRecord } from '../../contract/index.js';

export interface ViewInput {
  hostname: string;
  app: string;
  kind: 'app' | 'custom';
  /** Candidates that cover the name, best first (custom exact, acme exact, the apps wildcard). */
  candidates: readonly CertificateDoc[];
  status: RenewalStatus | undefined;
  acmeEnabled: boolean;
  anycast: readonly string[];
  now: number;
}

export function certificateView(i: ViewInput): CertificateView {
  const valid = i.candidates.find((c) => Date.parse(c.not_before) <= i.now && i.now < Date.parse(c.not_after));
  const served = valid ?? i.candidates[0];
  const s = i.status;
  let state: CertificateState;
  let reason: string | null = null;
  if (valid) {
    state = s?.state === 'failing' ? 'failing' : 'ready';
    if (state === 'failing') reason = `renewal failing (the current certificate is served until ${valid.not_after}): ${s?.lastError ?? 'unknown error'}`;
  } else if (served) {
    state = 'expired';
    reason = s?.lastError ? `expired; ordering a new one fails: ${s.lastError}` : `expired on ${served.not_after}`;
  } else if (!i.acmeEnabled) {
    state = 'awaiting_import';
    reason = 'no ACME CA is configured ([acme] in control.toml): import a certificate (starling certs import)';
  } else if (s?.state === 'failing') {
    state = 'failing';
    reason = s.lastError ?? 'the order failed';
  } else {
    state = 'pending';
  }
  return {
    hostname: i.hostname,
    app: i.app,
    kind: i.kind,
    state,
    reason,
    certificate: served
      ? {
          filed_under: served.hostname,
          source: served.source,
          issuer: served.issuer,
          names: served.names,
          not_before: served.not_before,
          not_after: served.not_after,
          fingerprint256: served.fingerprint256,
          challenge: served.challenge ?? null,
          issued_at: served.issued_at,
        }
      : null,
    renewal: s ? { state: s.state, next_attempt_at: new Date(s.nextAttemptAt).toISOString(), failures: s.failures, last_error: s.lastError ?? null } : null,
    // The app's own name is in the platform's zone; a custom domain points at the anycast addresses.
    dns_records: i.kind === 'custom' && !i.hostname.startsWith('*.') ? i.anycast.map((a) => ({ type: a.includes(':') ? 'AAAA' : 'A', name: i.hostname, value: a })) : [],
  };
}
