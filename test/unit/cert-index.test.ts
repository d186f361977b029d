import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { createSecureContext } from 'node:tls';
import { CertificateIndex, defaultSelfSigned, selfSigned, type KeyPairPem, type StoredCertificate } from '../../src/certs/index.js';
import { ManualClock } from '../../src/shared/index.js';

const DAY = 86_400_000;
const clock = new ManualClock(Date.parse('2025-06-01T00:00:00Z'));
const iso = (ms: number): string => new Date(ms).toISOString();

describe('CertificateIndex', () => {
  let kp: KeyPairPem;
  /** The index only reads the stored fields, so one real key pair serves every fake certificate. */
  const cert = (hostname: string, o: Partial<StoredCertificate> & { validDays?: [number, number] } = {}): StoredCertificate => {
    const [from, to] = o.validDays ?? [-10, 80];
    return {
      hostname,
      source: o.source ?? 'acme',
      certPem: kp.certPem,
      keyPem: kp.keyPem,
      names: o.names ?? [hostname],
      notBefore: iso(clock.now() + from * DAY),
      notAfter: iso(clock.now() + to * DAY),
    };
  };

  before(async () => {
    kp = await selfSigned({ names: ['test.example'] });
  });

  it('finds exact names, one context per certificate, made once', () => {
    const c = cert('example.com', { names: ['example.com', 'www.example.com'] });
    const index = CertificateIndex.from([c], { clock });
    assert.equal(index.contextsCreated, 0, 'nothing is built up front');
    const ctx = index.lookup('example.com');
    assert.ok(ctx);
    assert.equal(index.lookup('www.example.com'), ctx, 'names of one certificate share its context');
    assert.equal(index.lookup('example.com'), ctx);
    assert.equal(index.contextsCreated, 1);
    assert.deepEqual(index.names().sort(), ['example.com', 'www.example.com']);
    assert.equal(index.size, 2);
  });

  it('wildcards cover exactly one label, and not the bare domain', () => {
    const index = CertificateIndex.from([cert('*.example.com')], { clock });
    assert.ok(index.lookup('a.example.com'));
    assert.equal(index.lookup('a.b.example.com'), undefined);
    assert.equal(index.lookup('example.com'), undefined);
    assert.equal(index.lookup('*.example.com'), undefined, 'a literal * in SNI matches nothing');
  });

  it('an exact name beats the wildcard', () => {
    const exact = cert('a.example.com');
    const index = CertificateIndex.from([cert('*.example.com'), exact], { clock });
    assert.equal(index.certificateFor('a.example.com'), exact);
    assert.equal(index.certificateFor('b.example.com')?.hostname, '*.example.com');
  });

  it('is case-insensitive and ignores a trailing dot', () => {
    const index = CertificateIndex.from([cert('A.Example.com', { names: ['A.Example.COM.', '*.Wild.Example.com'] })], { clock });
    assert.ok(index.lookup('a.example.com'));
    assert.ok(index.lookup('A.EXAMPLE.COM.'));
    assert.ok(index.lookup('X.wild.example.COM'));
  });

  it('unknown names get undefined', () => {
    const index = CertificateIndex.from([cert('a.example.com')], { clock });
    for (const n of ['b.example.com', 'example.com', '', '.', 'com', 'a.example.com.evil']) assert.equal(index.lookup(n), undefined, n);
    assert.equal(CertificateIndex.from([]).lookup('a.example.com'), undefined);
  });

  it('a custom certificate beats an acme one for the same name', () => {
    const custom = cert('a.example.com', { source: 'custom', validDays: [-1, 10] });
    const acme = cert('a.example.com', { source: 'acme', validDays: [-1, 80] });
    assert.equal(CertificateIndex.from([acme, custom], { clock }).certificateFor('a.example.com'), custom);
    assert.equal(CertificateIndex.from([custom, acme], { clock }).certificateFor('a.example.com'), custom);
  });

  it('a valid certificate beats an expired one, even a custom or exact one', () => {
    const expiredCustom = cert('a.example.com', { source: 'custom', validDays: [-100, -10] });
    const validAcme = cert('a.example.com', { validDays: [-1, 80] });
    assert.equal(CertificateIndex.from([expiredCustom, validAcme], { clock }).certificateFor('a.example.com'), validAcme);
    const validWild = cert('*.example.com');
    assert.equal(CertificateIndex.from([expiredCustom, validWild], { clock }).certificateFor('a.example.com'), validWild);
  });

  it('an expired certificate is still served when it is the only one', () => {
    const expired = cert('a.example.com', { validDays: [-100, -10] });
    const index = CertificateIndex.from([expired], { clock });
    assert.equal(index.certificateFor('a.example.com'), expired);
    assert.ok(index.lookup('a.example.com'));
  });

  it('validity is judged at lookup time, so an index outlives an expiry', () => {
    const c = new ManualClock(clock.now());
    const short = cert('a.example.com', { source: 'custom', validDays: [-1, 1] });
    const long = cert('a.example.com', { validDays: [-1, 60] });
    const index = CertificateIndex.from([short, long], { clock: c });
    assert.equal(index.certificateFor('a.example.com'), short);
    c.advance(2 * DAY);
    assert.equal(index.certificateFor('a.example.com'), long);
  });

  it('100,000 names: built without making contexts; a lookup makes only the one it needs', () => {
    let made = 0;
    const certs: StoredCertificate[] = [];
    for (let i = 0; i < 100_000; i++) certs.push(cert(`host-${i}.apps.example`));
    const index = CertificateIndex.from(certs, {
      clock,
      createContext: (c, o) => {
        made++;
        return createSecureContext({ ...o, cert: c.certPem, key: c.keyPem });
      },
    });
    assert.equal(index.size, 100_000);
    assert.equal(made, 0);
    for (const i of [0, 54_321, 99_999, 54_321]) assert.ok(index.lookup(`host-${i}.apps.example`));
    assert.equal(index.lookup('host-100000.apps.example'), undefined);
    assert.equal(made, 3);
    assert.equal(index.contextsCreated, 3);
  });
});

describe('selfSigned / defaultSelfSigned', () => {
  it('makes a P-256 certificate whose key matches', async () => {
    const d = await defaultSelfSigned(['default.starling']);
    const x = new X509Certificate(d.certPem);
    assert.equal(x.subjectAltName, 'DNS:default.starling');
    assert.equal(x.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.ok(x.verify(x.publicKey), 'self-signed');
  });

  it('makes a CA and a leaf signed by it that verifies against the root', async () => {
    const notBefore = new Date(Date.now() - DAY);
    const ca = await selfSigned({ names: [], ca: true, commonName: 'Test Root' });
    const leaf = await selfSigned({ names: ['leaf.example', '127.0.0.1'], issuer: ca, notBefore, notAfter: new Date(Date.now() + DAY) });
    const root = new X509Certificate(ca.certPem);
    const x = new X509Certificate(leaf.certPem);
    assert.ok(root.ca && !x.ca);
    assert.ok(x.checkIssued(root) && x.verify(root.publicKey));
    assert.equal(x.issuer, 'CN=Test Root');
    assert.equal(x.subjectAltName, 'DNS:leaf.example, IP Address:127.0.0.1');
    assert.equal(new Date(x.validFrom).getTime(), Math.floor(notBefore.getTime() / 1000) * 1000);
  });
});
