/**
 * `GET /metrics` on a real control plane (loopback, SQLite): the metrics token reads it and
 * nothing else, the platform token reads it, an org token is refused and no token learns nothing;
 * what it says matches the platform (apps, hosts, requests by route template, never by raw path);
 * every family follows the naming scheme. The agent's admin API answers its own /metrics the same
 * way (the announcer, the machines, its HTTP counters).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AdminApi, type AnnouncerControl } from '../../src/agent/index.js';
import { SqliteStore, startControlPlane, type ControlPlane } from '../../src/control/index.js';
import { ManualClock, silentLogger } from '../../src/shared/index.js';
import { schemeProblems } from '../../src/shared/index.js';
import { parseExposition, sampleValue } from '../helpers/metrics.js';

const OPERATOR = 'operator-token-metrics-0123456789';
const SCRAPER = 'a'.repeat(64);
const dir = mkdtempSync(join(tmpdir(), 'starling-metrics-'));
let store: SqliteStore;
let cp: ControlPlane;
let base = '';

async function call(token: string | undefined, method: string, path: string, body?: unknown): Promise<{ status: number; text: string; type: string }> {
  const res = await fetch(base + path, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? null : JSON.stringify(body),
  });
  return { status: res.status, text: await res.text(), type: res.headers.get('content-type') ?? '' };
}

before(async () => {
  store = new SqliteStore({ path: join(dir, 'state.db') });
  cp = await startControlPlane({
    listen: { host: '127.0.0.1', port: 0 },
    store,
    tokens: [OPERATOR],
    metricsTokens: [SCRAPER],
    imagesDir: join(dir, 'images'),
    secretsKey: Buffer.alloc(32, 7),
    clock: new ManualClock(Date.UTC(2026, 0, 1)),
    logger: silentLogger,
  });
  base = `http://127.0.0.1:${cp.address.port}`;
});
after(async () => {
  await cp.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the control plane /metrics', () => {
  it('the metrics token reads /metrics and nothing else; the platform token reads it; others do not', async () => {
    const scraped = await call(SCRAPER, 'GET', '/metrics');
    assert.equal(scraped.status, 200);
    assert.match(scraped.type, /^text\/plain; version=0\.0\.4/);
    for (const [method, path] of [['GET', '/v1/apps'], ['GET', '/v1/hosts'], ['POST', '/v1/tokens'], ['GET', '/v1/watch']] as const) {
      const r = await call(SCRAPER, method, path, method === 'POST' ? { org: 'personal', scope: 'admin' } : undefined);
      assert.equal(r.status, 403, `${method} ${path} with the metrics token`);
    }
    assert.equal((await call(OPERATOR, 'GET', '/metrics')).status, 200);
    const org = JSON.parse((await call(OPERATOR, 'POST', '/v1/tokens', { org: 'personal', scope: 'admin' })).text) as { token: string };
    assert.equal((await call(org.token, 'GET', '/metrics')).status, 403);
    assert.equal((await call(undefined, 'GET', '/metrics')).status, 401);
  });

  it('counts apps and requests by route template, and every family follows the naming scheme', async () => {
    for (const name of ['metrics-a', 'metrics-b']) assert.equal((await call(OPERATOR, 'POST', '/v1/apps', { name, primary_region: 'fra' })).status, 201);
    assert.equal((await call(OPERATOR, 'GET', '/v1/apps/metrics-a')).status, 200);
    assert.equal((await call(OPERATOR, 'GET', '/v1/apps/no-such-app')).status, 404);
    const families = parseExposition((await call(SCRAPER, 'GET', '/metrics')).text);
    assert.equal(sampleValue(families, 'starling_control_apps'), 2);
    assert.equal(sampleValue(families, 'starling_control_http_requests_total', { method: 'POST', route: '/v1/apps', status: '201' }), 2);
    assert.equal(sampleValue(families, 'starling_control_http_requests_total', { method: 'GET', route: '/v1/apps/{app}', status: '200' }), 1);
    assert.equal(sampleValue(families, 'starling_control_http_requests_total', { method: 'GET', route: '/v1/apps/{app}', status: '404' }), 1);
    assert.equal(sampleValue(families, 'starling_control_http_requests_total', { method: 'GET', route: 'unmatched', status: '401' }), 1);
    const routes = new Set(families.find((f) => f.name === 'starling_control_http_requests_total')!.samples.map((s) => String(s.labels?.route)));
    assert.ok(![...routes].some((r) => r.includes('metrics-a') || r.includes('no-such-app')), `a raw path became a label: ${[...routes].join(', ')}`);
    assert.ok((sampleValue(families, 'starling_control_store_revision') ?? 0) > 0);
    assert.ok(families.some((f) => f.name === 'starling_control_open_connections'));
    assert.deepEqual(families.flatMap(schemeProblems), []);
  });
});

describe("the agent's /metrics", () => {
  const announcer: AnnouncerControl = {
    drain() {},
    undrain() {},
    drainState: 'serving',
    status: () => Promise.reject(new Error('unused')),
    metricsText: async () => '# HELP starling_bgp_healthy Local health check state.\n# TYPE starling_bgp_healthy gauge\nstarling_bgp_healthy 1\n',
  };
  it('answers the announcer, what the agent adds and its own requests, in the naming scheme', async () => {
    const TOKEN = 'agent-token-metrics-0123456789ab';
    const api = new AdminApi({ announcer, token: TOKEN, drain: { prepend: 0, delay_ms: 0 }, logger: silentLogger });
    api.metrics.add(() => '# HELP starling_runtime_machines Machines.\n# TYPE starling_runtime_machines gauge\nstarling_runtime_machines{app="web",state="started"} 1\n');
    const { port } = await api.listen('127.0.0.1', 0);
    try {
      const get = (path: string) => fetch(`http://127.0.0.1:${port}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } }).then(async (r) => ({ status: r.status, text: await r.text() }));
      assert.equal((await get('/v1/drain')).status, 405);
      const families = parseExposition((await get('/metrics')).text);
      assert.equal(sampleValue(families, 'starling_bgp_healthy'), 1);
      assert.equal(sampleValue(families, 'starling_runtime_machines', { app: 'web', state: 'started' }), 1);
      assert.equal(sampleValue(families, 'starling_agent_http_requests_total', { method: 'GET', route: 'unmatched', status: '405' }), 1);
      assert.deepEqual(families.flatMap(schemeProblems), []);
    } finally {
      await api.close();
    }
  });
});
