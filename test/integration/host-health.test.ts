/**
 * Host liveness end to end: agents (ControlSync, as the agent runs it) hold long polls naming their host; one
 * that stops talking to the control plane is marked down after the host timeout — other agents see
 * it in their view (their proxies stop routing there: control-routes) and `scale count` places no
 * machine on it — and is marked up again as soon as it is back.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ControlSync } from '../../src/sync/sync.js';
import { MemoryStore, startControlPlane, type ControlPlane } from '../../src/control/index.js';
import { type HostDoc } from '../../src/contract/index.js';
import { SystemClock, silentLogger } from '../../src/shared/index.js';
import { AGENT_SECRET, joinHost } from '../helpers/hosts.js';
import { waitFor } from '../helpers/wait.js';

const USER = 'user-token-health-0123456789';
const dir = mkdtempSync(join(tmpdir(), 'starling-host-health-'));
const clock = new SystemClock();
const store = new MemoryStore();
let cp: ControlPlane;
let url = '';
const syncs = new Map<string, ControlSync>();
/** Each host's credential, from joining in before(). */
const creds = new Map<string, string>();

function startSync(id: string): ControlSync {
  const s = new ControlSync({
    url,
    token: creds.get(id)!,
    cacheFile: join(dir, `${id}.json`),
    host: { id, region: 'fra', capacity: { machines: 8 }, agent_url: 'http://127.0.0.1:1', agent_secret: AGENT_SECRET },
    pollTimeoutS: 1,
    clock,
    logger: silentLogger,
  });
  syncs.set(id, s);
  void s.start();
  return s;
}

const hostDoc = async (id: string): Promise<HostDoc | undefined> => (await store.get('hosts', id))?.value as HostDoc | undefined;
const api = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(url + path, { method, headers: { authorization: `Bearer ${USER}`, 'content-type': 'application/json' }, body: body === undefined ? null : JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

before(async () => {
  cp = await startControlPlane({
    listen: { host: '127.0.0.1', port: 0 },
    store,
    tokens: [USER],
    imagesDir: join(dir, 'images'),
    secretsKey: Buffer.alloc(32, 3),
    hostTimeoutMs: 1_500,
    clock,
    logger: silentLogger,
  });
  url = `http://127.0.0.1:${cp.address.port}`;
  for (const id of ['fra-a', 'fra-b']) creds.set(id, await joinHost(url, USER, id, 'fra'));
  // A deployed app to scale (the scheduler, not the deploy runner, is under test here).
  const at = new Date().toISOString();
  await store.put('apps', 'web', { name: 'web', primary_region: 'fra', created_at: at, release_version: 1, secrets_version: 0, deployed_release: 1 });
  await store.put('releases', 'web.00000001', { app: 'web', version: 1, config: { app: 'web' }, image: { ref: 'x', digest: `sha256:${'a'.repeat(64)}` }, secrets_version: 0, created_at: at });
});

after(async () => {
  for (const s of syncs.values()) await s.stop();
  await cp.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('host health', { timeout: 60_000 }, () => {
  it('an agent that stops talking is marked down, others see it, the scheduler avoids it; back when it returns', async () => {
    const a = startSync('fra-a');
    startSync('fra-b');
    await waitFor(async () => (await hostDoc('fra-a'))?.healthy === true && (await hostDoc('fra-b'))?.healthy === true, 'both hosts registered and up', 10_000, 50);
    // (That a host holding long polls stays up however long they last: test/unit/host-health.test.ts.)

    await syncs.get('fra-b')!.stop();
    await waitFor(async () => (await hostDoc('fra-b'))?.healthy === false, 'fra-b marked down', 10_000, 50);
    assert.equal((await hostDoc('fra-a'))?.healthy, true);
    assert.ok((await hostDoc('fra-b'))?.last_seen, 'when it was last heard from');
    await waitFor(() => (a.view().documents.get('hosts')?.get('fra-b') as HostDoc | undefined)?.healthy === false, "fra-a's view has fra-b down", 10_000, 50);

    const scaled = await api('POST', '/v1/apps/web/scale', { count: 3 });
    assert.equal(scaled.status, 200, JSON.stringify(scaled.body));
    assert.deepEqual((scaled.body.created as { host: string }[]).map((m) => m.host), ['fra-a', 'fra-a', 'fra-a']);

    startSync('fra-b');
    await waitFor(async () => (await hostDoc('fra-b'))?.healthy === true, 'fra-b back up', 10_000, 50);
  });
});
