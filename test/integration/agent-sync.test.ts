/**
 * ControlSync against a real control plane on loopback (SqliteStore in a temp dir): the snapshot
 * and the feed reach the agent's view; the control plane goes away and the view (and its cache
 * file) keeps everything; it comes back on the same port and store and the agent resumes from its
 * revision; a fresh agent with only the cache has the full view; compaction forces a snapshot; the
 * host registers; a bad token keeps the view.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ControlSync, type ControlSyncOptions, type SyncView } from '../../src/sync/sync.js';
import { SqliteStore, startControlPlane, type ControlPlane } from '../../src/control/index.js';
import { Logger, ManualClock, SystemClock, silentLogger, stderrLogger } from '../../src/shared/index.js';
import { AGENT_SECRET, joinHost } from '../helpers/hosts.js';
import { waitFor } from '../helpers/wait.js';

const TOKEN = 'sync-test-token-0123456789abcdef';
const KEY = Buffer.alloc(32, 9);
const dir = mkdtempSync(join(tmpdir(), 'starling-sync-'));
const clock = new SystemClock();
const cacheFile = join(dir, 'sync-cache.json');
const HOST = { id: 'host-1', region: 'ams', capacity: { machines: 4 }, agent_url: 'http://127.0.0.1:9401', agent_secret: AGENT_SECRET };
/** host-1's credential, from joining in before(). */
let CRED = '';

let store: SqliteStore;
let cp: ControlPlane | undefined;
let port = 0;
/** `METHOD /path?query` of every request the current control plane saw. */
let requests: string[] = [];
const syncs: ControlSync[] = [];

async function startCp(): Promise<void> {
  const started = await startControlPlane({ listen: { host: '127.0.0.1', port }, store, tokens: [TOKEN], imagesDir: join(dir, 'images'), secretsKey: KEY, clock, logger: silentLogger });
  // Patched before any request can arrive: the listen callback resolved the promise this continues.
  const run = started.router.run.bind(started.router);
  requests = [];
  started.router.run = (admitted, req) => {
    const q = req.query.toString();
    requests.push(`${req.method} ${req.path}${q ? `?${q}` : ''}`);
    return run(admitted, req);
  };
  cp = started;
  port = started.address.port;
}

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? null : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

function newSync(o: Partial<ControlSyncOptions> = {}): ControlSync {
  const s = new ControlSync({ url: `http://127.0.0.1:${port}`, token: CRED, cacheFile, pollTimeoutS: 5, clock, logger: process.env.SYNC_DEBUG ? stderrLogger("debug") : silentLogger, ...o });
  syncs.push(s);
  return s;
}

const apps = (v: SyncView): string[] => [...(v.documents.get('apps')?.keys() ?? [])].sort();

before(async () => {
  store = new SqliteStore({ path: join(dir, 'state.db') });
  await startCp();
  CRED = await joinHost(`http://127.0.0.1:${port}`, TOKEN, 'host-1', 'ams');
  for (const name of ['alpha', 'beta']) assert.equal((await api('POST', '/v1/apps', { name, primary_region: 'ams' })).status, 201);
  await api('PUT', '/v1/apps/alpha/secrets', { DB_PASSWORD: 'hunter2-very-secret' });
});
after(async () => {
  for (const s of syncs) await s.stop();
  await cp?.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('agent sync with the control plane', () => {
  let agent: ControlSync;
  const seen: number[] = [];

  it('takes the snapshot, registers its host, and follows the feed', async () => {
    agent = newSync({ host: HOST, onChange: (v) => seen.push(v.revision) });
    await agent.start();
    await waitFor(() => apps(agent.view()).join() === 'alpha,beta', 'the snapshot in the view');
    await waitFor(() => agent.view().documents.get('hosts')?.has('host-1') === true, 'the host in the view');
    const hosts = await api('GET', '/v1/hosts');
    assert.deepEqual(hosts.body.hosts.map((h: { id: string }) => h.id), ['host-1']);
    assert.ok(requests.some((r) => r.startsWith('GET /v1/snapshot')), 'a snapshot was taken');
    assert.ok(requests.filter((r) => /^GET \/v1\/(watch|snapshot)/.test(r)).every((r) => !r.includes('secrets')), 'secrets never asked for');

    assert.equal((await api('POST', '/v1/apps', { name: 'gamma', primary_region: 'ams' })).status, 201);
    await waitFor(() => apps(agent.view()).join() === 'alpha,beta,gamma', 'gamma in the view');
    await waitFor(async () => agent.status().revision === (await store.revision()), 'the agent at the head');
    const st = agent.status();
    assert.equal(st.connected, true);
    assert.equal(st.lastError, null);
    assert.ok(st.lastSyncAt !== null);
    assert.ok(seen.length >= 2 && seen.every((r, i) => i === 0 || r > seen[i - 1]!), `onChange revisions increase: ${seen.join()}`);

    const cached = JSON.parse(readFileSync(cacheFile, 'utf8'));
    assert.equal(cached.revision, agent.status().revision);
    assert.deepEqual(Object.keys(cached.documents).sort(), ['apps', 'certificates', 'challenges', 'hostnames', 'hosts', 'machine_states', 'machines', 'private_ips', 'releases', 'volume_snapshots', 'volume_states', 'volumes', 'wireguard_peers']);
    assert.ok(!readFileSync(cacheFile, 'utf8').includes('hunter2'), 'no secret in the cache');
    assert.equal(statSync(cacheFile).mode & 0o777, 0o600);
  });

  it('keeps the view while the control plane is down, then resumes from its revision', async () => {
    const before = agent.status().revision;
    await cp?.close();
    cp = undefined;
    await waitFor(() => !agent.status().connected, 'the agent to notice');
    assert.equal(agent.status().lastError?.code, 'ERR_CONTROL_UNREACHABLE');
    assert.equal(apps(agent.view()).join(), 'alpha,beta,gamma');
    assert.equal(agent.status().revision, before);

    // A fresh agent with only the cache file and no control plane has the full view at once.
    const copy = join(dir, 'copy.json');
    copyFileSync(cacheFile, copy);
    const cold = newSync({ cacheFile: copy });
    await cold.start();
    assert.equal(apps(cold.view()).join(), 'alpha,beta,gamma');
    assert.equal(cold.view().revision, before);
    assert.ok(cold.view().documents.get('hosts')?.has('host-1'));
    await cold.stop();

    // Changes while the control plane is down (straight into its store).
    const alpha = await store.get('apps', 'alpha');
    await store.put('apps', 'delta', { ...(alpha?.value as object), name: 'delta' });
    await store.delete('apps', 'beta');
    const head = await store.revision();

    await startCp();
    await waitFor(() => apps(agent.view()).join() === 'alpha,delta,gamma', 'the changes made while down', 15_000);
    await waitFor(() => agent.status().revision >= head && agent.status().connected, 'the agent at the head');
    const watches = requests.filter((r) => r.startsWith('GET /v1/watch'));
    assert.ok(watches[0]?.includes(`since=${before}&`), `resumed from ${before}: ${watches.join(' | ')}`);
    assert.ok(!requests.some((r) => r.startsWith('GET /v1/snapshot')), 'no snapshot needed');
    assert.ok(requests.some((r) => r.startsWith('PUT /v1/hosts/host-1')), 're-registered after the reconnect');
    assert.equal(JSON.parse(readFileSync(cacheFile, 'utf8')).revision, agent.status().revision);
  });

  it('resyncs from a snapshot when its revision was compacted away', async () => {
    await agent.stop();
    const stoppedAt = agent.status().revision;
    await store.delete('apps', 'gamma');
    await store.put('apps', 'epsilon', { name: 'epsilon', primary_region: 'ams' });
    await store.compact(await store.revision());
    requests = [];
    const next = newSync({});
    await next.start();
    assert.equal(apps(next.view()).join(), 'alpha,delta,gamma', 'the cache first');
    await waitFor(() => apps(next.view()).join() === 'alpha,delta,epsilon', 'the snapshot replacing the view');
    assert.ok(requests.some((r) => r.startsWith(`GET /v1/watch?since=${stoppedAt}&`)), 'tried to resume first');
    assert.ok(requests.some((r) => r.startsWith('GET /v1/snapshot')), 'then took a snapshot');
    assert.equal(next.status().revision, await store.revision());
    await next.stop();
  });

  it('reports a bad token and keeps its view', async () => {
    const copy = join(dir, 'badtoken.json');
    copyFileSync(cacheFile, copy);
    const bad = newSync({ cacheFile: copy, token: 'wrong-token-0123456789abcdef' });
    await bad.start();
    await waitFor(() => bad.status().lastError?.code === 'ERR_UNAUTHORIZED', 'ERR_UNAUTHORIZED');
    assert.equal(bad.status().connected, false);
    assert.equal(apps(bad.view()).join(), 'alpha,delta,epsilon');
    await bad.stop();
  });

  it('backs off 200 ms doubling to 10 s, up to a fifth earlier at random, through the injected clock', async () => {
    const manual = new ManualClock();
    const retries: number[] = [];
    const logger = new Logger({ write: (l: string) => { const r = JSON.parse(l).retry_ms; if (typeof r === 'number') retries.push(r); } }, 'warn');
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    const s = newSync({ url: 'http://127.0.0.1:1', cacheFile: join(dir, 'backoff.json'), clock: manual, logger });
    await s.start();
    for (let n = 1; n <= 8; n++) {
      await waitFor(() => retries.length === n, `failure ${n}`);
      manual.advance(retries[n - 1]!);
    }
    await s.stop();
    const bases = [200, 400, 800, 1600, 3200, 6400, 10_000, 10_000];
    retries.forEach((r, i) => assert.ok(r <= bases[i]! && r >= bases[i]! * 0.8, `retry ${i + 1}: ${r} ms within 80-100 % of ${bases[i]} ms`));
    assert.ok(new Set(retries.map((r, i) => r / bases[i]!)).size > 1, 'jittered, not one fixed fraction');
    assert.equal(s.status().lastError?.code, 'ERR_CONTROL_UNREACHABLE');
  });

  it('never syncs secrets', () => {
    assert.throws(() => newSync({ collections: ['apps', 'secrets'] }), { code: 'ERR_SYNC_INVALID' });
  });
});
