/**
 * HTTPS as a property of the platform, end to end: a real control plane (child process) with its
 * ACME client talking to Pebble, three agents with HTTPS ports serving what the feed brings them.
 * Pebble resolves every name to 127.0.0.1 and validates HTTP-01 on agent b's plain port only, so
 * every certificate issued here was answered by agent b, while the control plane placed the order.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { startAgent } from '../../src/agent/index.js';
import { silentLogger } from '../../src/shared/index.js';
import { closedPort } from '../helpers/origin.js';
import { startPebble, type Pebble } from '../helpers/pebble.js';
import { startPlatform, type Platform } from '../helpers/platform.js';
import { explainedBy, servedCert } from '../helpers/served-cert.js';
import { waitFor } from '../helpers/wait.js';

let pebble: Pebble;
let p: Platform;
let root: string;
const tlsPorts: Record<string, number> = {};

async function servedEverywhere(name: string): Promise<string> {
  let fingerprint = '';
  await explained(waitFor(
    async () => {
      const seen = await Promise.all(Object.values(tlsPorts).map((port) => servedCert(port, name, root)));
      const ok = seen.every((s) => s?.authorized && s.fingerprint256 === seen[0]?.fingerprint256);
      if (ok) fingerprint = seen[0]!.fingerprint256;
      return ok;
    },
    `a Pebble-issued certificate for ${name} at all three agents`,
    60_000,
    100,
  ));
  return fingerprint;
}

/** The protocol a TLS port picks for a client offering h2 and http/1.1. */
function alpnOf(port: number, servername: string): Promise<string | false> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername, ca: [root], ALPNProtocols: ['h2', 'http/1.1'] }, () => {
      resolve(s.alpnProtocol ?? false);
      s.destroy();
    });
    s.once('error', reject);
  });
}

/** A failed wait says what the control plane, the agents and the daemons logged. */
const explained = <T>(wait: Promise<T>): Promise<T> => explainedBy(p, { pebble })(wait);

before(async () => {
  const bPlain = await closedPort();
  for (const h of ['a', 'b', 'c']) tlsPorts[h] = await closedPort();
  pebble = await startPebble({ httpPort: bPlain, tlsPort: tlsPorts.c! });
  p = await startPlatform(
    [
      { name: 'a', region: 'fra', tlsPort: tlsPorts.a! },
      { name: 'b', region: 'fra', proxyPort: bPlain, tlsPort: tlsPorts.b! },
      { name: 'c', region: 'iad', tlsPort: tlsPorts.c! },
    ],
    {
      prefix: 'certs',
      controlToml:
        `anycast_addresses = ["198.51.100.7", "2001:db8::7"]\n` +
        pebble.acmeToml({ challenges: ['http-01'], retryMax: '4s' }),
    },
  );
  root = await pebble.issuingRootPem();
});

after(async () => {
  await p?.stop();
  await pebble?.stop();
});

describe('certificates through the control plane', { timeout: 300_000 }, () => {
  it("a new app's <app>.<apps_domain> is served over HTTPS at every PoP with no operator action", async () => {
    assert.equal((await p.api('POST', '/v1/apps', { name: 'web', primary_region: 'fra' })).status, 201);
    await servedEverywhere('web.starling.test');
    // HTTP/2 by ALPN on every PoP's TLS port.
    for (const port of Object.values(tlsPorts)) assert.equal(await alpnOf(port, 'web.starling.test'), 'h2');
    const list = (await p.api('GET', '/v1/apps/web/certificates')).body as { certificates: { hostname: string; state: string; certificate: { challenge: string } | null }[] };
    assert.equal(list.certificates[0]?.hostname, 'web.starling.test');
    assert.equal(list.certificates[0]?.state, 'ready');
    assert.equal(list.certificates[0]?.certificate?.challenge, 'http-01');
    // The operator can alert on expiry.
    const token = readFileSync(join(p.dir, 'control', 'api.token'), 'utf8').trim();
    const metrics = await (await p.fetch(`${p.controlUrl}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
    assert.match(metrics, /starling_control_certificate_expiry_timestamp_seconds\{hostname="web\.starling\.test",source="acme"\} \d{10}/);
    assert.match(metrics, /starling_control_certificate_order_failures\{hostname="web\.starling\.test"\} 0/);
  });

  it('a custom domain is issued by Pebble through the control plane and served by all three agents', async () => {
    const added = await p.api('POST', '/v1/apps/web/certificates', { hostname: 'WWW.Example.TEST.' });
    assert.equal(added.status, 201, JSON.stringify(added.body));
    assert.equal(added.body.hostname, 'www.example.test');
    await servedEverywhere('www.example.test');
    const shown = (await p.api('GET', '/v1/apps/web/certificates/www.example.test')).body;
    assert.equal(shown.state, 'ready');
    assert.match(shown.certificate.issuer, /Pebble/);
    assert.deepEqual(shown.dns_records, [
      { type: 'A', name: 'www.example.test', value: '198.51.100.7' },
      { type: 'AAAA', name: 'www.example.test', value: '2001:db8::7' },
    ]);
    // Never a key in an answer.
    assert.doesNotMatch(JSON.stringify(shown) + JSON.stringify((await p.api('GET', '/v1/certificates')).body), /PRIVATE KEY|key_sealed|key_pem/);
  });

  it('a hostname belongs to one app: a second app claiming it gets 409', async () => {
    assert.equal((await p.api('POST', '/v1/apps', { name: 'other', primary_region: 'iad' })).status, 201);
    const r = await p.api('POST', '/v1/apps/other/certificates', { hostname: 'www.example.test' });
    assert.equal(r.status, 409);
    assert.equal(r.body.error.code, 'ERR_HOSTNAME_TAKEN');
    // The same app asking again is no conflict.
    assert.equal((await p.api('POST', '/v1/apps/web/certificates', { hostname: 'www.example.test' })).status, 200);
  });

  it('refuses names that are not DNS names, IP literals and deep wildcards with 400 and the reason', async () => {
    for (const [hostname, reason] of [
      ['192.0.2.1', /IP address/],
      ['[2001:db8::1]', /IP address/],
      ['*.*.example.test', /wildcard/],
      ['a.*.example.test', /wildcard/],
      ['under_score.example.test', /not a DNS name/],
      ['localhost', /one label/],
      ['x.starling.test', /apps_domain/],
    ] as const) {
      const r = await p.api('POST', '/v1/apps/web/certificates', { hostname });
      assert.equal(r.status, 400, hostname);
      assert.equal(r.body.error.code, 'ERR_HOSTNAME_INVALID', hostname);
      assert.match(r.body.error.message, reason, hostname);
    }
  });

  it('the certs CLI adds, lists, shows, checks and removes an app\'s custom domain', async () => {
    const add = await p.cli(['certs', 'add', 'api.example.test', '--app', 'web']);
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, /api\.example\.test is attached to app web/);
    assert.match(add.stdout, /A\s+api\.example\.test\s+198\.51\.100\.7/);
    const check = await p.cli(['certs', 'check', 'api.example.test', '--app', 'web', '--wait', '60']);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    assert.match(check.stdout, /State:\s+ready/);
    assert.match(check.stdout, /Challenge:\s+http-01/);
    const list = await p.cli(['certs', 'list', '--app', 'web', '--json']);
    const views = JSON.parse(list.stdout) as { hostname: string; state: string }[];
    assert.deepEqual(views.map((v) => v.hostname), ['web.starling.test', 'api.example.test', 'www.example.test']);
    const show = await p.cli(['certs', 'show', 'api.example.test', '--app', 'web']);
    assert.match(show.stdout, /Issuer:\s+.*Pebble/);
    assert.doesNotMatch(add.stdout + check.stdout + list.stdout + show.stdout, /PRIVATE KEY/);
    // Another app's claim is the API's 409, explained.
    const taken = await p.cli(['certs', 'add', 'api.example.test', '--app', 'other']);
    assert.equal(taken.code, 2, taken.stderr);
    assert.match(taken.stderr, /already belongs to another app/);
    const rm = await p.cli(['certs', 'remove', 'api.example.test', '--app', 'web']);
    assert.equal(rm.code, 0, rm.stderr);
    const gone = await p.cli(['certs', 'show', 'api.example.test', '--app', 'web']);
    assert.equal(gone.code, 2);
    assert.match(gone.stderr, /app web has no hostname/);
  });

  it('with the control plane down, agents keep serving TLS, and a restarted agent serves from its sealed cache', async () => {
    const before = await servedEverywhere('www.example.test');
    await p.stopControl();
    const a = p.agents.get('a')!;
    // The cache holds the key only sealed with the host's cache key.
    const cache = readFileSync(a.config.control!.cache_file, 'utf8');
    assert.match(cache, /www\.example\.test/);
    assert.doesNotMatch(cache, /PRIVATE KEY/);
    await a.stop();
    // The same host, started again with no control plane to ask (proxy only: its machines are not the point).
    const again = await startAgent({ ...a.config, runtime: { ...a.config.runtime, driver: 'none' } }, { logger: silentLogger, controlPollTimeoutS: 5 });
    p.agents.set('a', again);
    assert.equal(await servedEverywhere('www.example.test'), before);
    await p.startControl();
  });

  it('a removed custom domain is no longer served anywhere', async () => {
    assert.equal((await p.api('DELETE', '/v1/apps/web/certificates/www.example.test')).status, 200);
    await waitFor(async () => (await Promise.all(Object.values(tlsPorts).map((port) => servedCert(port, 'www.example.test', root)))).every((s) => s === null), 'www.example.test to be refused everywhere', 30_000, 100);
    assert.equal((await p.api('GET', '/v1/apps/web/certificates/www.example.test')).status, 404);
  });
});
