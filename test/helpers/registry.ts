/**
 * Tier-3 launcher for a real OCI registry: Debian's `docker-registry` (distribution v2.8), http on
 * 127.0.0.1, filesystem storage, everything in its own temp dir (removed by stop()).
 *
 * Auth modes:
 * - 'none': anyone pulls and pushes.
 * - 'htpasswd': Basic auth against an htpasswd file. distribution accepts only bcrypt entries;
 *   apache2-utils' `htpasswd -B` is used when installed, else perl's crypt() with a `$2b$` salt
 *   (glibc's libxcrypt computes bcrypt; Go's bcrypt reads `$2b$`).
 * - 'token': distribution's `auth.token` (docs/configuration.md "token"): the realm is a small token
 *   server here that checks Basic credentials and answers a JWT signed ES256 by a leaf certificate
 *   whose CA is the registry's `rootcertbundle`. distribution v2.8 (registry/auth/token/token.go)
 *   takes the signing key from the JWT header's `x5c` (verified against the bundle), else `jwk`,
 *   else `kid`; it checks `iss` = issuer, `aud` ∋ service, `exp`/`nbf` with 60 s leeway, and
 *   `access` [{type, name, actions}] against what the request needs.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createPrivateKey, randomBytes, sign, X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selfSigned } from '../../src/certs/index.js';
import { waitFor } from './wait.js';

export interface TokenRequest {
  service: string | null;
  scopes: string[];
  /** The Basic username sent, or undefined for an anonymous request. */
  username: string | undefined;
  granted: boolean;
}

export interface TestRegistry {
  /** http://127.0.0.1:PORT */
  url: string;
  /** 127.0.0.1:PORT — an ImageRef's registry. */
  host: string;
  username?: string;
  password?: string;
  /** Token mode: every request the token server answered, in order. */
  requests?(): TokenRequest[];
  /** What docker-registry printed so far, for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

const BIN = '/usr/bin/docker-registry';
const ISSUER = 'starling-test-token-issuer';
const SERVICE = 'starling-test-registry';

export async function startRegistry(o: { auth?: 'none' | 'htpasswd' | 'token' } = {}): Promise<TestRegistry> {
  const auth = o.auth ?? 'none';
  if (spawnSync(BIN, ['--version']).status !== 0) throw new Error(`${BIN} is needed for this test: apt-get install -y docker-registry`);
  const dir = mkdtempSync(join(tmpdir(), 'starling-registry-'));
  let child: ChildProcess | undefined;
  let tokenServer: Server | undefined;
  let log = '';
  const kill = () => child?.exitCode === null && child.kill('SIGKILL');
  process.once('exit', kill);
  const cleanup = async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGTERM');
      const force = setTimeout(() => child?.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(force);
    }
    await new Promise((r) => (tokenServer ? tokenServer.close(r) : r(undefined)));
    process.off('exit', kill);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const username = 'starling-test';
    const password = randomBytes(12).toString('base64url');
    let authYaml = '';
    let requests: TokenRequest[] | undefined;
    if (auth === 'htpasswd') {
      writeFileSync(join(dir, 'htpasswd'), `${username}:${bcrypt(password)}\n`);
      authYaml = `auth:\n  htpasswd:\n    realm: starling-test\n    path: ${join(dir, 'htpasswd')}\n`;
    } else if (auth === 'token') {
      requests = [];
      const started = await startTokenServer(dir, username, password, requests);
      tokenServer = started.server;
      authYaml =
        `auth:\n  token:\n    realm: ${started.realm}\n    service: ${SERVICE}\n    issuer: ${ISSUER}\n` +
        `    rootcertbundle: ${join(dir, 'token-ca.pem')}\n`;
    }
    mkdirSync(join(dir, 'data'));
    // Port 0: the registry logs the address it got ("listening on 127.0.0.1:N"): no race for a port.
    writeFileSync(
      join(dir, 'config.yml'),
      `version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\n` +
        `  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:0\n  secret: ${randomBytes(16).toString('hex')}\n${authYaml}`,
    );
    const proc = spawn(BIN, ['serve', join(dir, 'config.yml')], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
    child = proc;
    proc.stdout?.on('data', (d: Buffer) => (log += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (log += d.toString()));
    let host: string | undefined;
    await waitFor(
      async () => {
        if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`docker-registry exited during start-up:\n${log}`);
        host ??= /listening on (127\.0\.0\.1:\d+)/.exec(log)?.[1];
        if (!host) return false;
        const status = await fetch(`http://${host}/v2/`).then((r) => r.status, () => 0);
        return status === 200 || status === 401;
      },
      'docker-registry to answer /v2/',
      15_000,
      20,
    );
    const out: TestRegistry = { url: `http://${host!}`, host: host!, output: () => log, stop: cleanup };
    if (auth !== 'none') Object.assign(out, { username, password });
    if (requests) out.requests = () => [...requests];
    return out;
  } catch (e) {
    await cleanup();
    throw e;
  }
}

/** A bcrypt hash (cost 5: fast; the registry only checks it). The password goes by stdin or env, never argv. */
function bcrypt(password: string): string {
  const htpasswd = spawnSync('htpasswd', ['-niB', '-C', '5', 'user'], { input: `${password}\n`, encoding: 'utf8' });
  if (htpasswd.status === 0) return htpasswd.stdout.trim().split(':')[1]!;
  const alphabet = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const salt = [...randomBytes(22)].map((b) => alphabet[b % 64]).join('');
  const perl = spawnSync('perl', ['-e', 'print crypt($ENV{PW}, $ENV{SALT})'], { env: { PW: password, SALT: `$2b$05$${salt}` }, encoding: 'utf8' });
  const hash = perl.stdout;
  if (perl.status !== 0 || !/^\$2b\$05\$.{53}$/.test(hash)) throw new Error(`cannot make a bcrypt hash: neither htpasswd (apache2-utils) nor perl's crypt() can (${perl.stderr})`);
  return hash;
}

/** The token endpoint: Basic credentials → a JWT granting what was asked for; anonymous → a token granting nothing. */
async function startTokenServer(dir: string, username: string, password: string, requests: TokenRequest[]): Promise<{ server: Server; realm: string }> {
  const ca = await selfSigned({ names: [], ca: true, commonName: 'Starling test token CA' });
  const leaf = await selfSigned({ names: ['token-signer'], issuer: ca });
  writeFileSync(join(dir, 'token-ca.pem'), ca.certPem);
  const key = createPrivateKey(leaf.keyPem);
  const x5c = [new X509Certificate(leaf.certPem).raw.toString('base64')];
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const scopes = url.searchParams.getAll('scope');
    const m = /^Basic (.+)$/.exec(req.headers.authorization ?? '');
    const [user, ...rest] = m ? Buffer.from(m[1]!, 'base64').toString('utf8').split(':') : [];
    const ok = user === username && rest.join(':') === password;
    requests.push({ service: url.searchParams.get('service'), scopes, username: user, granted: ok });
    if (m && !ok) {
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] }));
      return;
    }
    const now = Math.floor(Date.now() / 1000);
    const access = ok
      ? scopes.map((s) => {
          const [type, ...middle] = s.split(':');
          const actions = middle.pop()!.split(',');
          return { type, name: middle.join(':'), actions };
        })
      : [];
    const claims = { iss: ISSUER, sub: user ?? '', aud: url.searchParams.get('service') ?? '', exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access };
    const input = `${b64({ typ: 'JWT', alg: 'ES256', x5c })}.${b64(claims)}`;
    // JWS ES256 signatures are r‖s (RFC 7518 §3.4), not DER.
    const signature = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: `${input}.${signature}`, expires_in: 300, issued_at: new Date().toISOString() }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, realm: `http://127.0.0.1:${(server.address() as AddressInfo).port}/token` };
}
