/**
 * Imported certificates through the control plane's API, end to end, on a platform with no ACME CA
 * and `[certificates] apps = "wildcard"`: refusals (400, the reason, no key material, nothing
 * claimed) for a key that does not match, an expired certificate, a broken chain and a name not
 * covered; then a good `*.starling.test` imported by the operator is served by both agents for a
 * new app's `<app>.starling.test`, and its key is nowhere in clear: not in the state file, the
 * agents' caches, the logs, nor the control plane's argv.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { selfSigned, type KeyPairPem } from '../../src/certs/index.js';
import { closedPort } from '../helpers/origin.js';
import { startPlatform, type Platform } from '../helpers/platform.js';
import { servedCert } from '../helpers/served-cert.js';
import { waitFor } from '../helpers/wait.js';

let p: Platform;
let ca: KeyPairPem;
let otherCa: KeyPairPem;
const tlsPorts: Record<string, number> = {};
const DAY = 86_400_000;

/** The base64 lines of a PEM key: none of them may appear anywhere they should not. */
const keyLines = (pem: string): string[] => pem.split('\n').filter((l) => l.length >= 20 && !l.startsWith('-----'));
function assertNoKey(text: string, keys: readonly string[], where: string): void {
  assert.doesNotMatch(text, /PRIVATE KEY/, `${where}: no PEM private key`);
  for (const k of keys) for (const line of keyLines(k)) assert.ok(!text.includes(line), `${where}: no line of a private key`);
}

const leaf = (names: string[], o: { issuer?: KeyPairPem; notBefore?: Date; notAfter?: Date } = {}): Promise<KeyPairPem> => selfSigned({ names, issuer: o.issuer ?? ca, ...o });

before(async () => {
  for (const h of ['a', 'b']) tlsPorts[h] = await closedPort();
  ca = await selfSigned({ names: [], ca: true, commonName: 'Starling import test CA' });
  otherCa = await selfSigned({ names: [], ca: true, commonName: 'Some other CA' });
  p = await startPlatform(
    [
      { name: 'a', region: 'fra', tlsPort: tlsPorts.a! },
      { name: 'b', region: 'iad', tlsPort: tlsPorts.b! },
    ],
    { prefix: 'certs-import', controlToml: `[certificates]\napps = "wildcard"\n` },
  );
  assert.equal((await p.api('POST', '/v1/apps', { name: 'shop', primary_region: 'fra' })).status, 201);
});

after(async () => {
  await p?.stop();
});

describe('imported certificates', { timeout: 120_000 }, () => {
  const offered: string[] = [];

  /** The four refusals, for `names` (the name imported for). */
  async function refusals(name: string): Promise<[string, { cert_pem: string; key_pem: string }, RegExp][]> {
    const good = await leaf([name]);
    const stranger = await leaf([name]);
    const expired = await leaf([name], { notBefore: new Date(Date.now() - 10 * DAY), notAfter: new Date(Date.now() - DAY) });
    const fromOther = await leaf([name], { issuer: otherCa });
    const elsewhere = await leaf(['www.elsewhere.test', '*.elsewhere.test']);
    offered.push(good.keyPem, stranger.keyPem, expired.keyPem, fromOther.keyPem, elsewhere.keyPem);
    return [
      ['ERR_CERT_KEY_MISMATCH', { cert_pem: good.certPem + ca.certPem, key_pem: stranger.keyPem }, /private key does not belong to the certificate/],
      ['ERR_CERT_EXPIRED', { cert_pem: expired.certPem + ca.certPem, key_pem: expired.keyPem }, /expired on \d{4}-/],
      ['ERR_CERT_CHAIN', { cert_pem: fromOther.certPem + ca.certPem, key_pem: fromOther.keyPem }, /certificate 1 of the chain .* is not signed by certificate 2 .*Starling import test CA/],
      ['ERR_CERT_HOSTNAME_MISMATCH', { cert_pem: elsewhere.certPem + ca.certPem, key_pem: elsewhere.keyPem }, new RegExp(`covers www\\.elsewhere\\.test, \\*\\.elsewhere\\.test, not ${name.replace(/[.*]/g, '\\$&')}`)],
    ];
  }

  it('an app importing a bad certificate for a custom domain gets 400 with the reason, and the name is not attached', async () => {
    for (const [code, body, reason] of await refusals('www.shop.test')) {
      const r = await p.api('POST', '/v1/apps/shop/certificates', { hostname: 'www.shop.test', ...body });
      assert.equal(r.status, 400, `${code}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, code);
      assert.match(r.body.error.message, reason, code);
      assertNoKey(JSON.stringify(r.body), [body.key_pem], code);
      // Nothing claimed: the name is not the app's, another app may still take it.
      assert.equal((await p.api('GET', '/v1/apps/shop/certificates/www.shop.test')).status, 404, code);
    }
    const list = (await p.api('GET', '/v1/apps/shop/certificates')).body.certificates as { hostname: string }[];
    assert.deepEqual(list.map((c) => c.hostname), ['shop.starling.test']);
    assert.deepEqual((await p.api('GET', '/v1/certificates')).body.certificates, []);
  });

  it('the operator importing a bad *.starling.test gets 400 with the reason, and nothing is stored', async () => {
    for (const [code, body, reason] of await refusals('*.starling.test')) {
      const r = await p.api('PUT', '/v1/certificates/_wildcard_.starling.test', body);
      assert.equal(r.status, 400, `${code}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, code);
      assert.match(r.body.error.message, reason, code);
      assertNoKey(JSON.stringify(r.body), [body.key_pem], code);
    }
    assert.deepEqual((await p.api('GET', '/v1/certificates')).body.certificates, []);
    const shop = (await p.api('GET', '/v1/apps/shop/certificates/shop.starling.test')).body;
    assert.equal(shop.state, 'awaiting_import', JSON.stringify(shop));
  });

  it('a good *.starling.test is served by both agents for the app, and its key is nowhere in clear', async () => {
    const wild = await leaf(['*.starling.test']);
    const r = await p.api('PUT', '/v1/certificates/_wildcard_.starling.test', { cert_pem: wild.certPem + ca.certPem, key_pem: wild.keyPem });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.hostname, '*.starling.test');
    assert.equal(r.body.source, 'custom');
    assertNoKey(JSON.stringify(r.body), [wild.keyPem], 'the answer');
    await waitFor(
      async () => (await Promise.all(Object.values(tlsPorts).map((port) => servedCert(port, 'shop.starling.test', ca.certPem)))).every((s) => s?.authorized && s.fingerprint256 === r.body.fingerprint256),
      'the imported wildcard served for shop.starling.test at both agents',
      30_000,
      100,
    );
    const shop = (await p.api('GET', '/v1/apps/shop/certificates/shop.starling.test')).body;
    assert.equal(shop.state, 'ready', JSON.stringify(shop));
    assert.equal(shop.certificate.filed_under, '*.starling.test');

    const keys = [wild.keyPem, ...offered];
    const stateDir = join(p.dir, 'control');
    for (const f of readdirSync(stateDir).filter((n) => n.startsWith('state.db'))) {
      assertNoKey(readFileSync(join(stateDir, f)).toString('latin1'), keys, `control/${f}`);
    }
    for (const [name, a] of p.agents) {
      const cache = readFileSync(a.config.control!.cache_file, 'utf8');
      assert.match(cache, /\*\.starling\.test/, `agent ${name}'s cache holds the certificate`);
      assertNoKey(cache, keys, `agent ${name}'s cache`);
    }
    assertNoKey(p.controlStderr(), keys, "the control plane's log");
    assertNoKey(p.lines.join(''), keys, "the agents' log");
    const argv = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(join(p.dir, 'control.toml')));
    assert.equal(argv.length, 1, `the control plane's command line: ${argv.join(' | ')}`);
    assertNoKey(argv.join('\n'), keys, "the control plane's argv");
  });
});
