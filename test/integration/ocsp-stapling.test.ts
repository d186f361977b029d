/**
 * OCSP stapling on the proxy's TLS port against a real responder (`openssl ocsp -port`): a CA, an
 * issuer and leaves made with openssl whose AIA points at it, the certificates in a MemoryCertStore,
 * and clients asking for the status (status_request) over HTTP/1.1, over h2, and with
 * `openssl s_client -status`. The stapler runs on a ManualClock, so refreshes and nextUpdate come
 * when the test says, while the responder signs with real time. Then the parser on DER that
 * `openssl ocsp` makes offline, and a responder that accepts and never answers.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { MemoryCertStore, type OcspFetch } from '../../src/certs/index.js';
import { ocspTarget, parseOcspResponse } from '../../src/certs/ocsp.js';
import { StoreTlsContexts } from '../../src/proxy/index.js';
import { isStarlingError, Logger, ManualClock, SystemClock } from '../../src/shared/index.js';
import { freePort, makeOcspPki, startResponder, type OcspLeaf, type OcspPki, type Responder } from '../helpers/ocsp.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);
const MIN = 60_000;

/** One handshake asking for the status; resolves with the staple (null: none) and the ALPN chosen. */
function handshake(port: number, servername: string, ca: string, alpn: string): Promise<{ staple: Buffer | null; alpn: string | false | null }> {
  return new Promise((resolve, reject) => {
    let staple: Buffer | null = null;
    const s = tls.connect({ host: '127.0.0.1', port, servername, ca, requestOCSP: true, ALPNProtocols: [alpn] });
    s.on('OCSPResponse', (r: Buffer) => (staple = r));
    s.once('secureConnect', () => {
      resolve({ staple, alpn: s.alpnProtocol });
      s.destroy();
    });
    s.once('error', reject);
  });
}

describe('OCSP stapling on the TLS port, against openssl ocsp', { timeout: 120_000 }, () => {
  let pki: OcspPki;
  let responder: Responder | undefined;
  let p: TestProxy;
  let contexts: StoreTlsContexts;
  let tlsPort: number;
  let good: OcspLeaf;
  let revoked: OcspLeaf;
  let plain: OcspLeaf;
  let calls = 0;
  let failures = 0;
  let clock: ManualClock;
  const logs: Record<string, unknown>[] = [];

  /** What openssl itself says of a staple for `leaf`: verified against the root, and its status. */
  async function opensslVerdict(staple: Buffer, leaf: OcspLeaf): Promise<string> {
    const resp = join(pki.dir, 'staple.der');
    const leafFile = join(pki.dir, 'check-leaf.pem');
    writeFileSync(resp, staple);
    writeFileSync(leafFile, leaf.chainPem);
    const { stdout } = await run('openssl', ['ocsp', '-respin', resp, '-issuer', join(pki.dir, 'issuer.pem'), '-cert', leafFile, '-CAfile', join(pki.dir, 'root.pem'), '-no_nonce'], { cwd: pki.dir });
    return stdout;
  }

  before(async () => {
    pki = makeOcspPki();
    const port = await freePort();
    const ocspUrl = `http://127.0.0.1:${port}`;
    good = pki.leaf('good.test', { ocspUrl });
    revoked = pki.leaf('revoked.test', { ocspUrl, revoked: true });
    plain = pki.leaf('plain.test');
    responder = await startResponder(pki, port, { nmin: 10 });
    clock = new ManualClock(Date.now()); // after the certificates: they are valid from the second they were made

    const fetch: OcspFetch = async (url, init) => {
      calls++;
      try {
        return await globalThis.fetch(url, init);
      } catch (e) {
        failures++;
        throw e;
      }
    };
    const store = new MemoryCertStore();
    for (const leaf of [good, revoked, plain]) {
      await store.put({ hostname: leaf.name, source: 'custom', certPem: leaf.chainPem, keyPem: leaf.keyPem, names: [leaf.name], notBefore: '', notAfter: '' });
    }
    const logger = new Logger({ write: (line: string) => logs.push(JSON.parse(line) as Record<string, unknown>) }, 'debug');
    contexts = await StoreTlsContexts.open(store, { defaultCert: 'refuse', clock, logger, ocsp: { fetch, random: () => 0.5, retryInitialMs: 10_000, retryMaxMs: 20_000 } });
    p = await startProxy({ apps: [] });
    tlsPort = (await p.proxy.listenTls('127.0.0.1', 0, contexts)).port;
    await contexts.stapler!.settled();
  });

  after(async () => {
    p?.close();
    contexts?.close();
    await responder?.stop();
    pki?.close();
  });

  it('asks the responder about the certificates that name it, and only those', () => {
    assert.equal(contexts.stapler!.size, 2);
    assert.equal(calls, 2);
    assert.equal(failures, 0);
  });

  it('staples a good response for the leaf on HTTP/1.1, one openssl verifies', async () => {
    const r = await handshake(tlsPort, 'good.test', pki.caPem, 'http/1.1');
    assert.equal(r.alpn, 'http/1.1');
    assert.ok(r.staple, 'a staple arrived');
    assert.deepEqual(r.staple, contexts.stapler!.staple(good.chainPem));
    assert.equal(contexts.stapler!.answer(good.chainPem)?.status, 'good');
    assert.match(await opensslVerdict(r.staple, good), /check-leaf\.pem: good/);
  });

  it('staples it on h2 too (the HTTP/2 server)', async () => {
    const r = await handshake(tlsPort, 'good.test', pki.caPem, 'h2');
    assert.equal(r.alpn, 'h2');
    assert.ok(r.staple, 'a staple arrived');
    assert.match(await opensslVerdict(r.staple, good), /check-leaf\.pem: good/);
  });

  it('staples nothing for a revoked certificate, nor for one without an OCSP URL', async () => {
    for (const alpn of ['http/1.1', 'h2']) {
      assert.equal((await handshake(tlsPort, 'revoked.test', pki.caPem, alpn)).staple, null);
      assert.equal((await handshake(tlsPort, 'plain.test', pki.caPem, alpn)).staple, null);
    }
    assert.ok(logs.some((l) => l.level === 'warn' && /revoked/.test(String(l.msg))));
    // An unknown name gets the refusing context (no certificate at all): an alert, as without OCSP.
    await assert.rejects(handshake(tlsPort, 'nobody.test', pki.caPem, 'http/1.1'));
  });

  it('is what openssl s_client -status sees', async () => {
    const client = run('openssl', ['s_client', '-connect', `127.0.0.1:${tlsPort}`, '-servername', 'good.test', '-status', '-CAfile', join(pki.dir, 'root.pem')], { cwd: pki.dir, timeout: 20_000 });
    client.child.stdin?.end(); // EOF on stdin: s_client closes after the handshake
    const { stdout } = await client;
    assert.match(stdout, /OCSP Response Status: successful/);
    assert.match(stdout, /Cert Status: good/);
  });

  it('refreshes half-way to nextUpdate, and serves the new response', async () => {
    const before = contexts.stapler!.staple(good.chainPem);
    const asked = calls;
    // nextUpdate is 10 min out: half-way less 0.5 × 10 % of it is 4.75 min after thisUpdate.
    clock.advance(4 * MIN);
    await contexts.stapler!.settled();
    assert.equal(calls, asked);
    clock.advance(MIN);
    await waitFor(() => calls >= asked + 2, 'both certificates to be asked about again');
    await contexts.stapler!.settled();
    const fresh = contexts.stapler!.staple(good.chainPem);
    assert.ok(fresh);
    assert.notDeepEqual(fresh, before);
    assert.deepEqual((await handshake(tlsPort, 'good.test', pki.caPem, 'http/1.1')).staple, fresh);
  });

  it('keeps serving the last good staple while the responder is down, and stops at its nextUpdate', async () => {
    await responder!.stop();
    responder = undefined;
    const kept = contexts.stapler!.staple(good.chainPem);
    const nextUpdate = contexts.stapler!.answer(good.chainPem)!.nextUpdate!;
    // The responder signs with real time and this clock is ahead of it by now: the next refresh is
    // minRefreshMs (1 min) away.
    clock.advance(2 * MIN);
    await waitFor(() => failures >= 2, 'a refresh to fail');
    await contexts.stapler!.settled();
    for (const alpn of ['http/1.1', 'h2']) assert.deepEqual((await handshake(tlsPort, 'good.test', pki.caPem, alpn)).staple, kept);
    // Past nextUpdate: nothing is stapled, and that is said once.
    clock.advance(nextUpdate - clock.now() + 1000);
    await contexts.stapler!.settled();
    for (const alpn of ['http/1.1', 'h2']) assert.equal((await handshake(tlsPort, 'good.test', pki.caPem, alpn)).staple, null);
    clock.advance(MIN);
    await contexts.stapler!.settled();
    assert.equal(logs.filter((l) => l.level === 'warn' && /nextUpdate/.test(String(l.msg))).length, 1);
  });
});

describe('OCSP responses as openssl ocsp makes them, and a responder that never answers', { timeout: 60_000 }, () => {
  let pki: OcspPki;
  before(() => {
    pki = makeOcspPki();
  });
  after(() => pki?.close());

  it('accepts what openssl signs as the issuer or as its delegated responder, and refuses the root as signer', () => {
    const leaf = pki.leaf('parse.test', { ocspUrl: 'http://127.0.0.1:9' });
    const target = ocspTarget(leaf.chainPem)!;
    for (const signer of ['issuer', 'delegated'] as const) {
      const a = parseOcspResponse(pki.respond(target.request, { signer, nmin: 7 }), target, Date.now());
      assert.equal(a.status, 'good');
      assert.equal(a.nextUpdate! - a.thisUpdate, 7 * MIN);
    }
    assert.throws(() => parseOcspResponse(pki.respond(target.request, { signer: 'root' }), target, Date.now()), (e: unknown) => isStarlingError(e, 'ERR_OCSP_SIGNATURE'));
    const gone = pki.leaf('gone.test', { ocspUrl: 'http://127.0.0.1:9', revoked: true });
    const goneTarget = ocspTarget(gone.chainPem)!;
    assert.equal(parseOcspResponse(pki.respond(goneTarget.request), goneTarget, Date.now()).status, 'revoked');
    // openssl answers for the serial asked about: checked against another certificate, it is refused.
    assert.throws(() => parseOcspResponse(pki.respond(goneTarget.request), target, Date.now()), (e: unknown) => isStarlingError(e, 'ERR_OCSP_MISMATCH'));
  });

  it('completes handshakes without a staple while the responder hangs, and gives up on it after the timeout', async () => {
    const sockets = new Set<net.Socket>();
    const hang = net.createServer((s) => sockets.add(s.on('error', () => undefined)));
    await new Promise<void>((resolve) => hang.listen(0, '127.0.0.1', resolve));
    const port = (hang.address() as net.AddressInfo).port;
    const leaf = pki.leaf('hang.test', { ocspUrl: `http://127.0.0.1:${port}` });
    const store = new MemoryCertStore();
    await store.put({ hostname: leaf.name, source: 'custom', certPem: leaf.chainPem, keyPem: leaf.keyPem, names: [leaf.name], notBefore: '', notAfter: '' });
    const logs: Record<string, unknown>[] = [];
    const logger = new Logger({ write: (line: string) => logs.push(JSON.parse(line) as Record<string, unknown>) }, 'debug');
    const contexts = await StoreTlsContexts.open(store, { defaultCert: 'refuse', clock: new SystemClock(), logger, ocsp: { timeoutMs: 300 } });
    const p = await startProxy({ apps: [] });
    try {
      const tlsPort = (await p.proxy.listenTls('127.0.0.1', 0, contexts)).port;
      await waitFor(() => sockets.size > 0, 'the stapler to reach the responder');
      for (const alpn of ['http/1.1', 'h2']) assert.equal((await handshake(tlsPort, 'hang.test', pki.caPem, alpn)).staple, null);
      await waitFor(() => logs.some((l) => l.msg === 'OCSP refresh failed; retrying' && /ERR_OCSP_FETCH.*within 300 ms/.test(String(l.error))), 'the request to time out');
    } finally {
      p.close();
      contexts.close();
      for (const s of sockets) s.destroy();
      hang.close();
    }
  });
});
