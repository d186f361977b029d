/**
 * What a TLS port serves for a name: the leaf's fingerprint and whether it verifies against a
 * root (Pebble's issuing root), as a real client sees it.
 */
import tls from 'node:tls';

export interface Served {
  fingerprint256: string;
  /** The chain verifies against `ca` for `servername`. */
  authorized: boolean;
  error: string | null;
  validTo: string;
}

export function servedCert(port: number, servername: string, ca: string | undefined, host = '127.0.0.1'): Promise<Served | null> {
  return new Promise((resolve) => {
    const s = tls.connect({ host, port, servername, ...(ca ? { ca: [ca] } : {}), rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
    s.setTimeout(5000, () => {
      s.destroy();
      resolve(null);
    });
    s.once('secureConnect', () => {
      const peer = s.getPeerCertificate();
      resolve({ fingerprint256: peer.fingerprint256, authorized: s.authorized, error: s.authorizationError ? String(s.authorizationError) : null, validTo: peer.valid_to });
      s.end();
    });
    // A refused handshake (no certificate for the name) is null, not an exception.
    s.once('error', () => resolve(null));
  });
}
