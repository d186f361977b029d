import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import tls from 'node:tls';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { AcmeIssuer } from '../../src/certs/acme.js';
import type { CertSource, CertificateStore, Challenge, StoredCertificate } from '../../src/certs/types.js';
import { isStarlingError, silentLogger } from '../../src/shared/index.js';
import { startChallengeResponder, type ChallengeResponder, type ChallengeSource } from '../helpers/challenge-responder.js';
import { startPebble, type Pebble } from '../helpers/pebble.js';

/**
 * Tier 3: real certificates from Pebble (Let's Encrypt's test CA) by TLS-ALPN-01 and HTTP-01. The
 * issuer puts its answers into the store and the responder reads them from there only, as a PoP
 * other than the ordering one would.
 */

/** A Map-backed store that counts account-key writes (the real stores have their own suite). */
class TestStore implements CertificateStore {
  readonly certs = new Map<string, StoredCertificate>();
  readonly http = new Map<string, string>();
  readonly alpn = new Map<string, { certPem: string; keyPem: string }>();
  readonly accounts = new Map<string, string>();
  accountKeyWrites = 0;

  async get(hostname: string, source: CertSource) {
    return this.certs.get(`${source} ${hostname}`);
  }
  async all() {
    return [...this.certs.values()];
  }
  async list() {
    return [...this.certs.values()].map(({ certPem: _c, keyPem: _k, ...rest }) => ({ ...rest, fingerprint256: '' }));
  }
  async put(cert: StoredCertificate) {
    this.certs.set(`${cert.source} ${cert.hostname}`, cert);
  }
  async remove(hostname: string, source: CertSource) {
    return this.certs.delete(`${source} ${hostname}`);
  }
  async putChallenge(c: Challenge) {
    if (c.type === 'http-01') this.http.set(c.token, c.keyAuthorization);
    else this.alpn.set(c.hostname, { certPem: c.certPem, keyPem: c.keyPem });
  }
  async removeChallenge(c: { type: 'http-01'; token: string } | { type: 'tls-alpn-01'; hostname: string }) {
    if (c.type === 'http-01') this.http.delete(c.token);
    else this.alpn.delete(c.hostname);
  }
  async httpChallenge(token: string) {
    return this.http.get(token);
  }
  async alpnChallenge(hostname: string) {
    return this.alpn.get(hostname);
  }
  async accountKey(directoryUrl: string) {
    return this.accounts.get(directoryUrl);
  }
  async putAccountKey(directoryUrl: string, pem: string) {
    this.accountKeyWrites++;
    this.accounts.set(directoryUrl, pem);
  }
  watch() {
    return () => undefined;
  }
}

const host = (label: string) => `${label}-${randomBytes(4).toString('hex')}.starling.test`;

/** Serves HTTPS with `cert` and checks that a client trusting only `root` accepts it for its name. */
async function serveAndVerify(cert: StoredCertificate, root: string): Promise<void> {
  const server = https.createServer({ cert: cert.certPem, key: cert.keyPem }, (_req, res) => res.end('ok'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const port = (server.address() as AddressInfo).port;
    const socket = tls.connect({ host: '127.0.0.1', port, servername: cert.hostname, ca: root });
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    });
    assert.equal(socket.authorized, true, `not trusted: ${String(socket.authorizationError)}`);
    assert.equal(socket.getPeerCertificate().subjectaltname, `DNS:${cert.hostname}`);
    socket.destroy();
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

describe('ACME issuance against Pebble', { timeout: 90_000 }, () => {
  const store = new TestStore();
  let garbageHttp01 = false;
  // What the CA's validator reaches: the store, or garbage for HTTP-01 when a test asks for it.
  const seenByCa: ChallengeSource = {
    httpChallenge: async (token) => (garbageHttp01 ? 'garbage' : store.httpChallenge(token)),
    alpnChallenge: (name) => store.alpnChallenge(name),
  };
  let responder: ChallengeResponder;
  let pebble: Pebble;
  let root: string;
  const issuer = (extra: Partial<ConstructorParameters<typeof AcmeIssuer>[0]> = {}) =>
    new AcmeIssuer({
      directoryUrl: pebble.directoryUrl,
      email: 'ops@starling.test',
      store,
      logger: silentLogger,
      caBundlePem: pebble.caPem,
      pollIntervalMs: 50,
      ...extra,
    });

  before(async () => {
    responder = await startChallengeResponder(seenByCa);
    pebble = await startPebble({ httpPort: responder.httpPort, tlsPort: responder.tlsPort });
    root = await pebble.issuingRootPem();
  });
  after(async () => {
    await pebble?.stop();
    await responder?.close();
  });

  it('issues by TLS-ALPN-01 when offered, and the certificate serves HTTPS trusted by the issuing root', async () => {
    const name = host('alpn');
    const cert = await issuer().issue(name);
    assert.equal(cert.source, 'acme');
    assert.deepEqual(cert.names, [name]);
    assert.ok(Date.parse(cert.notAfter) > Date.now());
    assert.ok(responder.seen.includes(`tls-alpn-01 ${name} ok`), responder.seen.join('\n'));
    assert.ok(!responder.seen.some((s) => s.startsWith('http-01')), 'HTTP-01 must not be used when TLS-ALPN-01 is offered');
    assert.equal((await store.get(name, 'acme'))?.certPem, cert.certPem);
    assert.equal(store.alpn.size, 0, 'challenge answers are removed afterwards');
    assert.match(cert.keyPem, /BEGIN PRIVATE KEY/);
    await serveAndVerify(cert, root);
  });

  it('issues by HTTP-01 when it comes first, and that certificate serves HTTPS too', async () => {
    const name = host('http');
    const before = responder.seen.length;
    const cert = await issuer({ challengePriority: ['http-01'] }).issue(name);
    const seen = responder.seen.slice(before);
    assert.ok(seen.some((s) => /^http-01 \S+ 200$/.test(s)), seen.join('\n'));
    assert.ok(!seen.some((s) => s.startsWith('tls-alpn-01')));
    assert.equal(store.http.size, 0, 'challenge answers are removed afterwards');
    await serveAndVerify(cert, root);
  });

  it('creates the account key once and reuses it (same issuer, and a new one without email on the same store)', async () => {
    const writesBefore = store.accountKeyWrites;
    const keyBefore = await store.accountKey(pebble.directoryUrl);
    const one = issuer();
    await one.issue(host('reuse-a'));
    await one.issue(host('reuse-b'));
    // Regression: a stored key without contact details made acme-client send an empty update.
    await issuer({ email: undefined }).issue(host('reuse-c'));
    assert.equal(writesBefore, 1, 'the first test created it');
    assert.equal(store.accountKeyWrites, 1);
    assert.equal(await store.accountKey(pebble.directoryUrl), keyBefore);
  });

  it('a wrong HTTP-01 answer fails with ERR_ACME_CHALLENGE naming the type, the host and the CA\'s detail', async () => {
    const name = host('wrong');
    garbageHttp01 = true;
    try {
      await assert.rejects(issuer({ challengePriority: ['http-01'] }).issue(name), (e: unknown) => {
        assert.ok(isStarlingError(e, 'ERR_ACME_CHALLENGE'), String(e));
        assert.match(e.message, new RegExp(`^http-01 for ${name.replace(/\./g, '\\.')} failed: .+`));
        assert.match(e.message, /key ?authorization|garbage/i, 'carries the CA\'s problem detail');
        assert.doesNotMatch(e.message, /PRIVATE KEY/);
        return true;
      });
    } finally {
      garbageHttp01 = false;
    }
    assert.equal(store.http.size, 0, 'the answer is removed after a failure too');
    assert.equal(await store.get(name, 'acme'), undefined);
  });

  it('refuses wildcards (they need DNS-01) before talking to the CA', async () => {
    await assert.rejects(issuer().issue('*.starling.test'), (e: unknown) => {
      assert.ok(isStarlingError(e, 'ERR_ACME_WILDCARD'));
      assert.match(e.message, /DNS-01/);
      return true;
    });
  });
});
