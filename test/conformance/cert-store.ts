/**
 * The behaviour every CertificateStore shares. Each implementation runs it:
 *   storeConformance('MemoryCertStore', async () => ({ store: new MemoryCertStore() }));
 */
import type { ErrorCode } from '../../src/shared/index.js';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { selfSigned, type CertificateStore, type KeyPairPem, type StoredCertificate } from '../../src/certs/index.js';
import { isStarlingError } from '../../src/shared/index.js';
import { waitFor } from '../helpers/wait.js';

export interface StoreFixture {
  store: CertificateStore;
  cleanup?: () => Promise<void>;
}

const DIRECTORY = 'https://acme.test/dir';
const TOKEN = 'evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA';
const THUMB = 'nP1qzpXGymHBrUEepNY9HCsQk7K8KhOypzEt62jcerQ';

/** A line from the middle of a PEM body: if it shows up in an error, key material leaked. */
export function keyMaterial(pem: string): string {
  const line = pem.split('\n').find((l) => l.length > 20 && !l.startsWith('-----'));
  assert.ok(line, 'PEM has a body');
  return line;
}

export function rejectsWith(code: ErrorCode, secret?: string): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(isStarlingError(e, code), `expected ${code}, got ${inspect(e)}`);
    if (secret !== undefined) assert.ok(!inspect(e, { depth: 5 }).includes(secret), 'the error must not carry key material');
    return true;
  };
}

export function storeConformance(name: string, makeStore: () => Promise<StoreFixture>): void {
  describe(`CertificateStore conformance: ${name}`, () => {
    let a: KeyPairPem;
    let wild: KeyPairPem;
    let other: KeyPairPem;
    const fixtures: StoreFixture[] = [];

    const fresh = async (): Promise<CertificateStore> => {
      const f = await makeStore();
      fixtures.push(f);
      return f.store;
    };
    const cert = (kp: KeyPairPem, hostname: string, extra: Partial<StoredCertificate> = {}): StoredCertificate => ({
      hostname,
      source: 'acme',
      certPem: kp.certPem,
      keyPem: kp.keyPem,
      names: [],
      notBefore: '',
      notAfter: '',
      ...extra,
    });

    before(async () => {
      [a, wild, other] = await Promise.all([
        selfSigned({ names: ['a.example.com', 'www.a.example.com'] }),
        selfSigned({ names: ['*.example.com'] }),
        selfSigned({ names: ['b.example.com'] }),
      ]);
    });
    after(async () => {
      for (const f of fixtures) await f.cleanup?.();
    });

    it('put then get; names and dates come from the certificate, not the caller', async () => {
      const store = await fresh();
      await store.put(cert(a, 'a.example.com', { names: ['lies.example'], notAfter: '2099-01-01T00:00:00.000Z' }));
      const got = await store.get('a.example.com', 'acme');
      assert.ok(got);
      assert.deepEqual(got.names, ['a.example.com', 'www.a.example.com']);
      assert.notEqual(got.notAfter, '2099-01-01T00:00:00.000Z');
      assert.ok(Date.parse(got.notBefore) < Date.now() && Date.parse(got.notAfter) > Date.now());
      assert.equal(got.keyPem.trim(), a.keyPem.trim());
      assert.match(got.certPem, /^-----BEGIN CERTIFICATE-----/);
      assert.equal(await store.get('a.example.com', 'custom'), undefined, 'sources are separate');
      assert.equal(await store.get('nope.example.com', 'acme'), undefined);
    });

    it('hostnames are case-insensitive and a trailing dot is ignored', async () => {
      const store = await fresh();
      await store.put(cert(a, 'A.Example.COM.'));
      assert.equal((await store.get('a.example.com', 'acme'))?.hostname, 'a.example.com');
      assert.ok(await store.get('A.EXAMPLE.com', 'acme'));
    });

    it('wildcards, custom beside acme, replace, list, all, remove', async () => {
      const store = await fresh();
      await store.put(cert(wild, '*.example.com'));
      await store.put(cert(a, 'a.example.com'));
      await store.put(cert(a, 'a.example.com', { source: 'custom' }));
      await store.put(cert(wild, 'x.example.com', { source: 'custom' })); // filed under a name the wildcard covers
      assert.equal((await store.all()).length, 4);

      const list = await store.list();
      assert.equal(list.length, 4);
      for (const s of list) {
        assert.match(s.fingerprint256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
        assert.ok(!('keyPem' in s) && !('certPem' in s), 'summaries carry no PEM');
      }
      assert.ok(!JSON.stringify(list).includes('PRIVATE KEY'));
      assert.deepEqual(list.find((s) => s.hostname === '*.example.com')?.names, ['*.example.com']);

      await store.put(cert(other, 'b.example.com'));
      await store.put(cert(wild, 'b.example.com')); // replaces: same hostname and source
      assert.deepEqual((await store.get('b.example.com', 'acme'))?.names, ['*.example.com']);

      assert.equal(await store.remove('a.example.com', 'custom'), true);
      assert.equal(await store.remove('a.example.com', 'custom'), false);
      assert.ok(await store.get('a.example.com', 'acme'), 'removing custom leaves acme');
      assert.equal((await store.all()).length, 4);
    });

    it('rejects a key that does not match, without showing the key', async () => {
      const store = await fresh();
      await assert.rejects(store.put(cert(a, 'a.example.com', { keyPem: other.keyPem })), rejectsWith('ERR_CERT_KEY_MISMATCH', keyMaterial(other.keyPem)));
      const garbage = '-----BEGIN PRIVATE KEY-----\nTUlTU0lOR19TRUNSRVRfTUFURVJJQUxfMTIzNDU2Nzg5MA==\n-----END PRIVATE KEY-----\n';
      await assert.rejects(store.put(cert(a, 'a.example.com', { keyPem: garbage })), rejectsWith('ERR_CERT_KEY', 'TUlTU0lOR19TRUNSRVRf'));
      await assert.rejects(store.put(cert(a, 'a.example.com', { certPem: 'not a cert' })), rejectsWith('ERR_CERT_PARSE'));
      await assert.rejects(
        store.put(cert(a, 'a.example.com', { certPem: a.certPem + a.keyPem })),
        rejectsWith('ERR_CERT_PARSE', keyMaterial(a.keyPem)),
      );
      await assert.rejects(store.put(cert(a, 'b.example.com')), rejectsWith('ERR_CERT_HOSTNAME_MISMATCH'));
      await assert.rejects(store.put(cert(wild, 'a.b.example.com')), rejectsWith('ERR_CERT_HOSTNAME_MISMATCH'), 'wildcards cover one label');
      assert.deepEqual(await store.all(), []);
    });

    it('rejects hostnames, sources and tokens that could escape or collide (ERR_CERT_NAME, fault user)', async () => {
      const store = await fresh();
      const bad = ['', '../etc', 'a/b', 'a\\b', '..', 'foo..com', '*.*.example.com', 'a.*.example.com', '*', `${'x'.repeat(64)}.com`,
        '_wildcard_.example.com', '-a.example.com', 'a b.com', 'a.example.com\0', '.hidden'];
      for (const h of bad) {
        await assert.rejects(store.put(cert(a, h)), rejectsWith('ERR_CERT_NAME'), JSON.stringify(h));
        await assert.rejects(store.get(h, 'acme'), rejectsWith('ERR_CERT_NAME'), JSON.stringify(h));
        await assert.rejects(store.remove(h, 'acme'), rejectsWith('ERR_CERT_NAME'), JSON.stringify(h));
      }
      await assert.rejects(store.put(cert(a, 'a.example.com', { source: '../x' as 'acme' })), (e: unknown) => {
        assert.ok(isStarlingError(e, 'ERR_CERT_NAME') && e.fault === 'user');
        return true;
      });
      for (const t of ['', '../x', 'a.b', 'a/b', 'a=', '%2e%2e']) {
        await assert.rejects(store.putChallenge({ type: 'http-01', token: t, keyAuthorization: `${t}.${THUMB}` }), rejectsWith('ERR_CERT_NAME'));
        assert.equal(await store.httpChallenge(t), undefined, 'a lookup of a name that cannot exist is simply a miss');
      }
      assert.equal(await store.alpnChallenge('../../etc/passwd'), undefined);
    });

    it('HTTP-01 and TLS-ALPN-01 challenge answers', async () => {
      const store = await fresh();
      assert.equal(await store.httpChallenge(TOKEN), undefined);
      await store.putChallenge({ type: 'http-01', token: TOKEN, keyAuthorization: `${TOKEN}.${THUMB}` });
      assert.equal(await store.httpChallenge(TOKEN), `${TOKEN}.${THUMB}`);
      await assert.rejects(store.putChallenge({ type: 'http-01', token: TOKEN, keyAuthorization: 'other.x' }), rejectsWith('ERR_CERT_CHALLENGE'));
      await store.removeChallenge({ type: 'http-01', token: TOKEN });
      assert.equal(await store.httpChallenge(TOKEN), undefined);
      await store.removeChallenge({ type: 'http-01', token: TOKEN }); // removing twice is fine

      await store.putChallenge({ type: 'tls-alpn-01', hostname: 'A.example.com', certPem: a.certPem, keyPem: a.keyPem });
      const got = await store.alpnChallenge('a.example.com');
      assert.equal(got?.keyPem.trim(), a.keyPem.trim());
      assert.equal(got?.certPem.trim(), a.certPem.trim());
      assert.equal(await store.alpnChallenge('b.example.com'), undefined);
      await assert.rejects(
        store.putChallenge({ type: 'tls-alpn-01', hostname: '*.example.com', certPem: wild.certPem, keyPem: wild.keyPem }),
        rejectsWith('ERR_CERT_NAME'),
      );
      await assert.rejects(
        store.putChallenge({ type: 'tls-alpn-01', hostname: 'a.example.com', certPem: a.certPem, keyPem: other.keyPem }),
        rejectsWith('ERR_CERT_KEY_MISMATCH', keyMaterial(other.keyPem)),
      );
      await store.removeChallenge({ type: 'tls-alpn-01', hostname: 'a.example.com' });
      assert.equal(await store.alpnChallenge('a.example.com'), undefined);
    });

    it('ACME account key per directory URL', async () => {
      const store = await fresh();
      assert.equal(await store.accountKey(DIRECTORY), undefined);
      await store.putAccountKey(DIRECTORY, a.keyPem);
      assert.equal((await store.accountKey(DIRECTORY))?.trim(), a.keyPem.trim());
      assert.equal(await store.accountKey('https://other.test/dir'), undefined);
      await assert.rejects(store.putAccountKey(DIRECTORY, 'garbage'), rejectsWith('ERR_CERT_KEY'));
      await assert.rejects(store.accountKey('not a url'), rejectsWith('ERR_CERT_NAME'));
    });

    it('watch() reports certificate changes until unsubscribed', async () => {
      const store = await fresh();
      let first = 0;
      let second = 0;
      const unsubFirst = store.watch(() => first++);
      const unsubSecond = store.watch(() => second++);
      await store.put(cert(a, 'a.example.com'));
      await waitFor(() => first > 0 && second > 0, 'both listeners told of the put');
      unsubFirst();
      const before = first;
      const seen = second;
      await store.remove('a.example.com', 'acme');
      await waitFor(() => second > seen, 'the remaining listener told of the remove');
      assert.equal(first, before, 'an unsubscribed listener is not called');
      unsubSecond();
    });
  });
}
