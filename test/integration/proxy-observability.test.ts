import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { AdminServer } from '../../src/proxy/index.js';
import { schemeProblems } from '../../src/shared/index.js';
import { parseExposition } from '../helpers/metrics.js';
import { machine, rawRequest, startProxy, statusOf, type TestProxy } from '../helpers/proxy.js';
import { closedPort, send, startOrigin, type Origin } from '../helpers/origin.js';
import { RawConn } from '../helpers/raw.js';
import { waitFor } from '../helpers/wait.js';

/** The value of one exact series (`name{labels}`) in a Prometheus text page; undefined when absent. */
function metric(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(series + ' ')) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

describe('proxy observability: /metrics, /healthz and the access log', () => {
  let p: TestProxy;
  let admin: AdminServer;
  let adminPort: number;
  const origins: Origin[] = [];

  const get = async (path: string): Promise<{ status: number; text: string }> => {
    const r = await fetch(`http://127.0.0.1:${adminPort}${path}`);
    return { status: r.status, text: await r.text() };
  };
  const scrape = async (): Promise<string> => {
    const r = await get('/metrics');
    assert.equal(r.status, 200);
    return r.text;
  };

  before(async () => {
    const shop = await startOrigin('shop-fra', (req, res) => {
      if (req.url === '/created') res.statusCode = 201;
      res.end('shop');
    });
    const flakyAms = await startOrigin('flaky-ams');
    const repFra = await startOrigin('rep-fra', (_req, res) => {
      res.setHeader('starling-replay', 'region=iad');
      res.end('not here');
    });
    const repIad = await startOrigin('rep-iad');
    origins.push(shop, flakyAms, repFra, repIad);
    p = await startProxy(
      {
        apps: [
          { name: 'shop', hostnames: ['shop.test'], machines: [machine('shop-fra', 'fra', shop.port)] },
          {
            name: 'flaky',
            hostnames: ['flaky.test'],
            machines: [machine('flaky-fra', 'fra', await closedPort()), machine('flaky-ams', 'ams', flakyAms.port)],
          },
          {
            name: 'rep',
            hostnames: ['rep.test'],
            primary_region: 'iad',
            machines: [machine('rep-fra', 'fra', repFra.port), machine('rep-iad', 'iad', repIad.port)],
          },
        ],
      },
      { region: 'fra' },
    );
    admin = new AdminServer({ draining: () => p.proxy.draining, metrics: async () => p.proxy.metricsText() });
    adminPort = (await admin.listen('127.0.0.1', 0)).port;
  });

  after(async () => {
    p.close();
    await admin.close();
    await Promise.all(origins.map((o) => o.close()));
  });

  it('counts requests by app, region and status, with an upstream latency histogram', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await send(p.port, 'shop.test', { path: `/r${i}` })).status, 200);
    assert.equal((await send(p.port, 'shop.test', { path: '/created' })).status, 201);
    assert.equal((await send(p.port, 'nobody.test')).status, 404);
    const m = await scrape();
    assert.equal(metric(m, 'starling_proxy_requests_total{app="shop",region="fra",status="200"}'), 3);
    assert.equal(metric(m, 'starling_proxy_requests_total{app="shop",region="fra",status="201"}'), 1);
    assert.equal(metric(m, 'starling_proxy_requests_total{app="",region="fra",status="404"}'), 1);
    assert.match(m, /# TYPE starling_proxy_upstream_latency_seconds histogram/);

    const count = metric(m, 'starling_proxy_upstream_latency_seconds_count{app="shop"}');
    assert.equal(count, 4);
    assert.equal(metric(m, 'starling_proxy_upstream_latency_seconds_bucket{app="shop",le="+Inf"}'), 4);
    const buckets = [...m.matchAll(/^starling_proxy_upstream_latency_seconds_bucket\{app="shop",le="([^"]+)"\} (\d+)$/gm)];
    assert.ok(buckets.length >= 10, 'several latency buckets');
    const values = buckets.map((b) => Number(b[2]));
    for (let i = 1; i < values.length; i++) assert.ok(values[i]! >= values[i - 1]!, 'buckets are cumulative');
    assert.equal(metric(m, 'starling_proxy_upstream_latency_seconds_bucket{app="shop",le="10"}'), 4, 'loopback answers take < 10 s');
    assert.ok(metric(m, 'starling_proxy_upstream_latency_seconds_sum{app="shop"}')! > 0);
  });

  it('gauges open client connections', async () => {
    const conns = await Promise.all([RawConn.open(p.port), RawConn.open(p.port)]);
    try {
      await waitFor(() => p.proxy.openConnections === 2, 'the proxy to accept both connections');
      assert.equal(metric(await scrape(), 'starling_proxy_open_connections'), 2);
    } finally {
      for (const c of conns) c.close();
    }
    await waitFor(() => p.proxy.openConnections === 0, 'both connections to be gone');
    assert.equal(metric(await scrape(), 'starling_proxy_open_connections'), 0);
  });

  it('counts retries, replays and rejected requests', async () => {
    const retried = await send(p.port, 'flaky.test');
    assert.equal(retried.status, 200);
    assert.equal(retried.headers['x-machine'], 'flaky-ams');
    const replayed = await send(p.port, 'rep.test', { method: 'POST', body: 'write' });
    assert.equal(replayed.status, 200);
    assert.equal(replayed.headers['x-machine'], 'rep-iad');
    const bad = await rawRequest(p.port, 'GET / HTTP/1.1\r\nHost: shop.test\r\nX-Fold: a\r\n b\r\n\r\n');
    assert.equal(statusOf(bad), 400);

    const m = await scrape();
    assert.equal(metric(m, 'starling_proxy_retries_total{app="flaky"}'), 1);
    assert.equal(metric(m, 'starling_proxy_replays_total{app="rep"}'), 1);
    assert.equal(metric(m, 'starling_proxy_rejected_requests_total{reason="obs_fold"}'), 1);
    assert.equal(metric(m, 'starling_proxy_requests_total{app="",region="fra",status="400"}'), 1);
    assert.equal(metric(m, 'starling_proxy_requests_total{app="flaky",region="ams",status="200"}'), 1);
    assert.equal(metric(m, 'starling_proxy_requests_total{app="rep",region="iad",status="200"}'), 1);
    assert.equal(metric(m, 'starling_proxy_retries_total{app="shop"}'), undefined, 'no retries where none happened');
  });

  it('answers only families that follow the naming scheme and docs/metrics.md lists', async () => {
    // By now most labelled families have samples (requests, latency, retries, replays, rejections),
    // so their label names are checked too; test/unit/proxy-metrics.test.ts checks every one's.
    const families = parseExposition(await scrape());
    assert.equal(families.length, 16, families.map((f) => f.name).join(', '));
    assert.deepEqual(families.flatMap(schemeProblems), []);
    const docs = readFileSync(new URL('../../../docs/metrics.md', import.meta.url), 'utf8');
    for (const f of families) assert.match(docs, new RegExp(`^\\| \`${f.name}\` \\| ${f.type} \\|`, 'm'), `${f.name} (${f.type}) in docs/metrics.md`);
  });

  it('writes one access log line per request, without the query string', async () => {
    const r = await send(p.port, 'shop.test', { path: '/search?token=SECRET-123&q=shoes' });
    assert.equal(r.status, 200);
    assert.equal(origins[0]!.seen.at(-1)!.url, '/search?token=SECRET-123&q=shoes', 'the machine gets the query');
    const id = r.headers['starling-request-id'];
    assert.equal(typeof id, 'string');
    await waitFor(() => p.access.some((e) => e.request_id === id), 'the access log line');
    const line = p.access.find((e) => e.request_id === id)!;
    assert.equal(line.status, 200);
    assert.equal(line.app, 'shop');
    assert.equal(line.machine, 'shop-fra');
    assert.equal(line.region, 'fra');
    assert.equal(line.method, 'GET');
    assert.equal(line.path, '/search');
    assert.equal(typeof line.duration_ms, 'number');
    assert.ok((line.duration_ms as number) >= 0);
    assert.match(String(id), /-fra$/);
    for (const e of p.access) assert.doesNotMatch(JSON.stringify(e), /SECRET-123|token=/, 'no query string in any log line');

    const missing = await send(p.port, 'nobody.test', { path: '/x?token=SECRET-123' });
    assert.equal(missing.status, 404);
    const replayLine = p.access.find((e) => e.app === 'rep');
    assert.equal(replayLine?.machine, 'rep-iad');
    assert.equal(replayLine?.replays, 1);
  });

  it('/healthz is 200 while serving and 503 once drain has started', async () => {
    const ok = await get('/healthz');
    assert.equal(ok.status, 200);
    assert.equal(ok.text, 'ok\n');
    assert.equal((await get('/healthz?probe=1')).status, 200, 'a query string is ignored');
    const head = await fetch(`http://127.0.0.1:${adminPort}/healthz`, { method: 'HEAD' });
    assert.equal(head.status, 200, 'HEAD is answered like GET');
    assert.equal(await head.text(), '');
    assert.equal((await fetch(`http://127.0.0.1:${adminPort}/healthz`, { method: 'POST' })).status, 405);
    assert.equal((await get('/nothing')).status, 404);
    const idle = await RawConn.open(p.port);
    await waitFor(() => p.proxy.openConnections === 1, 'the proxy to accept the connection');
    const drained = p.proxy.drain();
    const h = await get('/healthz');
    assert.equal(h.status, 503);
    assert.match(h.text, /draining/);
    await idle.waitClosed();
    await drained;
    assert.equal((await get('/healthz')).status, 503);
  });
});

describe("the proxy's admin endpoint", () => {
  it('answers 500 when the metrics cannot be had, and still /healthz', async () => {
    const admin = new AdminServer({ draining: () => false, metrics: () => Promise.reject(new Error('a worker is gone')) });
    const { port } = await admin.listen('127.0.0.1', 0);
    try {
      const r = await fetch(`http://127.0.0.1:${port}/metrics`);
      assert.equal(r.status, 500);
      assert.equal(await r.text(), 'metrics unavailable\n');
      assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
    } finally {
      await admin.close();
    }
  });
});
