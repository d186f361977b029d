import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ManualClock } from '../../src/shared/index.js';
import { closedPort, send } from '../helpers/origin.js';
import { droppingOrigin, holdingOrigin, inFlight, machine, metric, oneApp, origin, proxyFor } from '../helpers/routing.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Tier 2/3: machine choice under load and failure, over real sockets. Slow machines are origins that
 * hold their responses until the test releases them, so "in flight" is exact, not timed.
 */
const seenTotal = (...os: { seen: unknown[] }[]) => os.reduce((n, o) => n + o.seen.length, 0);

describe('proxy machine choice: region, load, failover, queueing, retries', { timeout: 60_000 }, () => {
  it("sends everything to the edge's own region while it has a usable machine", async (t) => {
    const fra = await origin(t, 'web-fra');
    const iad = await origin(t, 'web-iad');
    const p = await proxyFor(t, oneApp([machine('web-iad', 'iad', iad.port), machine('web-fra', 'fra', fra.port)]));
    const rs = await Promise.all(Array.from({ length: 10 }, () => send(p.port, 'web.test')));
    assert.deepEqual(new Set(rs.map((r) => r.headers['x-machine'])), new Set(['web-fra']));
    assert.equal(fra.seen.length, 10);
    assert.equal(iad.seen.length, 0);
  });

  it('spreads concurrent slow requests over the least-loaded machines of the region', async (t) => {
    const m1 = await holdingOrigin(t, 'web-fra-1');
    const m2 = await holdingOrigin(t, 'web-fra-2');
    const iad = await origin(t, 'web-iad');
    const p = await proxyFor(
      t,
      oneApp([machine('web-fra-1', 'fra', m1.port), machine('web-fra-2', 'fra', m2.port), machine('web-iad', 'iad', iad.port)]),
    );
    const pending = [];
    for (let i = 1; i <= 4; i++) {
      pending.push(inFlight(p.port, 'web.test'));
      await waitFor(() => seenTotal(m1, m2) === i, `request ${i} to reach a machine`);
    }
    assert.equal(m1.seen.length, 2);
    assert.equal(m2.seen.length, 2);
    const text = p.proxy.metricsText();
    assert.equal(metric(text, 'starling_proxy_machine_inflight{app="web",machine="web-fra-1",region="fra"}'), 2);
    assert.equal(metric(text, 'starling_proxy_machine_inflight{app="web",machine="web-fra-2",region="fra"}'), 2);
    m1.releaseAll();
    m2.releaseAll();
    assert.deepEqual((await Promise.all(pending)).map((r) => r.status), [200, 200, 200, 200]);
    assert.equal(iad.seen.length, 0);
  });

  it('soft_limit does not send traffic out of the region', async (t) => {
    const fra = await holdingOrigin(t, 'web-fra');
    const ams = await origin(t, 'web-ams');
    const p = await proxyFor(t, oneApp([machine('web-fra', 'fra', fra.port), machine('web-ams', 'ams', ams.port)], { softLimit: 1 }));
    const pending = [inFlight(p.port, 'web.test'), inFlight(p.port, 'web.test'), inFlight(p.port, 'web.test')];
    await waitFor(() => fra.seen.length === 3, 'three requests on the local machine over its soft_limit');
    assert.equal(ams.seen.length, 0);
    fra.releaseAll();
    for (const r of await Promise.all(pending)) assert.equal(r.status, 200);
  });

  it('fails over to the nearest region when every local machine is unhealthy or stopped', async (t) => {
    const sick = await origin(t, 'web-fra-sick');
    const stopped = await origin(t, 'web-fra-stopped');
    const iad = await origin(t, 'web-iad');
    const ams = await origin(t, 'web-ams');
    const p = await proxyFor(
      t,
      oneApp([
        machine('web-fra-sick', 'fra', sick.port, { healthy: false }),
        machine('web-fra-stopped', 'fra', stopped.port, { state: 'stopped' }),
        machine('web-iad', 'iad', iad.port),
        machine('web-ams', 'ams', ams.port),
      ]),
    );
    for (let i = 0; i < 5; i++) assert.equal((await send(p.port, 'web.test')).headers['x-machine'], 'web-ams');
    assert.equal(seenTotal(sick, stopped, iad), 0);
    assert.equal(p.access.at(-1)?.region, 'ams');
  });

  it('fails over to a remote region when the local machine is at hard_limit', async (t) => {
    const fra = await holdingOrigin(t, 'web-fra');
    const ams = await origin(t, 'web-ams');
    const p = await proxyFor(t, oneApp([machine('web-fra', 'fra', fra.port), machine('web-ams', 'ams', ams.port)], { hardLimit: 1 }));
    const held = inFlight(p.port, 'web.test');
    await waitFor(() => fra.seen.length === 1, 'the first request on the local machine');
    const next = await send(p.port, 'web.test');
    assert.equal(next.headers['x-machine'], 'web-ams');
    fra.releaseAll();
    assert.equal((await held).body, 'web-fra');
    const home = inFlight(p.port, 'web.test');
    await waitFor(() => fra.seen.length === 2, 'back home once the slot is free');
    fra.releaseAll();
    assert.equal((await home).body, 'web-fra');
    assert.equal(ams.seen.length, 1);
  });

  it('queues when every machine is at hard_limit and serves the request when a slot frees', async (t) => {
    const fra = await holdingOrigin(t, 'web-fra');
    const ams = await holdingOrigin(t, 'web-ams');
    const p = await proxyFor(t, oneApp([machine('web-fra', 'fra', fra.port), machine('web-ams', 'ams', ams.port)], { hardLimit: 1 }));
    const first = inFlight(p.port, 'web.test');
    await waitFor(() => fra.seen.length === 1, 'first request on fra');
    const second = inFlight(p.port, 'web.test');
    await waitFor(() => ams.seen.length === 1, 'second request on ams');
    const third = inFlight(p.port, 'web.test', { path: '/third' });
    await waitFor(() => metric(p.proxy.metricsText(), 'starling_proxy_queued_requests') === 1, 'the third request to queue');
    assert.equal(seenTotal(fra, ams), 2, 'a queued request reaches no machine');

    ams.releaseOne();
    assert.equal((await second).body, 'web-ams');
    await waitFor(() => ams.seen.length === 2, 'the queued request to take the freed slot');
    assert.equal(ams.seen[1]!.url, '/third');
    assert.equal(metric(p.proxy.metricsText(), 'starling_proxy_queued_requests'), 0);
    ams.releaseOne();
    fra.releaseOne();
    assert.equal((await third).status, 200);
    assert.equal((await first).status, 200);
  });

  it('a freed slot that the oldest waiter cannot use goes to the next waiter', async (t) => {
    const m1 = await holdingOrigin(t, 'web-fra-1');
    const m2 = await holdingOrigin(t, 'web-fra-2');
    const p = await proxyFor(t, oneApp([machine('web-fra-1', 'fra', m1.port), machine('web-fra-2', 'fra', m2.port)], { hardLimit: 1 }));
    const queued = () => metric(p.proxy.metricsText(), 'starling_proxy_queued_requests');
    const busy = [inFlight(p.port, 'web.test'), inFlight(p.port, 'web.test')];
    await waitFor(() => m1.seen.length === 1 && m2.seen.length === 1, 'both machines busy');
    // The oldest waiter may only use web-fra-1; the next one can use either machine.
    const pinned = inFlight(p.port, 'web.test', { path: '/pinned', headers: { 'fly-force-instance-id': 'web-fra-1' } });
    await waitFor(() => queued() === 1, 'the pinned request to queue');
    const free = inFlight(p.port, 'web.test', { path: '/free' });
    await waitFor(() => queued() === 2, 'the second request to queue');

    m2.releaseOne();
    await waitFor(() => m2.seen.length === 2, 'the unpinned waiter to take the slot freed on web-fra-2');
    assert.equal(m2.seen[1]!.url, '/free');
    assert.equal(queued(), 1, 'the pinned request still waits for its machine');
    m2.releaseAll();
    assert.equal((await free).body, 'web-fra-2');
    m1.releaseOne();
    await waitFor(() => m1.seen.length === 2, 'the pinned request on web-fra-1');
    m1.releaseAll();
    assert.equal((await pinned).body, 'web-fra-1');
    for (const r of await Promise.all(busy)) assert.equal(r.status, 200);
  });

  it('a queued request gets 503 once queueTimeoutMs has passed on the clock', async (t) => {
    const fra = await holdingOrigin(t, 'web-fra');
    const p = await proxyFor(t, oneApp([machine('web-fra', 'fra', fra.port)], { hardLimit: 1 }), {
      manualClock: true,
      limits: { queueTimeoutMs: 3000 },
    });
    const clock = p.clock as ManualClock;
    const first = inFlight(p.port, 'web.test');
    await waitFor(() => fra.seen.length === 1, 'first request on fra');
    let answered = false;
    const queued = inFlight(p.port, 'web.test');
    void queued.then(() => (answered = true), () => undefined);
    await waitFor(() => metric(p.proxy.metricsText(), 'starling_proxy_queued_requests') === 1, 'the second request to queue');

    clock.advance(2000);
    // Give a wrongly early 503 the chance to reach the client before checking it did not come.
    await send(p.port, 'nope.test');
    assert.equal(answered, false, 'still queued before the timeout');

    clock.advance(1000); // the sweep at exactly the deadline expires it
    const r = await queued;
    assert.equal(r.status, 503);
    assert.match(r.body, /hard_limit/);
    assert.equal(r.headers['retry-after'], '1');
    assert.equal(fra.seen.length, 1);
    fra.releaseAll();
    assert.equal((await first).status, 200);
  });

  it('retries a machine that refuses connections on the next candidate, and counts it', async (t) => {
    const ams = await origin(t, 'web-ams');
    const p = await proxyFor(t, oneApp([machine('web-fra', 'fra', await closedPort()), machine('web-ams', 'ams', ams.port)]));
    const retries = () => metric(p.proxy.metricsText(), 'starling_proxy_retries_total{app="web"}');
    assert.equal(retries(), 0);
    // Nothing reached the refusing machine, so even a POST is safe to send elsewhere.
    const r = await send(p.port, 'web.test', { method: 'POST', body: 'hello' });
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-machine'], 'web-ams');
    assert.equal(ams.seen[0]!.body.toString(), 'hello');
    assert.equal(retries(), 1);
    await waitFor(() => p.access.length === 1, 'the access log entry');
    assert.equal(p.access[0]!.retries, 1);
    assert.equal(p.access[0]!.machine, 'web-ams');
  });

  it('a POST already sent to a machine that drops the connection is not retried; PUT and GET are', async (t) => {
    const fra = await droppingOrigin(t, 'web-fra');
    const ams = await origin(t, 'web-ams');
    const p = await proxyFor(t, oneApp([machine('web-fra', 'fra', fra.port), machine('web-ams', 'ams', ams.port)]));
    const retries = () => metric(p.proxy.metricsText(), 'starling_proxy_retries_total{app="web"}');

    const post = await send(p.port, 'web.test', { method: 'POST', path: '/pay', body: 'charge-once' });
    assert.equal(post.status, 502);
    assert.match(post.body, /web-fra/);
    assert.equal(fra.seen.length, 1, 'the machine received the POST');
    assert.equal(fra.seen[0]!.body.toString(), 'charge-once');
    assert.equal(ams.seen.length, 0, 'and it was not sent again');
    assert.equal(retries(), 0);

    const big = Buffer.alloc(200 * 1024, 'p');
    const put = await send(p.port, 'web.test', { method: 'PUT', path: '/doc', body: big });
    assert.equal(put.status, 200);
    assert.equal(put.headers['x-machine'], 'web-ams');
    assert.equal(fra.seen.length, 2);
    assert.ok(ams.seen[0]!.body.equals(big), 'the retried PUT body arrived intact');
    assert.equal(retries(), 1);

    const get = await send(p.port, 'web.test', { path: '/read' });
    assert.equal(get.status, 200);
    assert.equal(get.headers['x-machine'], 'web-ams');
    assert.equal(fra.seen.length, 3);
    assert.equal(retries(), 2);
  });
});
