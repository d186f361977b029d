/**
 * Two proxies as two hosts: A routes an app whose machine lives behind B to B's proxy (a `peer`
 * machine). The request arrives at the machine with the client's edge facts, never with the
 * platform's key; B does not redirect a peer's request for a force_https app but does redirect a
 * client pretending to be a peer; B serves from its own machines only, preferring the one A chose;
 * with none left it asks A to replay elsewhere, and never sends the request back. A request A
 * replayed reaches B's machine with A's Fly-Replay-Src; a client's own one never does. A host on
 * the mesh (publicPeers off) takes the key on its peer listener only.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startOrigin, send, type Origin } from '../helpers/origin.js';
import { parseRoutesSpec } from '../../src/proxy/index.js';
import { machine, startProxy, type TestProxy } from '../helpers/proxy.js';

const KEY = 'a'.repeat(64);
let origin: Origin;
/** B's routes: its own machine m1 (healthy or not) and A's m2, reached through A. */
const bRoutes = (m1Healthy: boolean) =>
  parseRoutesSpec(app([machine('m1', 'ams', origin.port, { healthy: m1Healthy }), machine('m2', 'fra', a.port, { peer: true })], { force_https: true }), 'B');
let a: TestProxy;
let b: TestProxy;

const app = (machines: unknown[], extra: Record<string, unknown> = {}) => ({ apps: [{ name: 'web', hostnames: ['web.test'], machines, ...extra }] });

before(async () => {
  origin = await startOrigin('m1');
  b = await startProxy(app([machine('m1', 'ams', origin.port)], { force_https: true }), { region: 'ams', limits: { peerKey: KEY } });
  a = await startProxy(app([machine('m1', 'ams', b.port, { peer: true })]), { region: 'fra', limits: { peerKey: KEY } });
  // B also knows a machine on A, as agents' views do: it must never send A's request back there.
  b.proxy.setRoutes(bRoutes(true));
});

after(async () => {
  a.close();
  b.close();
  await origin.close();
});

describe('requests between proxies', () => {
  it("reaches the machine behind the other host's proxy with the client's edge facts, and without the key", async () => {
    const res = await send(a.port, 'web.test', { headers: { 'x-forwarded-for': '203.0.113.9', 'fly-force-instance-id': 'm1' } });
    assert.equal(res.status, 200, res.body);
    const seen = origin.seen.at(-1)!;
    assert.equal(seen.headers['starling-peer'], undefined, 'the key reached the machine');
    assert.equal(seen.headers['starling-region'], 'fra', 'the edge region is where the client came in');
    assert.equal(seen.headers['x-forwarded-for'], '203.0.113.9, 127.0.0.1', 'the client once, as the first proxy saw it');
    assert.equal(seen.headers['x-forwarded-proto'], 'http');
    assert.equal(seen.headers['fly-force-instance-id'], 'm1', "the client's own force header travels");
    assert.equal(String(seen.headers.via).match(/starling/g)?.length, 2);
  });

  it('a client cannot pass for a peer: without the key, force_https redirects', async () => {
    const direct = await send(b.port, 'web.test', { headers: { 'starling-peer': 'b'.repeat(64) } });
    assert.equal(direct.status, 301);
    const before = origin.seen.length;
    assert.equal((await send(a.port, 'web.test')).status, 200, 'through A (the peer) it is served');
    assert.equal(origin.seen.length, before + 1);
  });

  it('marks the machine it chose as preferred; the peer serves another of its own if that one just went', async () => {
    const other = await startOrigin('m3');
    try {
      b.proxy.setRoutes(parseRoutesSpec(app([machine('m1', 'ams', origin.port, { healthy: false }), machine('m3', 'ams', other.port), machine('m2', 'fra', a.port, { peer: true })], { force_https: true }), 'B'));
      const res = await send(a.port, 'web.test');
      assert.equal(res.status, 200, res.body);
      assert.equal(JSON.parse(res.body).machine, 'm3');
      assert.equal(other.seen.at(-1)!.headers['starling-prefer-instance-id'], 'm1');
    } finally {
      await other.close();
    }
  });

  it("a peer that has no machine left asks for a replay elsewhere, and the first proxy serves from another machine", async () => {
    b.proxy.setRoutes(bRoutes(false));
    const local = await startOrigin('m4');
    const a2 = await startProxy(app([machine('m1', 'fra', b.port, { peer: true }), machine('m4', 'ams', local.port)]), { region: 'fra', limits: { peerKey: KEY } });
    try {
      const res = await send(a2.port, 'web.test');
      assert.equal(res.status, 200, res.body);
      assert.equal(JSON.parse(res.body).machine, 'm4');
    } finally {
      a2.close();
      await local.close();
    }
  });

  it("ends at the peer when it has no machine of its own to serve, instead of bouncing back", async () => {
    b.proxy.setRoutes(bRoutes(false));
    const before = origin.seen.length;
    const accessBefore = a.access.length;
    const res = await send(a.port, 'web.test');
    assert.ok(res.status >= 500, `status ${res.status}`);
    assert.equal(origin.seen.length, before);
    assert.equal(a.access.length - accessBefore, 1, 'A saw the request once: B did not send it back');
  });

  it("a request replayed at the edge reaches the other host's machine with its replay source; a client's own is dropped", async () => {
    b.proxy.setRoutes(bRoutes(true));
    const replaying = await startOrigin('r1', (_req, res) => {
      res.setHeader('fly-replay', 'region=ams');
      res.end('replay this');
    });
    const a3 = await startProxy(app([machine('r1', 'fra', replaying.port), machine('m1', 'ams', b.port, { peer: true })]), { region: 'fra', limits: { peerKey: KEY } });
    try {
      const res = await send(a3.port, 'web.test', { headers: { 'fly-replay-src': 'instance=forged;region=iad;t=1' } });
      assert.equal(res.status, 200, res.body);
      assert.equal(JSON.parse(res.body).machine, 'm1');
      const seen = origin.seen.at(-1)!;
      assert.match(String(seen.headers['fly-replay-src']), /^instance=r1;region=fra;t=\d+$/, 'the replay source, across hosts');
      assert.equal(seen.headers['starling-replay-src'], seen.headers['fly-replay-src']);
      const direct = await send(b.port, 'web.test', { headers: { 'x-forwarded-proto': 'https', 'fly-replay-src': 'instance=forged;region=iad;t=1' } });
      assert.equal(direct.status, 301, 'B redirects a client to https');
      assert.equal((await send(a.port, 'web.test', { headers: { 'starling-replay-src': 'instance=forged;region=iad;t=1' } })).status, 200);
      assert.equal(origin.seen.at(-1)!.headers['starling-replay-src'], undefined, "a client's replay source never passes, even through a peer");
    } finally {
      a3.close();
      await replaying.close();
    }
  });

  it('on the mesh, the key opens the peer listener only: on the public port a request carrying it is a client\'s', async () => {
    const c = await startProxy(app([machine('m1', 'ams', origin.port)], { force_https: true }), { region: 'ams', limits: { peerKey: KEY, publicPeers: false } });
    const peers = await c.proxy.listenPeers('127.0.0.1', 0);
    try {
      const asPeer = { 'starling-peer': KEY, 'starling-client-ip': '198.51.100.7', 'x-forwarded-for': '198.51.100.7' };
      assert.equal((await send(c.port, 'web.test', { headers: asPeer })).status, 301, 'the public port redirects it to https: not a peer');
      const res = await send(peers.address.port, 'web.test', { headers: asPeer });
      assert.equal(res.status, 200, res.body);
      const seen = origin.seen.at(-1)!;
      assert.equal(seen.headers['x-forwarded-for'], '198.51.100.7', "the peer's edge facts are taken");
      assert.equal(seen.headers['starling-peer'], undefined);
      assert.equal((await send(peers.address.port, 'web.test')).status, 301, 'without the key the peer listener is a public one too');
      peers.close();
      await assert.rejects(send(peers.address.port, 'web.test'), 'closed');
    } finally {
      c.close();
    }
  });
});
