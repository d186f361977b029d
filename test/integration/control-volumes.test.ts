/**
 * Volumes through the control plane's API (loopback): a volume goes to a healthy host of
 * its region with room (the host's registered volume_gb); sizes and regions that do not fit are
 * refused before anything is made; it grows, never shrinks; its host reports it; a mounted one
 * cannot be destroyed, nor its host removed without force; a scale of a release that mounts a
 * volume puts each machine on the host of a free volume of that name, one machine per volume.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { callApi, startLoopbackControl, type LoopbackControl } from '../helpers/control.js';
import { joinHost } from '../helpers/hosts.js';

let lc: LoopbackControl;
let store: LoopbackControl['store'];
let OPERATOR = '';
const creds = new Map<string, string>();
const call = (token: string, method: string, path: string, body?: unknown) => callApi(lc.url, token, method, path, body);

async function host(id: string, region: string, volumeGb: number): Promise<void> {
  creds.set(id, await joinHost(lc.url, OPERATOR, id, region));
  const r = await call(creds.get(id)!, 'PUT', `/v1/hosts/${id}`, { region, capacity: { machines: 4, volume_gb: volumeGb }, agent_url: 'http://127.0.0.1:1', agent_secret: 'cc'.repeat(32) });
  assert.equal(r.status, 201, JSON.stringify(r.body));
}

before(async () => {
  lc = await startLoopbackControl('starling-control-volumes-');
  store = lc.store;
  OPERATOR = lc.token;
  assert.equal((await call(OPERATOR, 'POST', '/v1/apps', { name: 'db', primary_region: 'fra' })).status, 201);
  await host('fra1', 'fra', 10);
  await host('fra2', 'fra', 4);
});
after(async () => {
  await lc?.close();
});

describe('volumes', () => {
  const ids: string[] = [];

  it('a volume goes to a host of its region with room for it, pending until its host reports it', async () => {
    const r = await call(OPERATOR, 'POST', '/v1/apps/db/volumes', { name: 'pg_data', region: 'fra', size_gb: 6 });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.match(r.body.id, /^vol_[0-9a-f]{14}$/);
    assert.deepEqual([r.body.host, r.body.size_gb, r.body.state, r.body.attached_machine], ['fra1', 6, 'pending', null], 'fra2 has 4 GB only');
    ids.push(r.body.id);
    const second = await call(OPERATOR, 'POST', '/v1/apps/db/volumes', { name: 'pg_data', region: 'fra' });
    assert.equal(second.body.host, 'fra2', 'a second volume of the app on the other host (spread), 1 GB by default');
    assert.equal(second.body.size_gb, 1);
    ids.push(second.body.id);
  });

  it('refused before anything is made: no room, an unknown region, a bad name or size', async () => {
    const big = await call(OPERATOR, 'POST', '/v1/apps/db/volumes', { name: 'pg_data', region: 'fra', size_gb: 5 });
    assert.equal(big.status, 400);
    assert.equal(big.body.error.code, 'ERR_NO_CAPACITY');
    assert.match(big.body.error.message, /no host in fra has 5 GB free for volumes \(the most any has: 4 GB\)/);
    const none = await call(OPERATOR, 'POST', '/v1/apps/db/volumes', { name: 'pg_data', region: 'syd' });
    assert.match(none.body.error.message, /region syd has no healthy host/);
    const bad = await call(OPERATOR, 'POST', '/v1/apps/db/volumes', { name: 'Bad-Name', region: 'xyz', size_gb: 0, extra: true });
    assert.equal(bad.status, 400);
    for (const f of ['name', 'region', 'size_gb', 'extra']) assert.match(JSON.stringify(bad.body), new RegExp(f));
    assert.equal((await call(OPERATOR, 'GET', '/v1/apps/db/volumes')).body.volumes.length, 2, 'nothing was made');
  });

  it('its host reports it ready with its use; another host may not', async () => {
    const [id] = ids;
    const report = { state: 'ready', size_gb: 6, used_bytes: 1234, total_bytes: 5_900_000_000 };
    assert.equal((await call(creds.get('fra2')!, 'PUT', `/v1/hosts/fra2/apps/db/volumes/${id}/state`, report)).status, 403);
    assert.equal((await call(creds.get('fra1')!, 'PUT', `/v1/hosts/fra1/apps/db/volumes/${id}/state`, report)).status, 200);
    const shown = (await call(OPERATOR, 'GET', `/v1/apps/db/volumes/${id}`)).body;
    assert.deepEqual([shown.state, shown.used_bytes, shown.total_bytes], ['ready', 1234, 5_900_000_000]);
  });

  it('grows, never shrinks, and only as far as its host has room', async () => {
    const [id] = ids;
    assert.equal((await call(OPERATOR, 'PUT', `/v1/apps/db/volumes/${id}/extend`, { size_gb: 6 })).body.error.code, 'ERR_VOLUME_SIZE');
    const over = await call(OPERATOR, 'PUT', `/v1/apps/db/volumes/${id}/extend`, { size_gb: 11 });
    assert.match(over.body.error.message, /can grow to at most 10 GB/);
    assert.equal((await call(OPERATOR, 'PUT', `/v1/apps/db/volumes/${id}/extend`, { size_gb: 9 })).body.size_gb, 9);
  });

  it("a scale of a release that mounts the volume: each machine on a free volume's host, one per volume, the lacking volumes made of initial_size", async () => {
    await store.put('releases', 'db.00000001', { app: 'db', version: 1, config: { app: 'db', primary_region: 'fra', mounts: { source: 'pg_data', destination: '/data', initial_size: '2gb' } }, image: { ref: 'x', digest: 'sha256:' + '0'.repeat(64) }, secrets_version: 0, created_at: 'x' });
    const app = (await store.get('apps', 'db'))!;
    await store.put('apps', 'db', { ...(app.value as object), release_version: 1, deployed_release: 1 });
    // fra1 has 1 GB left (9 of 10 taken), fra2 3 GB: a third 2 GB volume fits on fra2 only, a fourth nowhere.
    const tooMany = await call(OPERATOR, 'POST', '/v1/apps/db/scale', { count: 4, regions: ['fra'] });
    assert.equal(tooMany.body.error.code, 'ERR_NO_CAPACITY');
    assert.match(tooMany.body.error.message, /2 volumes of 2 GB asked for, 1 fit/);
    assert.equal((await call(OPERATOR, 'GET', '/v1/apps/db/volumes')).body.volumes.length, 2, 'nothing was made');
    const r = await call(OPERATOR, 'POST', '/v1/apps/db/scale', { count: 3, regions: ['fra'] });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const volumes = (await call(OPERATOR, 'GET', '/v1/apps/db/volumes')).body.volumes as { id: string; host: string; size_gb: number }[];
    const made = volumes.find((v) => !ids.includes(v.id))!;
    assert.deepEqual([made.host, made.size_gb], ['fra2', 2], 'the lacking volume, of initial_size, where it fits');
    const placed = (r.body.created as { host: string; volume: string }[]).map((m) => [m.host, m.volume]).sort();
    assert.deepEqual(placed, [['fra1', ids[0]], ['fra2', ids[1]], ['fra2', made.id]].sort());
    assert.equal((await call(OPERATOR, 'GET', `/v1/apps/db/volumes/${ids[0]!}`)).body.attached_machine, r.body.created.find((m: { volume: string }) => m.volume === ids[0]).id);
  });

  it('a mounted volume is not destroyed; a host with volumes is not removed without force', async () => {
    const attached = await call(OPERATOR, 'DELETE', `/v1/apps/db/volumes/${ids[0]!}`);
    assert.equal(attached.status, 409);
    assert.equal(attached.body.error.code, 'ERR_VOLUME_ATTACHED');
    const hostGone = await call(OPERATOR, 'DELETE', '/v1/hosts/fra2');
    assert.equal(hostGone.status, 409);
    assert.equal((await call(OPERATOR, 'POST', '/v1/apps/db/scale', { count: 0, regions: ['fra'] })).status, 200);
    assert.deepEqual((await call(OPERATOR, 'DELETE', `/v1/apps/db/volumes/${ids[0]!}`)).body, { destroyed: ids[0] });
    assert.equal((await call(OPERATOR, 'DELETE', '/v1/hosts/fra2')).body.error.code, 'ERR_HOST_HAS_VOLUMES');
    assert.equal((await call(OPERATOR, 'DELETE', '/v1/hosts/fra2?force=true')).status, 200);
    assert.deepEqual((await call(OPERATOR, 'GET', '/v1/apps/db/volumes')).body.volumes, [], "the removed host's volume went with it");
  });
});
