/**
 * `npm run bench:certs`: when a TLS port starts serving a certificate, seen from outside as a client
 * sees it. One handshake at a time per port (SNI, no verification), each followed by a pause, until
 * the leaf's fingerprint is the one wanted. The answer brackets the moment the proxy had it: after
 * the start of the last handshake that did not show it, before the end of the first that did.
 */
import tls from 'node:tls';

import { HOST } from './net.js';

/** Wall-clock ms with µs resolution: comparable with the control plane's `issued_at` (same host, same clock). */
export const wallNow = (): number => performance.timeOrigin + performance.now();

/** The leaf's SHA-256 fingerprint a handshake with `servername` got, or null when it was refused. */
export function servedFingerprint(port: number, servername: string, timeoutMs = 2000): Promise<string | null> {
  return new Promise((resolve) => {
    // X25519 alone: the cheapest key share, so that polling costs the agents (and this process) little.
    const s = tls.connect({ host: HOST, port, servername, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'], ecdhCurve: 'X25519' });
    const done = (v: string | null): void => {
      s.destroy();
      resolve(v);
    };
    s.setTimeout(timeoutMs, () => done(null));
    s.once('secureConnect', () => done(s.getPeerCertificate().fingerprint256 || null));
    s.once('error', () => done(null));
  });
}

export interface Seen {
  /** The end of the first handshake that showed the certificate (wall ms): the figure reported. */
  at: number;
  /** The start of the last handshake that did not show it (wall ms; when the polling began if the first one did). */
  notBefore: number;
  /** Handshakes made. */
  polls: number;
}

/**
 * Polls `port` every `intervalMs` until it serves `fingerprint` for `servername` (`fingerprint`
 * null: any certificate, for one whose fingerprint is not known yet). Throws after `deadlineMs`.
 */
export async function pollUntilServed(port: number, servername: string, fingerprint: string | null, intervalMs: number, deadlineMs: number): Promise<Seen & { fingerprint: string }> {
  const deadline = wallNow() + deadlineMs;
  let notBefore = wallNow();
  let polls = 0;
  for (;;) {
    const start = wallNow();
    const got = await servedFingerprint(port, servername);
    const end = wallNow();
    polls++;
    if (got !== null && (fingerprint === null || got === fingerprint)) return { at: end, notBefore, polls, fingerprint: got };
    notBefore = start;
    if (end > deadline) throw new Error(`127.0.0.1:${port} did not serve ${fingerprint === null ? 'a certificate' : 'the new certificate'} for ${servername} within ${deadlineMs} ms (${polls} handshakes)`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export interface Stats {
  median: number;
  p90: number;
  min: number;
  max: number;
  samples: number;
}

const r1 = (n: number): number => Math.round(n * 10) / 10;

/** Median (mean of the middle two for an even count), nearest-rank p90, min, max; ms to 0.1. */
export function stats(xs: readonly number[]): Stats | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length / 2;
  const median = s.length % 2 ? s[Math.floor(mid)]! : (s[mid - 1]! + s[mid]!) / 2;
  const p90 = s[Math.min(s.length - 1, Math.ceil(0.9 * s.length) - 1)]!;
  return { median: r1(median), p90: r1(p90), min: r1(s[0]!), max: r1(s[s.length - 1]!), samples: s.length };
}
