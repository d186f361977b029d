/**
 * How Starling's clients (the CLI, the agents) trust the control plane's HTTPS certificate, as ssh
 * trusts a host key: a certificate is trusted when its SHA-256 fingerprint is the pinned one, or —
 * with no pin — when a CA the system trusts vouches for it and its name; an unknown self-signed
 * certificate is offered to `onUnknown` (trust on first use: the CLI pins it and says so). Anything
 * else fails the connection before a request (or a token) is sent.
 *
 * Fingerprints are the SHA-256 of the certificate's DER bytes, what `openssl x509 -noout
 * -fingerprint -sha256` prints. They are kept as 64 lower-case hex digits and shown as
 * `AB:CD:…`. Plain `http://` is refused for anything but a loopback address unless the caller
 * says insecure (see `checkPlainHttp`).
 */
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Dispatcher } from 'undici';
import { StarlingError } from './errors.js';

export interface TlsTrust {
  /** The pinned certificate fingerprint (64 hex digits): only that certificate is accepted. */
  fingerprint?: string | undefined;
  /**
   * A certificate no CA vouches for and nothing pins: true accepts it (the caller pins it). Absent
   * or false: the connection is refused.
   */
  onUnknown?: ((fingerprint: string, origin: string) => boolean) | undefined;
}

/** How connections are made, when not by TCP to the URL's address. */
export interface Transport {
  /**
   * Where each connection's bytes go instead of a TCP connection to the URL's address (a lab's
   * control plane is behind a relay, src/cli/lab-target.ts); TLS and its checks run over it as
   * they would over TCP. https:// only. Tunnelled connections are not kept alive: each request
   * has its own, so that a finished command does not wait on an idle relay.
   */
  tunnel?: ((host: string, port: number) => Promise<Duplex>) | undefined;
}

/** `sha256:AB:CD…`, `ab cd…`, `ABCD…` → 64 lower-case hex digits; undefined when it is none. */
export function normalizeFingerprint(text: string): string | undefined {
  const hex = text.trim().replace(/^sha256[:=]?\s*/i, '').replace(/[:\s]/g, '').toLowerCase();
  return /^[0-9a-f]{64}$/.test(hex) ? hex : undefined;
}

/** 64 hex digits → `AB:CD:…`, as openssl shows it. */
export function formatFingerprint(hex: string): string {
  return (hex.toUpperCase().match(/../g) ?? []).join(':');
}

/** The fingerprint of the first certificate in a PEM text. */
export function certFingerprint(pem: string): string {
  return normalizeFingerprint(new X509Certificate(pem).fingerprint256)!;
}

export const isLoopbackHost = (host: string): boolean => {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h) || /^::ffff:127\./.test(h);
};

/**
 * Refuses `http://` to anything but loopback: tokens and secrets would cross the network in
 * clear. `insecure` overrides (documented as for tests and trusted networks only).
 */
export function checkPlainHttp(url: URL, insecure: boolean, what: string, hint: string): void {
  if (url.protocol !== 'http:' || insecure || isLoopbackHost(url.hostname)) return;
  throw new StarlingError('ERR_CONTROL_INSECURE', `${what} ${url.origin} is plain HTTP to a non-loopback address: tokens would travel in clear`, { fault: 'user', hint });
}

/** Why a certificate was not trusted; the connection is refused with it. */
export class UntrustedCertificateError extends StarlingError {
  constructor(
    readonly origin: string,
    readonly fingerprint: string,
    readonly pinned: string | undefined,
  ) {
    super(
      'ERR_TLS_UNTRUSTED',
      pinned
        ? `the certificate of ${origin} is not the pinned one: it is sha256 ${formatFingerprint(fingerprint)}, the pin is ${formatFingerprint(pinned)}. ` +
            'Someone may be intercepting the connection, or the control plane got a new certificate.'
        : `the certificate of ${origin} (sha256 ${formatFingerprint(fingerprint)}) is not signed by a trusted CA and is not pinned`,
      {
        fault: 'user',
        hint: pinned
          ? "if the operator confirms the new certificate, pin it: ask for its fingerprint (the control plane logs it at start) and update the pin"
          : 'pin it: pass its fingerprint (the control plane logs it at start; openssl x509 -noout -fingerprint -sha256 -in tls.crt)',
      },
    );
  }
}

/** undici is loaded on first use: processes that never call the control plane do not pay for it. */
let undici: Promise<typeof import('undici')> | undefined;
const loadUndici = (): Promise<typeof import('undici')> => (undici ??= import('undici'));

/** An undici dispatcher whose TLS connections are checked against `trust`. */
function trustingAgent(u: typeof import('undici'), trust: TlsTrust, transport: Transport): Dispatcher {
  // No session resumption: a resumed session shows no certificate, and every connection must show
  // the one it is checked against.
  const base = u.buildConnector({ rejectUnauthorized: false, maxCachedSessions: 0 });
  const { tunnel } = transport;
  return new u.Agent({
    ...(tunnel ? { pipelining: 0 } : {}),
    connect: (opts, callback) => {
      if (tunnel && opts.protocol !== 'https:') return callback(new StarlingError('ERR_CONTROL_CONFIG', 'a tunnelled connection must be https://', { fault: 'user' }), null);
      const through = tunnel ? tunnel(opts.hostname, Number(opts.port) || 443) : Promise.resolve(undefined);
      through.then(
        // undici's connector takes any stream as the socket TLS runs over (its proxies pass theirs).
        (httpSocket) => connectChecked(httpSocket === undefined ? opts : { ...opts, httpSocket: httpSocket as Socket }, callback),
        (e: unknown) => callback(e instanceof Error ? e : new Error(String(e)), null),
      );
    },
  });

  function connectChecked(opts: Parameters<typeof base>[0], callback: Parameters<typeof base>[1]): void {
    base(opts, (err, socket) => {
      if (err || !socket) return callback(err ?? new Error('no socket'), null);
      if (opts.protocol !== 'https:') return callback(null, socket);
      const tls = socket as TLSSocket;
      const origin = `https://${isIP(opts.hostname) === 6 ? `[${opts.hostname}]` : opts.hostname}:${opts.port || '443'}`;
      const raw = tls.getPeerCertificate().raw;
      const fp = raw ? normalizeFingerprint(new X509Certificate(raw).fingerprint256) : undefined;
      const ok = fp !== undefined && (trust.fingerprint ? fp === trust.fingerprint : tls.authorized || trust.onUnknown?.(fp, origin) === true);
      if (ok) return callback(null, socket);
      socket.destroy();
      callback(new UntrustedCertificateError(origin, fp ?? 'unknown', trust.fingerprint), null);
    });
  }
}

/** fetch with `trust` for TLS (plain http:// goes through unchanged); answers read like the global fetch's. */
export function trustingFetch(trust: TlsTrust, transport: Transport = {}): typeof fetch {
  let agent: Dispatcher | undefined;
  return (async (input: string | URL, init?: RequestInit) => {
    const u = await loadUndici();
    agent ??= trustingAgent(u, trust, transport);
    return u.fetch(input, { ...(init as object), dispatcher: agent });
  }) as unknown as typeof fetch;
}
