/**
 * TLS pieces of `npm run bench:tls`: the OpenSSL config that turns session tickets off in
 * Starling's node process, the wrk script that sends SNI for a name with no DNS entry, and a probe
 * that checks what a proxy's TLS port really negotiates before wrk is pointed at it.
 */
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';

import { HOST } from './net.js';

/**
 * For `node --openssl-config=FILE`: OpenSSL's system defaults, applied to every SSL_CTX the
 * process makes, here just `NumTickets = 0` (no TLS 1.3 session tickets). Node reads the
 * `nodejs_conf` section; `openssl_conf` is there for --openssl-shared-config. nginx gets the same
 * setting as `ssl_conf_command NumTickets 0`.
 *
 * Why: wrk re-uses one SSL object per connection slot (SSL_shutdown + SSL_clear), which keeps the
 * last session, so every reconnect offers the ticket it got before and the server resumes (PSK),
 * skipping the certificate and its signature. With no tickets, each new connection is a full
 * handshake.
 */
export const NODE_OPENSSL_CONF = `nodejs_conf = bench_init
openssl_conf = bench_init

[bench_init]
ssl_conf = bench_ssl

[bench_ssl]
system_default = bench_tls

[bench_tls]
NumTickets = 0
`;

/**
 * wrk takes SNI from the URL's host and connects to wherever that host resolves. The URL is
 * https://bench.local:PORT/ (so SNI is bench.local), and this replaces wrk's resolver so that the
 * address is 127.0.0.1 without DNS or /etc/hosts. It defines no request/response functions, so wrk
 * keeps its static, pre-formatted request (no Lua per request).
 */
export const WRK_SNI_SCRIPT = `-- npm run bench:tls: SNI and Host from the URL (bench.local), connect to 127.0.0.1.
local lookup = wrk.lookup
wrk.resolve = function(host, service)
  wrk.addrs = lookup("${HOST}", service)
end
`;

export interface TlsProbeResult {
  protocol: string | null;
  cipher: string;
  /** The key exchange group (X25519, prime256v1, …). */
  group: string | undefined;
  /** The served certificate's SHA-256 fingerprint and EC curve. */
  fingerprint256: string;
  curve: string | undefined;
  /** Session tickets the server sent on this connection. */
  tickets: number;
  /** HTTP status of GET / with Host `servername`. */
  status: number;
}

/** One TLS connection with SNI `servername`: handshake, GET /, read to the end. */
export function tlsProbe(port: number, servername: string, timeoutMs = 3000): Promise<TlsProbeResult> {
  return new Promise((resolve, reject) => {
    let tickets = 0;
    let head = '';
    let facts: Omit<TlsProbeResult, 'tickets' | 'status'> | undefined;
    const s = tls.connect({ host: HOST, port, servername, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => {
      const cert = s.getPeerCertificate();
      facts = {
        protocol: s.getProtocol(),
        cipher: s.getCipher().name,
        group: (s.getEphemeralKeyInfo() as tls.EphemeralKeyInfo | null)?.name,
        fingerprint256: cert.fingerprint256,
        curve: cert.asn1Curve,
      };
      s.write(`GET / HTTP/1.1\r\nHost: ${servername}\r\nConnection: close\r\n\r\n`);
    });
    s.setTimeout(timeoutMs, () => s.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    s.on('session', () => tickets++);
    s.on('data', (b: Buffer) => {
      if (head.length < 200) head += b.toString('latin1');
    });
    s.once('error', (e: NodeJS.ErrnoException) => reject(new Error(e.code ?? e.message)));
    s.once('end', () => {
      s.destroy();
      if (!facts) return reject(new Error('the connection ended before the handshake finished'));
      resolve({ ...facts, tickets, status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0) });
    });
  });
}

/**
 * Polls the TLS port until a probe succeeds, then checks what it negotiated: TLS 1.3, the expected
 * certificate (by fingerprint), no session tickets, a 200. Throws with the reason otherwise.
 */
export async function waitForTls(
  what: string,
  port: number,
  servername: string,
  expectCertPem: string,
  opts: { deadlineMs?: number; stillRunning?: () => boolean } = {},
): Promise<TlsProbeResult> {
  const deadlineMs = opts.deadlineMs ?? 10_000;
  const deadline = Date.now() + deadlineMs;
  let last = 'no answer';
  for (;;) {
    if (opts.stillRunning && !opts.stillRunning()) throw new Error(`${what}: the process exited before it was ready`);
    try {
      const r = await tlsProbe(port, servername);
      if (r.status === 200) {
        const want = new X509Certificate(expectCertPem).fingerprint256;
        if (r.fingerprint256 !== want) throw new Error(`${what}: served a different certificate than the benchmark's (${r.fingerprint256})`);
        if (r.protocol !== 'TLSv1.3') throw new Error(`${what}: negotiated ${r.protocol ?? 'no protocol'}, not TLSv1.3`);
        if (r.tickets > 0) {
          throw new Error(`${what}: sent ${r.tickets} session ticket(s); wrk would resume sessions instead of making full handshakes`);
        }
        return r;
      }
      last = `HTTP ${r.status}`;
    } catch (e) {
      const msg = (e as Error).message;
      if (msg.startsWith(`${what}:`)) throw e;
      last = msg;
    }
    if (Date.now() > deadline) throw new Error(`${what}: no TLS answer with a 200 on ${HOST}:${port} within ${deadlineMs} ms (last: ${last})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
