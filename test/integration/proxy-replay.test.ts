import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { send, type SeenRequest } from '../helpers/origin.js';
import { machine, metric, oneApp, origin, proxyFor } from '../helpers/routing.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Tier 2/3: the replay header over real sockets. A "replaying" origin answers with a replay header
 * (and a body and header of its own that the client must never see); the target records what it got.
 */
const SRC = /^instance=([^;]+);region=([a-z]{3});t=(\d+)(?:;state=(.*))?$/;

function replaying(t: TestContext, name: string, directive: string | ((r: SeenRequest) => string | undefined), header = 'fly-replay') {
  return origin(t, name, (req, res) => {
    const d = typeof directive === 'string' ? directive : directive(req);
    if (d === undefined) return void res.end(`served by ${name}`);
    res.setHeader(header, d);
    res.setHeader('x-replayed-by', name);
    res.end(`replay answer of ${name}`);
  });
}

const replays = (text: string) => metric(text, 'starling_proxy_replays_total{app="web"}');
const failures = (text: string, reason: string) =>
  metric(text, `starling_proxy_replay_failures_total{app="web",reason="${reason}"}`);

describe('proxy replay', { timeout: 60_000 }, () => {
  it('fly-replay: region=iad sends the same request to iad with fly-replay-src; the client sees only iad', async (t) => {
    const fra = await replaying(t, 'web-fra', 'region=iad');
    const iad = await origin(t, 'web-iad');
    const p = await proxyFor(t, oneApp([machine('web-fra', 'fra', fra.port), machine('web-iad', 'iad', iad.port)]));
    const before = Date.now() * 1000;
    const body = JSON.stringify({ order: 42 });
    const r = await send(p.port, 'web.test', {
      method: 'POST',
      path: '/orders?x=1',
      headers: { 'content-type': 'application/json', 'x-custom': 'abc' },
      body,
    });
    const after = Date.now() * 1000;
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-machine'], 'web-iad');
    assert.equal(r.headers['x-replayed-by'], undefined, 'the replaying response is not seen by the client');
    assert.equal(r.headers['fly-replay'], undefined);
    assert.deepEqual(JSON.parse(r.body), { machine: 'web-iad', method: 'POST', url: '/orders?x=1', bytes: body.length });

    assert.equal(fra.seen.length, 1);
    assert.equal(fra.seen[0]!.headers['fly-replay-src'], undefined);
    const got = iad.seen[0]!;
    assert.equal(got.method, 'POST');
    assert.equal(got.url, '/orders?x=1');
    assert.equal(got.body.toString(), body);
    assert.equal(got.headers['content-type'], 'application/json');
    assert.equal(got.headers['x-custom'], 'abc');
    assert.equal(got.headers['starling-region'], 'fra', 'still the edge region');
    assert.equal(got.headers['starling-request-id'], fra.seen[0]!.headers['starling-request-id']);
    const src = String(got.headers['fly-replay-src']);
    assert.equal(got.headers['starling-replay-src'], src);
    const m = SRC.exec(src);
    assert.ok(m, `fly-replay-src: ${src}`);
    assert.equal(m[1], 'web-fra');
    assert.equal(m[2], 'fra');
    assert.ok(Number(m[3]) >= before - 1000 && Number(m[3]) <= after + 1000, `t in µs: ${m[3]}`);
    assert.equal(m[4], undefined);

    assert.equal(replays(p.proxy.metricsText()), 1);
    await waitFor(() => p.access.length === 1, 'the access log entry');
    assert.equal(p.access[0]!.replays, 1);
    assert.equal(p.access[0]!.machine, 'web-iad');
    assert.equal(p.access[0]!.status, 200);
  });

  it('starling-replay with state=: state is echoed; a 100 KB POST body arrives intact', async (t) => {
    const fra = await replaying(t, 'web-fra', 'region=iad;state=abc-123', 'starling-replay');
    const iad = await origin(t, 'web-iad');
    const p = await proxyFor(t, oneApp([machine('web-fra', 'fra', fra.port), machine('web-iad', 'iad', iad.port)]));
    const body = randomBytes(100 * 1024);
    const r = await send(p.port, 'web.test', { method: 'POST', path: '/upload', body });
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-machine'], 'web-iad');
    assert.ok(fra.seen[0]!.body.equals(body));
    assert.ok(iad.seen[0]!.body.equals(body), 'the replayed body is byte-for-byte the original');
    const src = String(iad.seen[0]!.headers['starling-replay-src']);
    assert.equal(SRC.exec(src)?.[4], 'abc-123', src);
    assert.equal(iad.seen[0]!.headers['fly-replay-src'], src);
  });

  it('instance=ID targets that one machine', async (t) => {
    const fra = await replaying(t, 'web-fra', 'instance=web-iad-2');
    const iad1 = await origin(t, 'web-iad-1');
    const iad2 = await origin(t, 'web-iad-2');
    const p = await proxyFor(
      t,
      oneApp([machine('web-fra', 'fra', fra.port), machine('web-iad-1', 'iad', iad1.port), machine('web-iad-2', 'iad', iad2.port)]),
    );
    for (let i = 0; i < 4; i++) assert.equal((await send(p.port, 'web.test')).headers['x-machine'], 'web-iad-2');
    assert.equal(iad1.seen.length, 0);
    assert.equal(fra.seen.length, 4);
  });

  it('elsewhere=true leaves the responding machine out of the next choice', async (t) => {
    // random() = 0 makes the tie-break always pick the same machine of two equally loaded ones,
    // so without elsewhere=true the replay would land on the responder again.
    const directive = { value: 'elsewhere=true' };
    const onFirstVisit = (r: SeenRequest) => (r.headers['fly-replay-src'] === undefined ? directive.value : undefined);
    const m1 = await replaying(t, 'web-fra-1', onFirstVisit);
    const m2 = await replaying(t, 'web-fra-2', onFirstVisit);
    const p = await proxyFor(t, oneApp([machine('web-fra-1', 'fra', m1.port), machine('web-fra-2', 'fra', m2.port)]), {
      random: () => 0,
    });
    const r = await send(p.port, 'web.test');
    assert.equal(r.status, 200);
    const first = m1.seen.length === 1 && m1.seen[0]!.headers['fly-replay-src'] === undefined ? 'web-fra-1' : 'web-fra-2';
    assert.notEqual(r.headers['x-machine'], first);
    assert.equal(m1.seen.length + m2.seen.length, 2);

    directive.value = 'region=fra';
    const control = await send(p.port, 'web.test');
    assert.equal(control.status, 200);
    assert.equal(control.body, `served by ${first}`, 'without elsewhere the same machine is chosen again');
  });

  it('loop guard: after 2 replays the client gets 502 with starling-replay-failed: loop', async (t) => {
    const fra = await replaying(t, 'web-fra', 'region=fra');
    const p = await proxyFor(t, oneApp([machine('web-fra', 'fra', fra.port)]));
    const r = await send(p.port, 'web.test', { method: 'POST', body: 'x' });
    assert.equal(r.status, 502);
    assert.match(String(r.headers['starling-replay-failed']), /loop/);
    assert.match(String(r.headers['fly-replay-failed']), /loop/);
    assert.equal(fra.seen.length, 3, 'the original request and two replays');
    const text = p.proxy.metricsText();
    assert.equal(replays(text), 2);
    assert.equal(failures(text, 'loop'), 1);
    await waitFor(() => p.access.length === 1, 'the access log entry');
    assert.equal(p.access[0]!.replays, 2);
    assert.equal(p.access[0]!.status, 502);
  });

  it('a body of exactly 1 MB is replayed; one byte more fails with body_too_large', async (t) => {
    const fra = await replaying(t, 'web-fra', 'region=iad');
    const iad = await origin(t, 'web-iad');
    const p = await proxyFor(t, oneApp([machine('web-fra', 'fra', fra.port), machine('web-iad', 'iad', iad.port)]));
    const mb = randomBytes(1024 * 1024);
    const ok = await send(p.port, 'web.test', { method: 'POST', body: mb });
    assert.equal(ok.status, 200);
    assert.ok(iad.seen[0]!.body.equals(mb));

    const tooBig = Buffer.concat([mb, Buffer.from('!')]);
    const r = await send(p.port, 'web.test', { method: 'POST', body: tooBig });
    assert.equal(r.status, 502);
    assert.equal(r.headers['starling-replay-failed'], 'body_too_large');
    assert.equal(r.headers['fly-replay-failed'], 'body_too_large');
    assert.equal(fra.seen.length, 2);
    assert.equal(fra.seen[1]!.body.length, tooBig.length, 'the first machine still got the whole body');
    assert.equal(iad.seen.length, 1);
    assert.equal(failures(p.proxy.metricsText(), 'body_too_large'), 1);
  });

  it('a replay to a region with no machine fails with 502 and the reason', async (t) => {
    const fra = await replaying(t, 'web-fra', 'region=syd');
    const iad = await origin(t, 'web-iad');
    const p = await proxyFor(t, oneApp([machine('web-fra', 'fra', fra.port), machine('web-iad', 'iad', iad.port)]));
    const r = await send(p.port, 'web.test');
    assert.equal(r.status, 502);
    assert.equal(r.headers['starling-replay-failed'], 'region_unavailable');
    assert.match(r.body, /region_unavailable/);
    assert.equal(iad.seen.length, 0);
    assert.equal(failures(p.proxy.metricsText(), 'region_unavailable'), 1);
  });

  it('fallback=force_self: a replay that cannot be done goes back to the machine that asked, with fly-replay-failed', async (t) => {
    // Replays until it is told the replay failed; then answers itself.
    const fra = await replaying(t, 'web-fra', (r) => (r.headers['fly-replay-failed'] === undefined ? 'region=syd;fallback=force_self' : undefined));
    const iad = await origin(t, 'web-iad');
    const p = await proxyFor(t, oneApp([machine('web-fra', 'fra', fra.port), machine('web-iad', 'iad', iad.port)]));
    const r = await send(p.port, 'web.test', { method: 'POST', body: 'order=1', headers: { 'fly-replay-failed': 'forged by the client' } });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.body, 'served by web-fra');
    assert.deepEqual(fra.seen.map((s) => s.headers['fly-replay-failed']), [undefined, 'region_unavailable'], "the client's own header never passes; the fallback says why");
    assert.equal(fra.seen[1]!.headers['starling-replay-failed'], 'region_unavailable');
    assert.equal(fra.seen[1]!.body.toString(), 'order=1', 'the whole request again');
    assert.equal(iad.seen.length, 0);
    assert.equal(failures(p.proxy.metricsText(), 'region_unavailable'), 1);
  });

  it('timeout=: a replay that waits too long for its target falls back (prefer_self), or fails with timeout', async (t) => {
    let release: (() => void) | undefined;
    const iad = await origin(t, 'web-iad', (_r, res) => void (release = () => res.end('late')));
    const fra = await replaying(t, 'web-fra', (r) => (r.headers['fly-replay-failed'] === undefined ? `region=iad;timeout=300ms${r.url === '/fallback' ? ';fallback=prefer_self' : ''}` : undefined));
    const p = await proxyFor(t, oneApp([machine('web-fra', 'fra', fra.port), machine('web-iad', 'iad', iad.port)], { hardLimit: 1 }));
    // iad's one slot is held, so the replay to iad waits.
    const held = send(p.port, 'web.test', { headers: { 'fly-force-region': 'iad' } });
    await waitFor(() => release !== undefined, 'iad to hold a request');
    const back = await send(p.port, 'web.test', { path: '/fallback' });
    assert.equal(back.status, 200, back.body);
    assert.equal(back.body, 'served by web-fra');
    assert.equal(fra.seen.at(-1)!.headers['fly-replay-failed'], 'timeout');
    const failed = await send(p.port, 'web.test', { path: '/no-fallback' });
    assert.equal(failed.status, 502, failed.body);
    assert.equal(failed.headers['starling-replay-failed'], 'timeout');
    release!();
    assert.equal((await held).body, 'late');
  });

  it('a replay answered before the request body has fully arrived waits for the rest, then replays it all', async (t) => {
    // A machine that answers on the request head alone, without reading the body.
    const heads: string[] = [];
    const early = http.createServer((req, res) => {
      heads.push(req.url ?? '');
      res.setHeader('fly-replay', 'region=iad');
      res.end();
    });
    let closed = 0;
    early.on('connection', (s: Socket) => s.on('close', () => closed++));
    await new Promise<void>((resolve) => early.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => (early.closeAllConnections(), early.close(() => resolve()))));
    const iad = await origin(t, 'web-iad');
    const p = await proxyFor(
      t,
      oneApp([machine('web-fra', 'fra', (early.address() as AddressInfo).port), machine('web-iad', 'iad', iad.port)]),
    );
    const body = randomBytes(300 * 1024);
    const res = new Promise<{ status: number; machine: unknown }>((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port: p.port, method: 'POST', path: '/late', agent: false, headers: { host: 'web.test', 'content-length': body.length } },
        (r) => {
          r.resume();
          r.on('end', () => resolve({ status: r.statusCode ?? 0, machine: r.headers['x-machine'] }));
        },
      );
      req.on('error', reject);
      req.write(body.subarray(0, 1000));
      // The proxy drops its connection to the machine when it reads the replay answer (node's server
      // keeps it open, discarding the unread body): from then on the proxy is waiting for the body.
      waitFor(() => heads.length === 1 && closed === 1, 'the proxy to take the replay answer and drop the connection')
        .then(() => {
          assert.equal(replays(p.proxy.metricsText()), 0, 'not replayed before the body is complete');
          req.end(body.subarray(1000));
        })
        .catch(reject);
    });
    const r = await res;
    assert.equal(r.status, 200);
    assert.equal(r.machine, 'web-iad');
    assert.ok(iad.seen[0]!.body.equals(body), 'the whole body, including what arrived after the replay answer');
    assert.equal(replays(p.proxy.metricsText()), 1);
  });
});
