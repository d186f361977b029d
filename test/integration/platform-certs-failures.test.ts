/**
 * When the CA refuses or is gone, end to end: a real control plane ordering from Pebble by
 * TLS-ALPN-01 only, three agents with HTTPS ports. Pebble resolves names through a bind9 holding
 * starling.test, where `keep` points at 127.0.0.1 (Pebble validates on agent c's TLS port: agent c
 * answers challenges the control plane asked for, from its feed) and `closed` at 127.0.0.2, where
 * nothing listens (Pebble's validation is refused: a real CA error). Last, Pebble is killed: a new
 * app's order fails (after acme-client's own retries of network errors, 5 + 10 + … + 25 s) while
 * every agent keeps serving the certificate it already has.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startBind9, type Bind9 } from '../helpers/bind9.js';
import { closedPort } from '../helpers/origin.js';
import { startPebble, type Pebble } from '../helpers/pebble.js';
import { startPlatform, type Platform } from '../helpers/platform.js';
import { explainedBy, servedCert, type Served } from '../helpers/served-cert.js';
import { waitFor } from '../helpers/wait.js';

let bind: Bind9;
let pebble: Pebble;
let p: Platform;
let root: string;
const tlsPorts: Record<string, number> = {};
/* eslint-disable @typescript-eslint/no-explicit-any */
const view = async (app: string): Promise<any> => (await p.api('GET', `/v1/apps/${app}/certificates/${app}.starling.test`)).body;
/* eslint-enable @typescript-eslint/no-explicit-any */
const servedAll = (name: string): Promise<(Served | null)[]> => Promise.all(Object.values(tlsPorts).map((port) => servedCert(port, name, root)));

/** A failed wait says what the control plane, the agents and the daemons logged. */
const explained = <T>(wait: Promise<T>): Promise<T> => explainedBy(p, { pebble })(wait);

before(async () => {
  for (const h of ['a', 'b', 'c']) tlsPorts[h] = await closedPort();
  bind = await startBind9({ zone: 'starling.test', records: ['keep IN A 127.0.0.1', 'closed IN A 127.0.0.2'] });
  pebble = await startPebble({ httpPort: await closedPort(), tlsPort: tlsPorts.c!, dnsServer: bind.server });
  p = await startPlatform(
    [
      { name: 'a', region: 'fra', tlsPort: tlsPorts.a! },
      { name: 'b', region: 'fra', tlsPort: tlsPorts.b! },
      { name: 'c', region: 'iad', tlsPort: tlsPorts.c! },
    ],
    {
      prefix: 'certs-failures',
      controlToml: pebble.acmeToml({ challenges: ['tls-alpn-01'], retryMax: '60s' }),
    },
  );
  root = await pebble.issuingRootPem();
});

after(async () => {
  await p?.stop();
  await pebble?.stop();
  await bind?.stop();
});

describe('certificates when the CA refuses or is gone', { timeout: 240_000 }, () => {
  it('TLS-ALPN-01: the order the control plane placed is answered by agent c from its feed, and served everywhere', async () => {
    assert.equal((await p.api('POST', '/v1/apps', { name: 'keep', primary_region: 'fra' })).status, 201);
    await explained(waitFor(async () => (await servedAll('keep.starling.test')).every((s) => s?.authorized), 'keep.starling.test served by all three agents', 60_000, 100));
    const v = await view('keep');
    assert.equal(v.state, 'ready', JSON.stringify(v));
    assert.equal(v.certificate.challenge, 'tls-alpn-01');
    assert.match(v.certificate.issuer, /Pebble/);
  });

  it('a refused validation: the order fails, is retried with backoff, and the view says why in one line', async () => {
    assert.equal((await p.api('POST', '/v1/apps', { name: 'closed', primary_region: 'fra' })).status, 201);
    await explained(waitFor(async () => ((await view('closed')).renewal?.failures ?? 0) >= 2, 'two failed orders for closed.starling.test', 60_000, 100));
    const v = await view('closed');
    assert.equal(v.state, 'failing', JSON.stringify(v));
    assert.equal(v.certificate, null);
    assert.equal(typeof v.reason, 'string');
    assert.doesNotMatch(v.reason, /\n/, 'one line');
    // The CA's own words: Pebble could not connect to 127.0.0.2 for the TLS-ALPN-01 validation.
    assert.match(v.reason, /127\.0\.0\.2|connection refused|urn:ietf:params:acme:error:(connection|tls)/i, v.reason);
    assert.equal(v.renewal.last_error, v.reason);
    // Backoff: the next attempt is later than the base delay after this failure.
    assert.ok(Date.parse(v.renewal.next_attempt_at) > Date.now(), `next attempt in the future: ${v.renewal.next_attempt_at}`);
    assert.ok((await servedAll('closed.starling.test')).every((s) => s === null || !s.authorized), 'nothing valid is served for it');
  });

  it('check retries at once, not after the backoff, and answers the new state', async () => {
    // After four failures the next retry is 8 s away: a check must not wait for it.
    await explained(waitFor(async () => ((await view('closed')).renewal?.failures ?? 0) >= 4, 'four failed orders for closed.starling.test', 60_000, 100));
    const before = await view('closed');
    assert.equal(before.renewal.state, 'failing');
    const asked = Date.now();
    const r = await p.api('POST', '/v1/apps/closed/certificates/closed.starling.test/check?wait=30', undefined);
    const answered = Date.now();
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.state, 'failing');
    assert.ok(r.body.renewal.failures > before.renewal.failures, `one more attempt (${before.renewal.failures} → ${r.body.renewal.failures})`);
    assert.ok(answered < Date.parse(before.renewal.next_attempt_at) || r.body.renewal.failures === before.renewal.failures + 1, 'answered before the backed-off retry was due');
    assert.ok(answered - asked < 10_000, `answered in ${answered - asked} ms`);
    assert.match(r.body.reason, /127\.0\.0\.2|connection refused|urn:ietf:params:acme:error/i);
  });

  it('with the CA stopped, orders fail and every agent keeps serving the certificate it has', { timeout: 150_000 }, async () => {
    const served = await servedAll('keep.starling.test');
    const fingerprint = served[0]?.fingerprint256;
    assert.ok(fingerprint && served.every((s) => s?.authorized && s.fingerprint256 === fingerprint), 'one valid certificate everywhere');
    await pebble.stop();
    assert.equal((await p.api('POST', '/v1/apps', { name: 'later', primary_region: 'fra' })).status, 201);
    // acme-client retries a refused connection five times (5 + 10 + 15 + 20 + 25 s) before the order fails.
    await explained(waitFor(async () => (await view('later')).state === 'failing', 'the order for later.starling.test to fail with Pebble gone', 120_000, 200));
    const v = await view('later');
    // The reason names the step, the CA and that it could not be reached.
    assert.equal(v.reason, `ERR_ACME_ORDER: later.starling.test: placing the order failed at ${pebble.directoryUrl}: the CA could not be reached (no answer after acme-client's retries of network errors)`);
    assert.doesNotMatch(v.reason, /\n/);
    const still = await servedAll('keep.starling.test');
    assert.ok(still.every((s) => s?.authorized && s.fingerprint256 === fingerprint), 'every agent still serves the certificate it had');
    assert.equal((await view('keep')).state, 'ready');
  });
});
