/**
 * A host's place on the mesh, given by the control plane (loopback, SQLite): the lowest free host
 * number when it first registers a key, the same one on every later registration, freed when the
 * host is removed; two hosts registering at once never share one; another host's key is refused.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SqliteStore, startControlPlane, type ControlPlane } from '../../src/control/index.js';
import { generateMeshKeys } from '../../src/mesh/index.js';
import { ManualClock, silentLogger } from '../../src/shared/index.js';
import { addHost } from '../helpers/hosts.js';

const OPERATOR = 'operator-token-mesh-0123456789';
const dir = mkdtempSync(join(tmpdir(), 'starling-host-mesh-'));
const clock = new ManualClock(Date.UTC(2026, 0, 1));
let store: SqliteStore;
let cp: ControlPlane;
let base = '';
const creds = new Map<string, string>();

async function call(token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const res = await fetch(base + path, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? null : JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

async function joined(host: string): Promise<string> {
  const r = await call(await addHost(base, OPERATOR, host, 'fra'), 'POST', '/v1/hosts/join');
  creds.set(host, r.body.credential as string);
  return r.body.credential as string;
}

const register = (host: string, publicKey: string, endpoint = '192.0.2.7:51820', extra: Record<string, unknown> = {}) =>
  call(creds.get(host)!, 'PUT', `/v1/hosts/${host}`, { region: 'fra', capacity: { machines: 4 }, agent_url: 'http://127.0.0.1:1', agent_secret: 'cc'.repeat(32), mesh: { public_key: publicKey, endpoint, ...extra } });

before(async () => {
  store = new SqliteStore({ path: join(dir, 'state.db') });
  cp = await startControlPlane({ listen: { host: '127.0.0.1', port: 0 }, store, tokens: [OPERATOR], imagesDir: join(dir, 'images'), secretsKey: Buffer.alloc(32, 1), clock, logger: silentLogger, privatePrefix: 'fd12::/16' });
  base = `http://127.0.0.1:${cp.address.port}`;
});
after(async () => {
  await cp.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('host numbers on the mesh', () => {
  const keys = new Map<string, string>();
  it('the lowest free number, the address and subnet in the configured prefix, kept on re-registration', async () => {
    for (const h of ['h1', 'h2', 'h3']) {
      await joined(h);
      keys.set(h, generateMeshKeys().publicKey);
      const r = await register(h, keys.get(h)!);
      assert.equal(r.status, 201);
    }
    const again = await register('h2', keys.get('h2')!, '192.0.2.99:51820');
    assert.equal(again.status, 200);
    assert.deepEqual(again.body.mesh, { public_key: keys.get('h2'), endpoint: '192.0.2.99:51820', number: 2, address: 'fd12:2::1/16', subnet: 'fd12:2::/32' });
    // Where its proxy takes other hosts' requests on the mesh: kept in the document the feed carries.
    const withBackhaul = await register('h2', keys.get('h2')!, '192.0.2.99:51820', { backhaul_port: 4280 });
    assert.equal(withBackhaul.body.mesh.backhaul_port, 4280);
  });

  it('another host\'s key is refused, and a malformed one is a 400 naming the field', async () => {
    const r = await register('h1', keys.get('h3')!);
    assert.equal(r.status, 409);
    assert.equal(r.body.error.code, 'ERR_MESH_KEY_IN_USE');
    const bad = await register('h1', 'not-a-key');
    assert.equal(bad.status, 400);
    assert.match(JSON.stringify(bad.body), /mesh\.public_key/);
    const badPort = await register('h1', keys.get('h1')!, '192.0.2.7:51820', { backhaul_port: 0 });
    assert.equal(badPort.status, 400);
    assert.match(JSON.stringify(badPort.body), /mesh\.backhaul_port/);
  });

  it('a removed host\'s number is given to the next host, and hosts registering at once get different ones', async () => {
    assert.equal((await call(OPERATOR, 'DELETE', '/v1/hosts/h2')).status, 200);
    await joined('h4');
    await joined('h5');
    const [r4, r5] = await Promise.all([register('h4', generateMeshKeys().publicKey), register('h5', generateMeshKeys().publicKey)]);
    // One of two racing registrations may be told to retry (409 ERR_STORE_CONFLICT), as the agent does.
    const retried = await Promise.all(
      [['h4', r4], ['h5', r5]].map(async ([h, r]) => ((r as { status: number }).status === 409 ? register(h as string, generateMeshKeys().publicKey) : r)),
    );
    const numbers = retried.map((r) => (r as { body: { mesh: { number: number } } }).body.mesh.number).sort();
    assert.deepEqual(numbers, [2, 4]);
  });
});
