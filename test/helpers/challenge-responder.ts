import http from 'node:http';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import type { CertificateStore } from '../../src/certs/types.js';

/**
 * The smallest thing that answers ACME challenges for the CA, reading ONLY from the shared store
 * (never from the issuer's memory), as every PoP must. It stands in for the proxy, which answers
 * HTTP-01 on port 80 before routing and TLS-ALPN-01 on its TLS port from the same store; when the
 * proxy can do that, tests swap this for it.
 *
 * - HTTP-01 (RFC 8555 §8.3): GET /.well-known/acme-challenge/<token> → the key authorization.
 * - TLS-ALPN-01 (RFC 8737 §3): a handshake with SNI <name> and ALPN `acme-tls/1` gets the
 *   self-signed certificate carrying the acmeIdentifier extension.
 */
export type ChallengeSource = Pick<CertificateStore, 'httpChallenge' | 'alpnChallenge'>;

export interface ChallengeResponder {
  httpPort: number;
  tlsPort: number;
  /** Requests answered, e.g. `http-01 <token> 200`, `tls-alpn-01 <name> ok`. */
  seen: string[];
  close(): Promise<void>;
}

const PREFIX = '/.well-known/acme-challenge/';

export async function startChallengeResponder(
  source: ChallengeSource,
  opts: { host?: string; httpPort?: number; tlsPort?: number } = {},
): Promise<ChallengeResponder> {
  const host = opts.host ?? '127.0.0.1';
  const seen: string[] = [];

  const web = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0] ?? '';
    const token = path.startsWith(PREFIX) ? path.slice(PREFIX.length) : '';
    if (req.method !== 'GET' || !/^[A-Za-z0-9_-]+$/.test(token)) {
      seen.push(`http-01 ${path} 404`);
      res.writeHead(404).end();
      return;
    }
    source.httpChallenge(token).then(
      (answer) => {
        seen.push(`http-01 ${token} ${answer === undefined ? 404 : 200}`);
        if (answer === undefined) res.writeHead(404).end();
        else res.writeHead(200, { 'content-type': 'text/plain' }).end(answer);
      },
      () => res.writeHead(500).end(),
    );
  });

  // No default certificate: a handshake without a stored answer for its SNI name fails.
  const alpn = tls.createServer({
    ALPNProtocols: ['acme-tls/1'],
    SNICallback: (servername, cb) => {
      source.alpnChallenge(servername).then(
        (c) => {
          seen.push(`tls-alpn-01 ${servername} ${c ? 'ok' : 'none'}`);
          if (c) cb(null, tls.createSecureContext({ cert: c.certPem, key: c.keyPem }));
          else cb(new Error(`no tls-alpn-01 answer for ${servername}`), undefined);
        },
        (e: Error) => cb(e, undefined),
      );
    },
  });
  // The validator closes right after the handshake; nothing is ever served over it.
  alpn.on('secureConnection', (s) => s.end());
  alpn.on('tlsClientError', () => undefined);

  await listen(web, host, opts.httpPort ?? 0);
  await listen(alpn, host, opts.tlsPort ?? 0);
  return {
    httpPort: (web.address() as AddressInfo).port,
    tlsPort: (alpn.address() as AddressInfo).port,
    seen,
    close: async () => {
      web.closeAllConnections();
      await Promise.all([close(web), close(alpn)]);
    },
  };
}

function listen(server: http.Server | tls.Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function close(server: http.Server | tls.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
