/**
 * A small PKI made with the openssl CLI for OCSP tests: a root CA, an intermediate (the issuer),
 * leaves it signs with an AIA OCSP URL, a delegated OCSP responder certificate (id-kp-OCSPSigning,
 * signed by the issuer) and an `openssl ca`-style index.txt. `respond` runs openssl's responder
 * offline on one request (DER in, DER out); `startResponder` runs it as a real HTTP responder.
 * Key files stay in the temporary directory; only their paths are ever in an argv.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './wait.js';

export interface OcspLeaf {
  name: string;
  /** Leaf then issuer, as a StoredCertificate's certPem. */
  chainPem: string;
  keyPem: string;
  serialHex: string;
  notAfter: string;
}

export interface OcspPki {
  dir: string;
  /** The root CA (PEM), for clients to trust. */
  caPem: string;
  issuerPem: string;
  leaf(name: string, opts?: { ocspUrl?: string | undefined; revoked?: boolean }): OcspLeaf;
  /** Runs `openssl ocsp -index … -reqin` on a request; `signer` picks who signs. */
  respond(request: Buffer, opts?: { signer?: 'issuer' | 'delegated' | 'root'; nmin?: number; ndays?: number }): Buffer;
  close(): void;
}

export function makeOcspPki(): OcspPki {
  const dir = mkdtempSync(join(tmpdir(), 'starling-ocsp-'));
  const run = (...args: string[]): string => execFileSync('openssl', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const key = (name: string): void => void run('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`);
  writeFileSync(
    join(dir, 'ext.cnf'),
    [
      '[ca]',
      'basicConstraints=critical,CA:true',
      'keyUsage=critical,keyCertSign,cRLSign',
      '[responder]',
      'basicConstraints=critical,CA:false',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=OCSPSigning',
      '',
    ].join('\n'),
  );
  key('root');
  run('req', '-x509', '-new', '-key', 'root.key', '-out', 'root.pem', '-subj', '/CN=Starling OCSP Test Root', '-days', '3', '-addext', 'basicConstraints=critical,CA:true', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  const sign = (name: string, signer: string, section: string, extfile = 'ext.cnf'): void => {
    run('req', '-new', '-key', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    run('x509', '-req', '-in', `${name}.csr`, '-CA', `${signer}.pem`, '-CAkey', `${signer}.key`, '-set_serial', `0x${randomSerial()}`, '-out', `${name}.pem`, '-days', '2', '-extfile', extfile, '-extensions', section);
  };
  key('issuer');
  sign('issuer', 'root', 'ca');
  key('responder');
  sign('responder', 'issuer', 'responder');
  const index: string[] = [];
  const writeIndex = (): void => writeFileSync(join(dir, 'index.txt'), index.map((l) => `${l}\n`).join(''));
  writeIndex();
  writeFileSync(join(dir, 'index.txt.attr'), 'unique_subject = no\n');
  const files = { issuer: ['issuer.pem', 'issuer.key'], delegated: ['responder.pem', 'responder.key'], root: ['root.pem', 'root.key'] } as const;

  return {
    dir,
    caPem: readFileSync(join(dir, 'root.pem'), 'utf8'),
    issuerPem: readFileSync(join(dir, 'issuer.pem'), 'utf8'),
    leaf(name, opts = {}) {
      const file = name.replace(/[^a-z0-9.-]/gi, '_');
      key(file);
      const aia = opts.ocspUrl ? `authorityInfoAccess=OCSP;URI:${opts.ocspUrl}\n` : '';
      writeFileSync(join(dir, `${file}.cnf`), `[leaf]\nbasicConstraints=CA:false\nsubjectAltName=DNS:${name}\n${aia}`);
      run('req', '-new', '-key', `${file}.key`, '-out', `${file}.csr`, '-subj', `/CN=${name}`);
      const serialHex = randomSerial();
      run('x509', '-req', '-in', `${file}.csr`, '-CA', 'issuer.pem', '-CAkey', 'issuer.key', '-set_serial', `0x${serialHex}`, '-out', `${file}.pem`, '-days', '2', '-extfile', `${file}.cnf`, '-extensions', 'leaf');
      const notAfter = run('x509', '-in', `${file}.pem`, '-noout', '-enddate').trim().replace(/^notAfter=/, '');
      const expiry = indexTime(new Date(notAfter));
      const revokedAt = opts.revoked ? indexTime(new Date(Date.now() - 60_000)) : '';
      index.push([opts.revoked ? 'R' : 'V', expiry, revokedAt, serialHex, 'unknown', `/CN=${name}`].join('\t'));
      writeIndex();
      return {
        name,
        chainPem: readFileSync(join(dir, `${file}.pem`), 'utf8') + readFileSync(join(dir, 'issuer.pem'), 'utf8'),
        keyPem: readFileSync(join(dir, `${file}.key`), 'utf8'),
        serialHex,
        notAfter: new Date(notAfter).toISOString(),
      };
    },
    respond(request, opts = {}) {
      const [cert, k] = files[opts.signer ?? 'delegated'];
      writeFileSync(join(dir, 'req.der'), request);
      const validity = opts.ndays !== undefined ? ['-ndays', String(opts.ndays)] : ['-nmin', String(opts.nmin ?? 10)];
      run('ocsp', '-index', 'index.txt', '-CA', 'issuer.pem', '-rsigner', cert, '-rkey', k, '-reqin', 'req.der', '-respout', 'resp.der', ...validity);
      return readFileSync(join(dir, 'resp.der'));
    },
    close: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface Responder {
  port: number;
  /** Stops the responder and waits for it to exit. */
  stop(): Promise<void>;
}

/**
 * `openssl ocsp -port` as the real responder, signing with the delegated responder certificate.
 * OpenSSL 3.0's -port takes a number only and binds the wildcard address; it serves test
 * certificates' status only, on an ephemeral port, for the seconds a test runs.
 */
export async function startResponder(pki: OcspPki, port: number, opts: { nmin?: number } = {}): Promise<Responder> {
  const child: ChildProcess = spawn(
    'openssl',
    ['ocsp', '-index', 'index.txt', '-port', String(port), '-CA', 'issuer.pem', '-rsigner', 'responder.pem', '-rkey', 'responder.key', '-nmin', String(opts.nmin ?? 10), '-ignore_err'],
    { cwd: pki.dir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  let exited = false;
  child.on('exit', () => (exited = true));
  await waitFor(() => exited || /waiting for OCSP client connections/i.test(out), 'openssl ocsp to listen', 10_000);
  if (exited) throw new Error(`openssl ocsp exited: ${out}`);
  return {
    port,
    stop: async () => {
      if (!exited) child.kill('SIGTERM');
      await waitFor(() => exited, 'openssl ocsp to exit', 10_000);
    },
  };
}

/** A TCP port free now on 127.0.0.1: the responder's, known before its certificates are made. */
export { freePort } from './ports.js';

function randomSerial(): string {
  // 16 hex digits, first one 1-7: a positive serial of fixed width, as openssl's index expects (upper case).
  const digits = '0123456789ABCDEF';
  let s = String(1 + Math.floor(Math.random() * 7));
  for (let i = 0; i < 15; i++) s += digits[Math.floor(Math.random() * 16)];
  return s;
}

/** openssl's index time: YYMMDDHHMMSSZ. */
function indexTime(d: Date): string {
  return d.toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z';
}
