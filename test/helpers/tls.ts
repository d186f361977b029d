import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import type { TlsContexts } from '../../src/proxy/index.js';

export interface TestCert {
  certPem: string;
  keyPem: string;
  /** The CA that signed it (PEM), for clients to trust. */
  caPem: string;
}

/** A CA and an ECDSA P-256 leaf for `names`, made with the openssl CLI (Debian's openssl). */
export function makeCert(names: string[]): TestCert {
  const dir = mkdtempSync(join(tmpdir(), 'starling-cert-'));
  try {
    const run = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
    run('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-subj', '/CN=Starling Test CA', '-days', '2');
    run('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', `/CN=${names[0]}`);
    writeFileSync(join(dir, 'ext.cnf'), `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}\n`);
    run('x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'leaf.pem', '-days', '2', '-extfile', 'ext.cnf');
    return {
      certPem: readFileSync(join(dir, 'leaf.pem'), 'utf8'),
      keyPem: readFileSync(join(dir, 'leaf.key'), 'utf8'),
      caPem: readFileSync(join(dir, 'ca.pem'), 'utf8'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** TlsContexts from a fixed name → certificate map (exact names only), for proxy tests. */
export function staticContexts(certs: Record<string, TestCert>, fallback?: TestCert): TlsContexts {
  const ctx = new Map(Object.entries(certs).map(([n, c]) => [n, tls.createSecureContext({ cert: c.certPem, key: c.keyPem })]));
  const fb = fallback ? tls.createSecureContext({ cert: fallback.certPem, key: fallback.keyPem }) : undefined;
  return {
    lookup: (name) => ctx.get(name.toLowerCase()),
    fallback: () => fb,
    alpnChallenge: async () => undefined,
  };
}

/** One GET on a fresh HTTP/2 session (node's own client), closed after; resolves with the status. */
export function h2Status(session: import('node:http2').ClientHttp2Session, path: string, authority: string): Promise<number> {
  return new Promise((resolve, reject) => {
    session.on('error', reject);
    const req = session.request({ ':path': path, ':authority': authority });
    let status = 0;
    req.on('response', (h) => (status = Number(h[':status'])));
    req.on('data', () => undefined);
    req.on('end', () => {
      session.close();
      resolve(status);
    });
    req.on('error', reject);
    req.end();
  });
}
