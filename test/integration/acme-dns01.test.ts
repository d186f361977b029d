import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, randomBytes } from 'node:crypto';
import { AcmeIssuer } from '../../src/certs/acme.js';
import { MemoryCertStore, Rfc2136Solver, type Challenge, type Dns01Solver } from '../../src/certs/index.js';
import { SystemClock, isStarlingError, silentLogger } from '../../src/shared/index.js';
import { freeLoopbackPort, startBind9, type Bind9 } from '../helpers/bind9.js';
import { startPebble, type Pebble } from '../helpers/pebble.js';

/**
 * Tier 3: DNS-01 end to end. A real bind9 holds the zone example.test and accepts TSIG-signed
 * RFC 2136 updates; Pebble resolves through that bind9, so it validates against exactly what our
 * updates put there. Wildcards are ordered this way, and the TXT record is gone afterwards.
 */

/** A store that counts challenge answers put into it: DNS-01 must put none. */
class CountingStore extends MemoryCertStore {
  challengePuts = 0;
  override async putChallenge(c: Challenge): Promise<void> {
    this.challengePuts++;
    return super.putChallenge(c);
  }
}

/** Wraps a solver, checking with dig (not our code) that the TXT is in bind9 once present() returns. */
class Watched implements Dns01Solver {
  readonly calls: string[] = [];
  constructor(private readonly inner: Dns01Solver, private readonly bind: Bind9) {}
  async present(fqdn: string, value: string): Promise<void> {
    await this.inner.present(fqdn, value);
    const seen = await this.bind.dig(fqdn, 'TXT');
    this.calls.push(`present ${fqdn} ${seen.includes(`"${value}"`) ? 'visible' : `missing (${seen.join(' ')})`}`);
  }
  async cleanup(fqdn: string, value: string): Promise<void> {
    this.calls.push(`cleanup ${fqdn}`);
    await this.inner.cleanup(fqdn, value);
  }
}

describe('ACME DNS-01 through RFC 2136 updates to bind9, validated by Pebble', { timeout: 120_000 }, () => {
  let bind: Bind9;
  let pebble: Pebble;
  const clock = new SystemClock();
  const solver = (extra: Partial<ConstructorParameters<typeof Rfc2136Solver>[0]> = {}) =>
    new Rfc2136Solver({
      server: bind.server, keyName: bind.keyName, algorithm: bind.algorithm, secret: bind.secret,
      clock, logger: silentLogger, timeoutMs: 5000, ...extra,
    });
  const issuer = (store: CountingStore, dns01: Dns01Solver, extra: Partial<ConstructorParameters<typeof AcmeIssuer>[0]> = {}) =>
    new AcmeIssuer({
      directoryUrl: pebble.directoryUrl, store, logger: silentLogger, caBundlePem: pebble.caPem, pollIntervalMs: 50, dns01, ...extra,
    });

  before(async () => {
    bind = await startBind9({ zone: 'example.test' });
    pebble = await startPebble({ httpPort: await freeLoopbackPort(), tlsPort: await freeLoopbackPort(), dnsServer: bind.server });
  });
  after(async () => {
    await pebble?.stop();
    await bind?.stop();
  });

  it('issues *.example.test by DNS-01 (zone found by SOA), the TXT in bind9 during validation and gone after', async () => {
    const store = new CountingStore();
    const watched = new Watched(solver(), bind);
    const cert = await issuer(store, watched).issue('*.example.test');
    assert.equal(cert.hostname, '*.example.test');
    assert.equal(cert.challenge, 'dns-01');
    assert.deepEqual(cert.names, ['*.example.test']);
    assert.equal(new X509Certificate(cert.certPem).subjectAltName, 'DNS:*.example.test');
    assert.deepEqual(watched.calls, ['present _acme-challenge.example.test visible', 'cleanup _acme-challenge.example.test'], bind.output());
    assert.equal(store.challengePuts, 0, 'a DNS-01 answer lives in DNS, not in the store');
    assert.equal((await store.get('*.example.test', 'acme'))?.certPem, cert.certPem);
    assert.deepEqual(await bind.dig('_acme-challenge.example.test', 'TXT'), [], 'the TXT record is removed afterwards');
  });

  it('issues example.test by DNS-01 with the zone given and hmac-sha256, priority dns-01 first', async () => {
    const store = new CountingStore();
    const watched = new Watched(solver({ zone: 'example.test' }), bind);
    const cert = await issuer(store, watched, { challengePriority: ['dns-01', 'http-01'] }).issue('example.test');
    assert.equal(cert.challenge, 'dns-01');
    assert.deepEqual(cert.names, ['example.test']);
    assert.equal(new X509Certificate(cert.certPem).subjectAltName, 'DNS:example.test');
    assert.equal(store.challengePuts, 0);
    assert.deepEqual(await bind.dig('_acme-challenge.example.test', 'TXT'), []);
  });

  it('cleanup removes only its own TXT value: another one at the name stays', async () => {
    const s = solver();
    const fqdn = `_acme-challenge.keep-${randomBytes(3).toString('hex')}.example.test`;
    await s.present(fqdn, 'first-value');
    await s.present(fqdn, 'second-value');
    await s.cleanup(fqdn, 'first-value');
    assert.deepEqual(await bind.dig(fqdn, 'TXT'), ['"second-value"']);
    await s.cleanup(fqdn, 'second-value');
    assert.deepEqual(await bind.dig(fqdn, 'TXT'), []);
  });

  it('signs with hmac-sha512 for a bind9 keyed that way (present, visible, cleanup)', async () => {
    const b512 = await startBind9({ zone: 'example.test', algorithm: 'hmac-sha512' });
    try {
      const s = new Rfc2136Solver({
        server: b512.server, keyName: b512.keyName, algorithm: 'hmac-sha512', secret: b512.secret, clock, logger: silentLogger,
      });
      await s.present('_acme-challenge.sha512.example.test', 'v512');
      assert.deepEqual(await b512.dig('_acme-challenge.sha512.example.test', 'TXT'), ['"v512"']);
      await s.cleanup('_acme-challenge.sha512.example.test', 'v512');
      assert.deepEqual(await b512.dig('_acme-challenge.sha512.example.test', 'TXT'), []);
    } finally {
      await b512.stop();
    }
  });

  it('a wrong TSIG secret fails with ERR_DNS_UPDATE naming the server, zone and BADSIG, never the secret', async () => {
    const wrong = randomBytes(32).toString('base64');
    const store = new CountingStore();
    await assert.rejects(issuer(store, solver({ secret: wrong }), { challengePriority: ['dns-01'] }).issue('bad.example.test'), (e: unknown) => {
      assert.ok(isStarlingError(e, 'ERR_DNS_UPDATE'), String(e));
      assert.match(e.message, new RegExp(`^DNS server ${bind.server.replace(/\./g, '\\.')} refused adding TXT _acme-challenge\\.bad\\.example\\.test in zone example\\.test: `));
      assert.match(e.message, /NOTAUTH, BADSIG for TSIG key starling-acme \(hmac-sha256\)/);
      assert.ok(!e.message.includes(wrong) && !e.message.includes(bind.secret), 'never a secret');
      return true;
    });
    assert.equal(await store.get('bad.example.test', 'acme'), undefined);
  });

  it('a name outside every zone of the server is refused before any update (ERR_DNS_CONFIG)', async () => {
    await assert.rejects(solver().present('_acme-challenge.other.test', 'x'), (e: unknown) => {
      assert.ok(isStarlingError(e, 'ERR_DNS_CONFIG'), String(e));
      assert.match(e.message, /names no zone for _acme-challenge\.other\.test \(SOA query: REFUSED\)/);
      return true;
    });
  });

  it('refuses bad settings up front: dns-01 priority without a solver, a secret that is not base64, a bad server', () => {
    assert.throws(
      () => new AcmeIssuer({ directoryUrl: pebble.directoryUrl, store: new CountingStore(), logger: silentLogger, challengePriority: ['dns-01'] }),
      (e: unknown) => isStarlingError(e, 'ERR_ACME_CHALLENGE') && /no DNS-01 solver/.test(e.message),
    );
    assert.throws(() => solver({ secret: 'not base64!' }), (e: unknown) =>
      isStarlingError(e, 'ERR_DNS_CONFIG') && /secret for key starling-acme is not base64/.test(e.message) && !e.message.includes('not base64!'));
    assert.throws(() => solver({ server: 'host:99999' }), (e: unknown) => isStarlingError(e, 'ERR_DNS_CONFIG'));
  });

  it('a wildcard without a DNS-01 solver is still ERR_ACME_WILDCARD', async () => {
    const plain = new AcmeIssuer({ directoryUrl: pebble.directoryUrl, store: new CountingStore(), logger: silentLogger, caBundlePem: pebble.caPem });
    await assert.rejects(plain.issue('*.example.test'), (e: unknown) => isStarlingError(e, 'ERR_ACME_WILDCARD') && /DNS-01/.test(e.message));
  });
});
