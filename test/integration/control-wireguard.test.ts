/**
 * WireGuard peers through the control plane's API (loopback): a device gets an address
 * behind a gateway host on the mesh and that host's key and endpoint; admin of the whole org only;
 * another org's peers are not found; names, keys and addresses are never shared; a host's removal
 * takes its peers with it, and the feed carries them to agents. And apps' private service
 * addresses (Flycast): one per app, in its org's network, released with the app.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { generateMeshKeys, isServiceAddress, orgNetwork, peerAddress, serviceAddress } from '../../src/mesh/index.js';
import { callApi, startLoopbackControl, type LoopbackControl } from '../helpers/control.js';
import { joinHost } from '../helpers/hosts.js';

let lc: LoopbackControl;
let OPERATOR = '';
const hostKeys = new Map<string, string>();
const tokens: Record<string, string> = {};
const call = (token: string, method: string, path: string, body?: unknown) => callApi(lc.url, token, method, path, body);

async function meshHost(id: string, region: string, number: number): Promise<void> {
  const cred = await joinHost(lc.url, OPERATOR, id, region);
  hostKeys.set(id, generateMeshKeys().publicKey);
  const r = await call(cred, 'PUT', `/v1/hosts/${id}`, { region, capacity: { machines: 4 }, agent_url: 'http://127.0.0.1:1', agent_secret: 'cc'.repeat(32), mesh: { public_key: hostKeys.get(id), endpoint: `192.0.2.${number}:51820` } });
  assert.equal(r.status, 201, JSON.stringify(r.body));
}

const token = async (org: string, scope: string, app?: string): Promise<string> =>
  (await call(OPERATOR, 'POST', '/v1/tokens', { org, scope, ...(app ? { app } : {}) })).body.token as string;

before(async () => {
  lc = await startLoopbackControl('starling-wireguard-');
  OPERATOR = lc.token;
  for (const org of ['acme', 'rival']) assert.equal((await call(OPERATOR, 'POST', '/v1/orgs', { name: org })).status, 201);
  assert.equal((await call(OPERATOR, 'POST', '/v1/apps', { name: 'web', primary_region: 'lhr', org: 'acme' })).status, 201);
  tokens.admin = await token('acme', 'admin');
  tokens.deploy = await token('acme', 'deploy');
  tokens.read = await token('acme', 'read');
  tokens.appAdmin = await token('acme', 'admin', 'web');
  tokens.rival = await token('rival', 'admin');
});
after(async () => {
  await lc?.close();
});

describe('WireGuard peers', () => {
  const laptop = generateMeshKeys().publicKey;

  it('without a host on the mesh there is no gateway: 409 ERR_NO_GATEWAY', async () => {
    const r = await call(tokens.admin!, 'POST', '/v1/orgs/acme/wireguard', { name: 'laptop', public_key: laptop });
    assert.equal(r.status, 409);
    assert.equal(r.body.error.code, 'ERR_NO_GATEWAY');
  });

  it("a peer gets an address of its org behind the gateway in the region asked, and the gateway's key and endpoint", async () => {
    await meshHost('lhr1', 'lhr', 1);
    await meshHost('fra1', 'fra', 2);
    const r = await call(tokens.admin!, 'POST', '/v1/orgs/acme/wireguard', { name: 'laptop', public_key: laptop, region: 'fra' });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const hosts = (await call(OPERATOR, 'GET', '/v1/hosts')).body.hosts as { id: string; mesh: { address: string } }[];
    const fra = hosts.find((h) => h.id === 'fra1')!;
    assert.equal(r.body.host, 'fra1');
    assert.equal(r.body.region, 'fra');
    assert.equal(r.body.address, peerAddress(fra.mesh.address, 'acme', 'laptop'));
    assert.ok(r.body.address.startsWith('fdaa:2:'), 'behind fra1, host 2');
    assert.equal(orgNetwork(r.body.address), orgNetwork(peerAddress('fdaa:1::1/16', 'acme', 'x')), "of acme's network");
    assert.deepEqual(r.body.gateway, { public_key: hostKeys.get('fra1'), endpoint: '192.0.2.2:51820' });
    assert.equal(r.body.network, 'fdaa::/16');
    assert.equal(r.body.dns, 'fdaa::3');
    const list = await call(tokens.read!, 'GET', '/v1/orgs/acme/wireguard');
    assert.deepEqual(list.body.peers.map((p: { name: string; public_key: string }) => [p.name, p.public_key]), [['laptop', laptop]]);
  });

  it('without a region, the gateway with the fewest peers', async () => {
    const r = await call(tokens.admin!, 'POST', '/v1/orgs/acme/wireguard', { name: 'ci', public_key: generateMeshKeys().publicKey });
    assert.equal(r.status, 201);
    assert.equal(r.body.host, 'lhr1');
  });

  it('only an admin of the whole org makes or removes one; a read token lists', async () => {
    for (const t of [tokens.deploy!, tokens.read!]) {
      assert.equal((await call(t, 'POST', '/v1/orgs/acme/wireguard', { name: 'x', public_key: generateMeshKeys().publicKey })).status, 403);
      assert.equal((await call(t, 'DELETE', '/v1/orgs/acme/wireguard/laptop')).status, 403);
    }
    const app = await call(tokens.appAdmin!, 'POST', '/v1/orgs/acme/wireguard', { name: 'x', public_key: generateMeshKeys().publicKey });
    assert.equal(app.status, 403);
    assert.match(app.body.error.message, /app web only/);
  });

  it("another org's peers do not exist for it, and its own network is another", async () => {
    assert.equal((await call(tokens.rival!, 'GET', '/v1/orgs/acme/wireguard')).status, 404);
    assert.equal((await call(tokens.rival!, 'DELETE', '/v1/orgs/acme/wireguard/laptop')).status, 404);
    const own = await call(tokens.rival!, 'POST', '/v1/orgs/rival/wireguard', { name: 'laptop', public_key: generateMeshKeys().publicKey, region: 'fra' });
    assert.equal(own.status, 201, 'one name in two orgs');
    assert.notEqual(orgNetwork(own.body.address), orgNetwork((await call(tokens.read!, 'GET', '/v1/orgs/acme/wireguard')).body.peers[0].address));
    assert.deepEqual((await call(tokens.rival!, 'GET', '/v1/orgs/rival/wireguard')).body.peers.map((p: { name: string }) => p.name), ['laptop']);
  });

  it('a name or a key in use, a bad key, a bad name, an unknown region are refused, naming what is wrong', async () => {
    const again = await call(tokens.admin!, 'POST', '/v1/orgs/acme/wireguard', { name: 'laptop', public_key: generateMeshKeys().publicKey });
    assert.equal(again.body.error.code, 'ERR_WIREGUARD_PEER_EXISTS');
    const sameKey = await call(tokens.admin!, 'POST', '/v1/orgs/acme/wireguard', { name: 'other', public_key: laptop });
    assert.equal(sameKey.body.error.code, 'ERR_WIREGUARD_KEY_IN_USE');
    const hostKey = await call(tokens.admin!, 'POST', '/v1/orgs/acme/wireguard', { name: 'other', public_key: hostKeys.get('lhr1') });
    assert.equal(hostKey.body.error.code, 'ERR_WIREGUARD_KEY_IN_USE');
    const bad = await call(tokens.admin!, 'POST', '/v1/orgs/acme/wireguard', { name: 'Bad.Name', public_key: 'nope', region: 'xyz', extra: 1 });
    assert.equal(bad.status, 400);
    for (const field of ['name', 'public_key', 'region', 'extra']) assert.match(JSON.stringify(bad.body), new RegExp(field), `names ${field}`);
    assert.equal((await call(tokens.admin!, 'POST', '/v1/orgs/acme/wireguard', { name: 'far', public_key: generateMeshKeys().publicKey, region: 'syd' })).body.error.code, 'ERR_NO_GATEWAY');
  });

  it('the feed carries peers to agents; removal takes one off, and a removed host takes its own', async () => {
    const snapshot = await call(OPERATOR, 'GET', '/v1/snapshot?collections=wireguard_peers');
    const onFeed = (snapshot.body.documents as { key: string; value: { host: string; public_key: string } }[]).map((d) => [d.key, d.value.host, d.value.public_key]);
    assert.deepEqual(onFeed.find(([k]) => k === 'acme.laptop'), ['acme.laptop', 'fra1', laptop]);
    assert.deepEqual((await call(tokens.admin!, 'DELETE', '/v1/orgs/acme/wireguard/ci')).body, { removed: 'ci' });
    assert.equal((await call(tokens.admin!, 'DELETE', '/v1/orgs/acme/wireguard/ci')).body.error.code, 'ERR_WIREGUARD_PEER_NOT_FOUND');
    const removed = await call(OPERATOR, 'DELETE', '/v1/hosts/fra1');
    assert.deepEqual(removed.body.wireguard_peers, ['acme.laptop', 'rival.laptop']);
    assert.deepEqual((await call(tokens.read!, 'GET', '/v1/orgs/acme/wireguard')).body.peers, []);
  });
});

describe('private service addresses (Flycast)', () => {
  it("one per app, in its org's network on host number 0; deploy allocates and releases, read lists, another org sees nothing", async () => {
    const r = await call(tokens.deploy!, 'POST', '/v1/apps/web/ips/private');
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.address, serviceAddress('fdaa::/16', 'acme', 'web'));
    assert.ok(r.body.address.startsWith('fdaa:0:') && isServiceAddress(r.body.address));
    assert.equal(orgNetwork(r.body.address), orgNetwork(peerAddress('fdaa:1::1/16', 'acme', 'x')), "of acme's network");
    assert.equal((await call(tokens.deploy!, 'POST', '/v1/apps/web/ips/private')).body.error.code, 'ERR_PRIVATE_IP_EXISTS');
    assert.equal((await call(tokens.read!, 'POST', '/v1/apps/web/ips/private')).status, 403);
    assert.deepEqual((await call(tokens.read!, 'GET', '/v1/apps/web/ips')).body.ips.map((i: { type: string; address: string }) => [i.type, i.address]), [['private_v6', r.body.address]]);
    assert.equal((await call(tokens.rival!, 'GET', '/v1/apps/web/ips')).status, 404);
    const snapshot = await call(OPERATOR, 'GET', '/v1/snapshot?collections=private_ips');
    assert.deepEqual(snapshot.body.documents.map((d: { key: string }) => d.key), ['web.v6'], 'on the feed for every agent');
    assert.deepEqual((await call(tokens.deploy!, 'DELETE', '/v1/apps/web/ips/private')).body, { released: r.body.address });
    assert.equal((await call(tokens.deploy!, 'DELETE', '/v1/apps/web/ips/private')).body.error.code, 'ERR_PRIVATE_IP_NOT_FOUND');
    assert.equal((await call(tokens.deploy!, 'POST', '/v1/apps/web/ips/private')).body.address, r.body.address, 'the same address again');
  });

  it("destroying the app releases its address", async () => {
    assert.equal((await call(tokens.admin!, 'DELETE', '/v1/apps/web')).status, 200);
    assert.deepEqual((await call(OPERATOR, 'GET', '/v1/snapshot?collections=private_ips')).body.documents, []);
  });
});
