/**
 * Hosts are who they say (loopback control plane, SQLite): a host joins once with a one-time join
 * token and then acts only as itself — registering only itself, in its own region, reporting and
 * fetching secrets only for machines placed on it; every other host-scoped request is 403. A
 * removed host's credential stops working at once. The control plane asks a host for logs with
 * the secret that host chose, and reads no more of its answer than the cap.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SqliteStore, startControlPlane, type ControlPlane } from '../../src/control/index.js';
import { type MachineDoc, type MachineStateDoc } from '../../src/contract/index.js';
import { ManualClock, silentLogger } from '../../src/shared/index.js';
import { addHost } from '../helpers/hosts.js';

const OPERATOR = 'operator-token-hosts-0123456789';
const dir = mkdtempSync(join(tmpdir(), 'starling-hosts-'));
const clock = new ManualClock(Date.UTC(2026, 0, 1));
let store: SqliteStore;
let cp: ControlPlane;
let base = '';

async function call(token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const res = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? null : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

const join_ = (joinToken: string) => call(joinToken, 'POST', '/v1/hosts/join');
const register = (cred: string, host: string, region: string, agentUrl: string, secret: string) =>
  call(cred, 'PUT', `/v1/hosts/${host}`, { region, capacity: { machines: 4 }, agent_url: agentUrl, agent_secret: secret });
const report = (cred: string, host: string, app: string, id: string, healthy = true) =>
  call(cred, 'PUT', `/v1/hosts/${host}/apps/${app}/machines/${id}/state`, { state: 'started', healthy, release: 1 });

/** A fake agent admin API: records the Authorization it gets, answers logs (or a flood). */
function fakeAgent(answer: (res: http.ServerResponse) => void): Promise<{ url: string; auth: string[]; server: http.Server }> {
  const auth: string[] = [];
  const server = http.createServer((req, res) => {
    auth.push(req.headers.authorization ?? '');
    answer(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, auth, server })));
}

const creds: Record<string, string> = {};
const SECRET_A = 'aa'.repeat(32);
const SECRET_B = 'bb'.repeat(32);
const servers: http.Server[] = [];

before(async () => {
  store = new SqliteStore({ path: join(dir, 'state.db') });
  cp = await startControlPlane({ listen: { host: '127.0.0.1', port: 0 }, store, tokens: [OPERATOR], imagesDir: join(dir, 'images'), secretsKey: Buffer.alloc(32, 1), clock, logger: silentLogger });
  base = `http://127.0.0.1:${cp.address.port}`;
  await call(OPERATOR, 'POST', '/v1/apps', { name: 'web', primary_region: 'fra' });
  await call(OPERATOR, 'PUT', '/v1/apps/web/secrets?stage=true', { DB_PASSWORD: 'hunter2-do-not-leak' });
  const placed = (id: string, host: string): MachineDoc => ({ id, app: 'web', region: 'fra', host, release: 1, deploy: null, created_at: new Date(clock.now()).toISOString() });
  await store.put('machines', 'web.ma1', placed('ma1', 'fra-a'));
  await store.put('machines', 'web.mb1', placed('mb1', 'fra-b'));
});
after(async () => {
  for (const s of servers) s.closeAllConnections();
  for (const s of servers) await new Promise((r) => s.close(r));
  await cp.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('host identity', () => {
  it('a host joins once with its join token; the same token a second time, or an expired one, is refused', async () => {
    const tokenA = await addHost(base, OPERATOR, 'fra-a', 'fra');
    const joined = await join_(tokenA);
    assert.equal(joined.status, 200);
    assert.deepEqual([joined.body.host, joined.body.region], ['fra-a', 'fra']);
    assert.match(joined.body.credential, /^sh1_fra-a_[0-9a-f]{64}$/);
    assert.match(joined.body.peer_key, /^[0-9a-f]{64}$/);
    creds.a = joined.body.credential;
    const again = await join_(tokenA);
    assert.equal(again.status, 401, 'a join token works once');
    assert.match(again.body.error.message, /used already|not valid/);

    creds.b = (await join_(await addHost(base, OPERATOR, 'fra-b', 'fra'))).body.credential;
    const late = await addHost(base, OPERATOR, 'fra-c', 'fra');
    assert.equal(((await call(OPERATOR, 'GET', '/v1/hosts')).body.pending as { host: string }[]).some((p) => p.host === 'fra-c'), true, 'listed as not joined');
    clock.advance(3_600_001);
    const expired = await join_(late);
    assert.equal(expired.status, 401);
    assert.equal(expired.body.error.code, 'ERR_TOKEN_EXPIRED');
    const unused = await addHost(base, OPERATOR, 'fra-d', 'fra');
    assert.equal((await call(unused, 'GET', '/v1/apps')).status, 403, 'a join token is good for joining only');
    assert.equal((await call(unused, 'GET', '/v1/snapshot')).status, 403);
  });

  it("another host's credential gets 403 on every host-scoped route", async () => {
    const agent = await fakeAgent((res) => res.writeHead(404).end());
    servers.push(agent.server);
    assert.equal((await register(creds.a!, 'fra-a', 'fra', agent.url, SECRET_A)).status, 201);
    assert.equal((await register(creds.b!, 'fra-b', 'fra', agent.url, SECRET_B)).status, 201);
    const asB = [
      await register(creds.b!, 'fra-a', 'fra', 'http://127.0.0.1:1', SECRET_B),
      await report(creds.b!, 'fra-a', 'web', 'ma1'),
      await call(creds.b!, 'GET', '/v1/hosts/fra-a/apps/web/machines/ma1/secrets'),
      await call(creds.b!, 'GET', '/v1/watch?timeout=0&host=fra-a'),
      await call(creds.b!, 'GET', '/v1/snapshot?host=fra-a'),
    ];
    assert.deepEqual(asB.map((r) => r.status), [403, 403, 403, 403, 403]);
    assert.ok(asB.every((r) => r.body.error.code === 'ERR_FORBIDDEN'));
    assert.equal(((await store.get('hosts', 'fra-a'))?.value as { agent_url: string }).agent_url, agent.url, 'fra-a was not re-registered by fra-b');
  });

  it('a host reports and fetches secrets only for machines placed on it, even under its own name', async () => {
    // fra-b claims fra-a's machine is healthy, naming itself: refused, and nothing is stored.
    const fake = await report(creds.b!, 'fra-b', 'web', 'ma1');
    assert.equal(fake.status, 403);
    assert.equal(await store.get('machine_states', 'web.ma1'), undefined, 'no fake state was stored');
    const secrets = await call(creds.b!, 'GET', '/v1/hosts/fra-b/apps/web/machines/ma1/secrets');
    assert.equal(secrets.status, 403);
    assert.ok(!JSON.stringify(secrets.body).includes('hunter2'));
    // Its own machine: fine.
    assert.equal((await report(creds.a!, 'fra-a', 'web', 'ma1')).status, 200);
    assert.equal(((await store.get('machine_states', 'web.ma1'))?.value as MachineStateDoc).host, 'fra-a');
    const own = await call(creds.a!, 'GET', '/v1/hosts/fra-a/apps/web/machines/ma1/secrets');
    assert.deepEqual(own.body.secrets, { DB_PASSWORD: 'hunter2-do-not-leak' });
    // A host may still report a machine it ran after its placement is gone (destroyed).
    await store.delete('machines', 'web.ma1');
    assert.equal((await call(creds.a!, 'PUT', '/v1/hosts/fra-a/apps/web/machines/ma1/state', { state: 'destroyed', healthy: false, release: 1 })).status, 200);
    await store.put('machines', 'web.ma1', { id: 'ma1', app: 'web', region: 'fra', host: 'fra-a', release: 1, deploy: null, created_at: new Date(clock.now()).toISOString() });
  });

  it('registers only in the region it joined in; the operator and org tokens cannot act as a host', async () => {
    const elsewhere = await register(creds.a!, 'fra-a', 'ams', 'http://127.0.0.1:1', SECRET_A);
    assert.equal(elsewhere.status, 403);
    assert.match(elsewhere.body.error.message, /joined in region fra/);
    assert.equal((await report(OPERATOR, 'fra-a', 'web', 'ma1')).status, 403);
    assert.equal((await call(OPERATOR, 'POST', '/v1/hosts', { id: 'fra-a', region: 'ams' })).status, 409, 'a joined host cannot be re-added elsewhere');
  });

  it('asks each host for logs with the secret it chose, and stops reading an answer over the cap', async () => {
    const calm = await fakeAgent((res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ entries: [{ time: '2026-01-01T00:00:00.000Z', stream: 'stdout', message: 'hello from a' }] })));
    let written = 0;
    let cut = false;
    const flood = await fakeAgent((res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.on('close', () => (cut = !res.writableFinished));
      const chunk = Buffer.alloc(1 << 20, 0x20);
      const more = (): void => {
        while (written < 100 << 20) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', more);
        }
        res.end();
      };
      more();
    });
    servers.push(calm.server, flood.server);
    await register(creds.a!, 'fra-a', 'fra', calm.url, SECRET_A);
    await register(creds.b!, 'fra-b', 'fra', flood.url, SECRET_B);
    const logs = await call(OPERATOR, 'GET', '/v1/apps/web/logs');
    assert.equal(logs.status, 200);
    assert.deepEqual(logs.body.lines.map((l: { message: string }) => l.message), ['hello from a']);
    assert.deepEqual(logs.body.unreachable.map((u: { host: string }) => u.host), ['fra-b']);
    assert.match(logs.body.unreachable[0].error, /over the \d+-byte cap/);
    assert.deepEqual(calm.auth, [`Bearer ${SECRET_A}`], "fra-a is asked with fra-a's secret");
    assert.deepEqual(flood.auth, [`Bearer ${SECRET_B}`], "fra-b with fra-b's: no shared token goes anywhere");
    assert.ok(written < 100 << 20 || cut, `the flood was cut off (${written >> 20} MiB written)`);
  });

  it("a removed host's credential stops working at once; one with machines needs force", async () => {
    const refused = await call(OPERATOR, 'DELETE', '/v1/hosts/fra-b');
    assert.equal(refused.status, 409);
    assert.equal(refused.body.error.code, 'ERR_HOST_HAS_MACHINES');
    assert.equal((await call(creds.b!, 'GET', '/v1/snapshot')).status, 200);
    const removed = await call(OPERATOR, 'DELETE', '/v1/hosts/fra-b?force=true');
    assert.deepEqual(removed.body, { deleted: 'fra-b', machines: 1, wireguard_peers: [] });
    assert.equal((await call(creds.b!, 'GET', '/v1/snapshot')).status, 401);
    assert.equal((await register(creds.b!, 'fra-b', 'fra', 'http://127.0.0.1:1', SECRET_B)).status, 401);
    assert.equal(await store.get('machines', 'web.mb1'), undefined, 'its machines were dropped');
    assert.equal((await call(OPERATOR, 'DELETE', '/v1/hosts/fra-b?force=true')).status, 404);
  });
});
