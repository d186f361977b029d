import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { OCSPRequest, OCSPResponseStatus } from '@peculiar/asn1-ocsp';
import { AsnConvert } from '@peculiar/asn1-schema';
import { OcspStapler, type OcspFetch } from '../../src/certs/index.js';
import { ocspTarget, parseOcspResponse, type OcspTarget } from '../../src/certs/ocsp.js';
import { certFields, digest, fingerprintOfDer, mayHaveOcspUrl, pemCertificates, readTlv } from '../../src/certs/ocsp-der.js';
import { isStarlingError, Logger, ManualClock } from '../../src/shared/index.js';
import { forgePki, forgeResponse, type ForgeOptions, type ForgedPki } from '../helpers/ocsp-forge.js';

const URL = 'http://127.0.0.1:9/ocsp';
const MIN = 60_000;

function rejects(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => isStarlingError(e) && e.code === code, `expected ${code}`);
}

describe('OCSP request and response (RFC 6960), on bytes', () => {
  let pki: ForgedPki;
  let target: OcspTarget;
  const parse = (o: ForgeOptions = {}, now = Date.now()) => parseOcspResponse(forgeResponse(pki, o), target, now);

  before(async () => {
    pki = await forgePki(URL);
    target = ocspTarget(pki.leaf.pem + pki.issuer.pem)!;
  });

  it('reads the responder URL from AIA, and skips a certificate without one', () => {
    assert.equal(target.url, URL);
    assert.equal(ocspTarget(pki.plain.pem + pki.issuer.pem), undefined);
    assert.equal(mayHaveOcspUrl(pki.plain.der), false);
    assert.equal(mayHaveOcspUrl(pki.leaf.der), true);
  });

  it('builds a CertID of SHA-1 over the issuer name and key, with the serial', () => {
    const req = AsnConvert.parse(target.request, OCSPRequest);
    const id = req.tbsRequest.requestList[0]!.reqCert;
    const issuer = certFields(pki.issuer.der);
    assert.equal(req.tbsRequest.requestList.length, 1);
    assert.equal(id.hashAlgorithm.algorithm, '1.3.14.3.2.26');
    assert.deepEqual(Buffer.from(id.issuerNameHash.buffer), digest('sha1', issuer.subjectName));
    assert.deepEqual(Buffer.from(id.issuerKeyHash.buffer), digest('sha1', issuer.publicKeyBits));
    assert.equal(Buffer.from(id.serialNumber).toString('hex'), '00c0ffee01');
    // DER: one outer SEQUENCE covering all the bytes
    assert.equal(readTlv(target.request, 0).end, target.request.length);
  });

  it('refuses a chain that names a responder but lacks the issuer', () => {
    rejects(() => ocspTarget(pki.leaf.pem), 'ERR_OCSP_CHAIN');
    rejects(() => ocspTarget(pki.leaf.pem + pki.root.pem), 'ERR_OCSP_CHAIN');
  });

  it('accepts a good answer signed by the issuer, with its times', () => {
    const thisUpdate = new Date(Date.now() - 5 * MIN);
    const a = parse({ thisUpdate, nextUpdate: new Date(thisUpdate.getTime() + 60 * MIN) });
    assert.equal(a.status, 'good');
    assert.equal(a.thisUpdate, thisUpdate.getTime());
    assert.equal(a.nextUpdate, a.thisUpdate + 60 * MIN);
  });

  it('accepts a delegated responder the issuer signed for OCSP, by name or by key', () => {
    assert.equal(parse({ signer: pki.responder, carry: true }).status, 'good');
    assert.equal(parse({ signer: pki.responder, carry: true, byKey: true }).status, 'good');
  });

  it('refuses a responder without id-kp-OCSPSigning, one the issuer did not sign, and an uncarried one', () => {
    rejects(() => parse({ signer: pki.rogue, carry: true }), 'ERR_OCSP_SIGNATURE');
    rejects(() => parse({ signer: pki.root, carry: true }), 'ERR_OCSP_SIGNATURE');
    rejects(() => parse({ signer: pki.responder }), 'ERR_OCSP_SIGNATURE');
  });

  it('refuses a delegated responder outside its validity, allowing 5 min of clock skew', () => {
    const der = forgeResponse(pki, { signer: pki.responder, carry: true, thisUpdate: new Date(Date.now() - 120 * MIN), nextUpdate: new Date(Date.now() + 96 * 60 * MIN) });
    // made valid from an hour ago, for 48 h
    assert.throws(() => parseOcspResponse(der, target, Date.now() + 72 * 60 * MIN), (e: unknown) => isStarlingError(e, 'ERR_OCSP_SIGNATURE'));
    assert.throws(() => parseOcspResponse(der, target, Date.now() - 70 * MIN), (e: unknown) => isStarlingError(e, 'ERR_OCSP_SIGNATURE'));
  });

  it('refuses an answer whose signed bytes were changed', () => {
    rejects(() => parse({ tamper: true }), 'ERR_OCSP_SIGNATURE');
    rejects(() => parse({ signer: pki.responder, carry: true, tamper: true }), 'ERR_OCSP_SIGNATURE');
  });

  it('refuses an answer about another serial', () => {
    rejects(() => parse({ about: pki.other }), 'ERR_OCSP_MISMATCH');
  });

  it('refuses an answer past nextUpdate or from the future', () => {
    const thisUpdate = new Date(Date.now() - 120 * MIN);
    rejects(() => parse({ thisUpdate, nextUpdate: new Date(thisUpdate.getTime() + 60 * MIN) }), 'ERR_OCSP_STALE');
    rejects(() => parse({ thisUpdate: new Date(Date.now() + 30 * MIN) }), 'ERR_OCSP_STALE');
    assert.equal(parse({ nextUpdate: null }).nextUpdate, undefined);
  });

  it('reports revoked and unknown as they are', () => {
    const r = parse({ status: 'revoked' });
    assert.equal(r.status, 'revoked');
    assert.ok(r.revokedAt !== undefined && r.revokedAt < r.thisUpdate);
    assert.equal(parse({ status: 'unknown' }).status, 'unknown');
  });

  it('refuses an unsuccessful responseStatus and bytes that are not OCSP', () => {
    rejects(() => parse({ responseStatus: OCSPResponseStatus.tryLater }), 'ERR_OCSP_RESPONSE');
    rejects(() => parseOcspResponse(Buffer.from('not der at all'), target, Date.now()), 'ERR_OCSP_RESPONSE');
    rejects(() => parseOcspResponse(Buffer.from([0x30, 0x03, 0x0a, 0x01, 0x01]), target, Date.now()), 'ERR_OCSP_RESPONSE');
  });
});

describe('OcspStapler', () => {
  let pki: ForgedPki;
  before(async () => {
    pki = await forgePki(URL);
  });

  /** A responder the test scripts: each call answers with what `next` says, or fails. */
  function scripted(clock: ManualClock) {
    const calls: { url: string; body: Buffer; type: string | undefined }[] = [];
    const state = { down: false, options: {} as ForgeOptions };
    const fetch: OcspFetch = async (url, init) => {
      calls.push({ url, body: Buffer.from(init.body), type: init.headers['content-type'] });
      if (state.down) throw new Error('connect ECONNREFUSED');
      const der = forgeResponse(pki, { thisUpdate: new Date(clock.now()), nextUpdate: new Date(clock.now() + 60 * MIN), ...state.options });
      return { status: 200, arrayBuffer: async () => der.buffer.slice(der.byteOffset, der.byteOffset + der.length) as ArrayBuffer };
    };
    return { calls, state, fetch };
  }

  function setup() {
    const clock = new ManualClock(Date.now());
    const r = scripted(clock);
    const logs: Record<string, unknown>[] = [];
    const logger = new Logger({ write: (l: string) => logs.push(JSON.parse(l) as Record<string, unknown>) }, 'debug');
    const stapler = new OcspStapler({ clock, logger, fetch: r.fetch, random: () => 0.5, retryInitialMs: 10_000, retryMaxMs: 40_000, minRefreshMs: 1000 });
    const cert = { certPem: pki.leaf.pem + pki.issuer.pem };
    return { clock, stapler, cert, logs, ...r };
  }

  it('fetches in the background when a certificate is first seen, and staples by PEM, DER or fingerprint', async () => {
    const { stapler, cert, calls } = setup();
    stapler.sync([cert, { certPem: pki.plain.pem + pki.issuer.pem }]);
    assert.equal(stapler.staple(cert.certPem), undefined); // nothing yet: a handshake never waits
    await stapler.settled();
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.url, URL);
    assert.equal(calls[0]!.type, 'application/ocsp-request');
    const der = stapler.staple(cert.certPem);
    assert.ok(der);
    assert.equal(stapler.staple(pki.leaf.der), der);
    assert.equal(stapler.staple(fingerprintOfDer(pki.leaf.der)), der);
    assert.equal(stapler.staple(pki.plain.pem), undefined);
    assert.equal(stapler.size, 1); // the certificate without AIA is not kept at all
    stapler.close();
  });

  it('refreshes half-way to nextUpdate, with jitter, through the clock', async () => {
    const { stapler, cert, calls, clock } = setup();
    stapler.sync([cert]);
    await stapler.settled();
    const first = stapler.staple(cert.certPem);
    // nextUpdate is 60 min out; half-way less 0.5 × 10 % of the half: 28.5 min.
    clock.advance(28 * MIN);
    await stapler.settled();
    assert.equal(calls.length, 1);
    clock.advance(MIN);
    await stapler.settled();
    assert.equal(calls.length, 2);
    assert.notDeepEqual(stapler.staple(cert.certPem), first);
    stapler.close();
  });

  it('keeps the last good answer while the responder is down, with backoff, then stops at nextUpdate (one warning)', async () => {
    const { stapler, cert, calls, clock, state, logs } = setup();
    stapler.sync([cert]);
    await stapler.settled();
    const good = stapler.staple(cert.certPem);
    state.down = true;
    clock.advance(30 * MIN);
    await stapler.settled();
    assert.equal(calls.length, 2);
    assert.equal(stapler.staple(cert.certPem), good);
    // backoff 10 s × (1 − 0.2 × 0.5) = 9 s, then 18 s, then 36 s
    for (const [wait, expect] of [[9_000, 3], [18_000, 4], [36_000, 5]] as const) {
      clock.advance(wait - 1);
      await stapler.settled();
      assert.equal(calls.length, expect - 1);
      clock.advance(1);
      await stapler.settled();
      assert.equal(calls.length, expect);
    }
    assert.equal(stapler.staple(cert.certPem), good);
    clock.advance(30 * MIN);
    await stapler.settled();
    assert.equal(stapler.staple(cert.certPem), undefined);
    clock.advance(10 * MIN);
    await stapler.settled();
    assert.equal(logs.filter((l) => l.level === 'warn').length, 1);
    // The first failure of the streak at info, the retries at debug.
    assert.equal(logs.filter((l) => l.level === 'info' && l.msg === 'OCSP refresh failed; retrying').length, 1);
    assert.ok(logs.filter((l) => l.level === 'debug' && l.msg === 'OCSP refresh failed; retrying').length >= 3);
    // The responder comes back: stapled again at the next try.
    state.down = false;
    clock.advance(40_000);
    await stapler.settled();
    assert.ok(stapler.staple(cert.certPem));
    stapler.close();
  });

  it('stops stapling at once on a revoked answer, and never staples one that does not verify', async () => {
    const { stapler, cert, clock, state } = setup();
    stapler.sync([cert]);
    await stapler.settled();
    assert.ok(stapler.staple(cert.certPem));
    state.options = { status: 'revoked' };
    clock.advance(30 * MIN);
    await stapler.settled();
    assert.equal(stapler.staple(cert.certPem), undefined);
    stapler.close();

    const other = setup();
    other.state.options = { signer: pki.rogue, carry: true };
    other.stapler.sync([other.cert]);
    await other.stapler.settled();
    assert.equal(other.calls.length, 1);
    assert.equal(other.stapler.staple(other.cert.certPem), undefined);
    other.stapler.close();
  });

  it('drops a certificate that leaves the store, timers included', async () => {
    const { stapler, cert, calls, clock } = setup();
    stapler.sync([cert]);
    await stapler.settled();
    stapler.sync([]);
    assert.equal(stapler.staple(cert.certPem), undefined);
    assert.equal(stapler.size, 0);
    clock.advance(120 * MIN);
    await stapler.settled();
    assert.equal(calls.length, 1);
  });

  it('reads every certificate of a PEM chain in order', () => {
    const ders = pemCertificates(pki.leaf.pem + pki.issuer.pem);
    assert.deepEqual(ders, [pki.leaf.der, pki.issuer.der]);
  });
});
