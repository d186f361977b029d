/**
 * Renewal through the control plane, end to end: Pebble issues certificates that live 24 s, so
 * the control plane's RenewalManager renews them at 2/3 of the lifetime (±5 %) while the test
 * watches. Agents a and b serve the new certificate from the next handshake on, with no restart,
 * and connections opened before the renewal (HTTP/1.1 keep-alive and an HTTP/2 session) keep
 * being answered on the same socket. Pebble validates HTTP-01 on agent b's plain port.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { heldHttp1, heldHttp2, type HeldConnection } from '../helpers/held-connections.js';
import { closedPort } from '../helpers/origin.js';
import { startPebble, type Pebble } from '../helpers/pebble.js';
import { startPlatform, type Platform } from '../helpers/platform.js';
import { explainedBy, servedCert } from '../helpers/served-cert.js';
import { waitFor } from '../helpers/wait.js';

let pebble: Pebble;
let p: Platform;
let root: string;
const tlsPorts: Record<string, number> = {};
const NAME = 'renew.starling.test';

/** The fingerprint both agents serve for NAME once they agree on one that verifies and is not `not`. */
async function servedByBoth(not?: string): Promise<string> {
  let fingerprint = '';
  await explainedBy(p, { pebble })(
    waitFor(
      async () => {
        const seen = await Promise.all(Object.values(tlsPorts).map((port) => servedCert(port, NAME, root)));
        const first = seen[0]?.fingerprint256;
        const ok = first !== undefined && first !== not && seen.every((s) => s?.authorized && s.fingerprint256 === first);
        if (ok) fingerprint = first;
        return ok;
      },
      not ? `a renewed certificate for ${NAME} at both agents` : `a Pebble-issued certificate for ${NAME} at both agents`,
      60_000,
      100,
    ),
  );
  return fingerprint;
}

before(async () => {
  const bPlain = await closedPort();
  for (const h of ['a', 'b']) tlsPorts[h] = await closedPort();
  pebble = await startPebble({ httpPort: bPlain, tlsPort: await closedPort(), validitySeconds: 24 });
  p = await startPlatform(
    [
      { name: 'a', region: 'fra', tlsPort: tlsPorts.a! },
      { name: 'b', region: 'iad', proxyPort: bPlain, tlsPort: tlsPorts.b! },
    ],
    {
      prefix: 'certs-renewal',
      controlToml: pebble.acmeToml({ challenges: ['http-01'], retryMax: '2s' }),
    },
  );
  root = await pebble.issuingRootPem();
});

after(async () => {
  await p?.stop();
  await pebble?.stop();
});

describe('renewal through the control plane', { timeout: 180_000 }, () => {
  it('swaps the certificate at every agent without a restart, and open HTTP/1.1 and HTTP/2 connections keep being answered', async () => {
    assert.equal((await p.api('POST', '/v1/apps', { name: 'renew', primary_region: 'fra' })).status, 201);
    const first = await servedByBoth();
    const shownFirst = (await p.api('GET', `/v1/apps/renew/certificates/${NAME}`)).body;
    assert.equal(shownFirst.state, 'ready');
    const agentsBefore = [...p.agents.values()];

    // Held open across the renewal: one of each kind at each agent, each answered once before.
    const held: { what: string; c: HeldConnection; status: number }[] = [];
    for (const [host, port] of Object.entries(tlsPorts)) {
      for (const [kind, open] of [['HTTP/1.1', heldHttp1], ['h2', heldHttp2]] as const) {
        const c = await open(port, NAME);
        held.push({ what: `${kind} at ${host}`, c, status: await c.get('/before') });
      }
    }
    // The connections were opened on the first certificate (else the test shows nothing).
    for (const h of held) assert.equal(h.c.fingerprint256, first, `${h.what}: opened on the first certificate`);

    const renewed = await servedByBoth(first);
    assert.notEqual(renewed, first);
    assert.ok([...p.agents.values()].every((a, i) => a === agentsBefore[i]), 'the same agents, never restarted');

    for (const h of held) {
      assert.ok(h.c.open(), `${h.what}: still open after the renewal`);
      assert.equal(h.c.fingerprint256, first, `${h.what}: the same connection, on the certificate it started with`);
      const status = await h.c.get('/after');
      assert.ok(status >= 200 && status < 600, `${h.what}: answered (${status})`);
      assert.equal(status, h.status, `${h.what}: answered as before the renewal`);
    }

    const shown = (await p.api('GET', `/v1/apps/renew/certificates/${NAME}`)).body;
    assert.equal(shown.state, 'ready', JSON.stringify(shown));
    assert.ok(Date.parse(shown.certificate.not_after) > Date.parse(shownFirst.certificate.not_after), `not_after moved on: ${shownFirst.certificate.not_after} → ${shown.certificate.not_after}`);
    assert.notEqual(shown.certificate.fingerprint256, shownFirst.certificate.fingerprint256);
    assert.equal(shown.renewal.failures, 0);
    for (const h of held) h.c.close();
  });
});
