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

/**
 * Wraps a wait of a certificate test: a failure carries what the control plane logged about
 * certificates, what the agents warned, and Pebble's (and any other daemon's) last lines.
 */
export function explainedBy(
  p: { controlStderr(): string; lines: string[] },
  daemons: Record<string, { output(): string }>,
): <T>(wait: Promise<T>) => Promise<T> {
  return async (wait) => {
    try {
      return await wait;
    } catch (e) {
      const control = p.controlStderr().split('\n').filter((l) => /certif|acme|challenge|renew|dns-01|"error"/i.test(l)).slice(-8).join('\n');
      const agents = p.lines.filter((l) => /certif|"warn"|"error"/i.test(l)).slice(-8).join('');
      const tails = Object.entries(daemons).map(([name, d]) => `${name}:\n${d.output().split('\n').slice(-8).join('\n')}`);
      throw new Error([(e as Error).message, `control plane:\n${control}`, `agents:\n${agents}`, ...tails].join('\n'), { cause: e });
    }
  };
}
