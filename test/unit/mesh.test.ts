import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { checkPrivatePrefix, machineAddress, machineBits, orgNetwork, orgNumber, ORG_NETWORK_MASK, privateDnsAddress, privateNetOf, desiredPeers, clientFilterScript, peerAddress, peerBits, type MeshClient, formatSet, generateMeshKeys, hostAddress, hostSubnet, isWireguardKey, loadOrCreateMeshKeys, parseGet, planPeers, publicKeyOf, type MeshHost } from '../../src/mesh/index.js';
import { silentLogger, isStarlingError } from '../../src/shared/index.js';

const dir = mkdtempSync(join(tmpdir(), 'starling-mesh-unit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('mesh keys', () => {
  it('makes Curve25519 pairs: base64 of 32 bytes each, the public one derived from the private', () => {
    const k = generateMeshKeys();
    assert.ok(isWireguardKey(k.privateKey) && isWireguardKey(k.publicKey));
    assert.equal(publicKeyOf(k.privateKey), k.publicKey);
    assert.notEqual(generateMeshKeys().privateKey, k.privateKey);
  });

  it('keeps the private key in a 0600 file, made once and read back the same', async () => {
    const file = join(dir, 'a', 'wireguard.key');
    const first = await loadOrCreateMeshKeys(file, silentLogger);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(readFileSync(file, 'utf8'), `${first.privateKey}\n`);
    assert.deepEqual(await loadOrCreateMeshKeys(file, silentLogger), first);
    chmodSync(file, 0o644);
    await loadOrCreateMeshKeys(file, silentLogger);
    assert.equal(statSync(file).mode & 0o777, 0o600, 'a readable key file is narrowed');
  });

  it('refuses a key file that holds no key rather than making a new one', async () => {
    const file = join(dir, 'bad.key');
    writeFileSync(file, 'not a key\n', { mode: 0o600 });
    await assert.rejects(loadOrCreateMeshKeys(file, silentLogger), (e) => isStarlingError(e, 'ERR_MESH_KEY') && /move it away/.test((e as Error).message));
    assert.equal(readFileSync(file, 'utf8'), 'not a key\n');
  });
});

describe('UAPI', () => {
  const k = generateMeshKeys();
  const hexPub = Buffer.from(k.publicKey, 'base64').toString('hex');
  it('writes a set: own settings, removals, then peers with their allowed ips replaced', () => {
    const text = formatSet({ privateKey: k.privateKey, listenPort: 51820, remove: [k.publicKey], put: [{ publicKey: k.publicKey, endpoint: '[fd00::2]:51820', allowedIps: ['fdaa:2::/32'], keepalive: 25 }] });
    assert.equal(
      text,
      `set=1\nprivate_key=${Buffer.from(k.privateKey, 'base64').toString('hex')}\nlisten_port=51820\npublic_key=${hexPub}\nremove=true\n` +
        `public_key=${hexPub}\nendpoint=[fd00::2]:51820\npersistent_keepalive_interval=25\nreplace_allowed_ips=true\nallowed_ip=fdaa:2::/32\n\n`,
    );
    assert.throws(() => formatSet({ put: [{ publicKey: k.publicKey, endpoint: '1.2.3.4:1\nprivate_key=00', allowedIps: [], keepalive: 0 }] }), /line break/);
  });

  it('reads a get answer: peers by base64 key, endpoints, allowed ips, handshake time', () => {
    const state = parseGet(
      `private_key=${'ab'.repeat(32)}\nlisten_port=51820\npublic_key=${hexPub}\nendpoint=10.0.0.2:51820\nlast_handshake_time_sec=1700000000\nlast_handshake_time_nsec=500000000\n` +
        'tx_bytes=92\nrx_bytes=148\npersistent_keepalive_interval=25\nallowed_ip=fdaa:2::/32\nerrno=0\n\n',
    );
    assert.equal(state.listenPort, 51820);
    assert.ok(state.hasPrivateKey);
    assert.deepEqual(state.peers.get(k.publicKey), { publicKey: k.publicKey, endpoint: '10.0.0.2:51820', allowedIps: ['fdaa:2::/32'], keepalive: 25, lastHandshakeMs: 1700000000500, rxBytes: 148, txBytes: 92 });
  });
});

describe('mesh plan', () => {
  const host = (id: string, n: number, endpoint = `10.0.0.${n}:51820`): MeshHost => ({ id, publicKey: generateMeshKeys().publicKey, endpoint, address: hostAddress('fdaa::/16', n), subnet: hostSubnet('fdaa::/16', n) });
  const a = host('a', 1);
  const b = host('b', 2);
  const c = host('c', 3);
  const state = (hs: MeshHost[]) => new Map(desiredPeers(hs, 'none').map((p) => [p.publicKey, { ...p, lastHandshakeMs: 0, rxBytes: 0, txBytes: 0 }]));

  it('peers are every other host, with its subnet as allowed ips', () => {
    assert.deepEqual(desiredPeers([b, a, c], 'a').map((p) => [p.publicKey, p.allowedIps]), [[b.publicKey, ['fdaa:2::/32']], [c.publicKey, ['fdaa:3::/32']]]);
    assert.deepEqual(desiredPeers([b, a, c], 'a', new Set([c.publicKey])).map((p) => p.keepalive), [25, 0], 'a held peer gets no keepalive yet');
  });

  it('changes only what differs: a new host, a gone one, a moved endpoint', () => {
    assert.equal(planPeers(state([b, c]), desiredPeers([a, b, c], 'a')), undefined);
    const moved = { ...b, endpoint: '10.9.9.9:51820' };
    const op = planPeers(state([b, c]), desiredPeers([a, moved], 'a'))!;
    assert.deepEqual(op.remove, [c.publicKey]);
    assert.deepEqual(op.put?.map((p) => [p.publicKey, p.endpoint]), [[b.publicKey, '10.9.9.9:51820']]);
  });

  it('a client (laptop) of this gateway: its /128, no endpoint or keepalive of ours, and the endpoint it roams to is left alone', () => {
    const laptop: MeshClient = { label: 'acme/laptop', publicKey: generateMeshKeys().publicKey, address: 'fdaa:1:1234:5678:8000::1' };
    const want = desiredPeers([a, b], 'a', new Set(), [laptop]);
    assert.deepEqual(want.at(-1), { publicKey: laptop.publicKey, endpoint: undefined, allowedIps: ['fdaa:1:1234:5678:8000::1/128'], keepalive: 0 });
    const learned = new Map([...state([b]), [laptop.publicKey, { ...want.at(-1)!, endpoint: '198.51.100.7:40000', lastHandshakeMs: 1, rxBytes: 0, txBytes: 0 }]]);
    assert.equal(planPeers(learned, want), undefined, 'nothing to change: the endpoint is what the laptop sent from');
    assert.deepEqual(planPeers(learned, desiredPeers([a, b], 'a'))?.remove, [laptop.publicKey], 'a removed client is taken off');
    // A client with a host's key (the control plane refuses it) never takes the host's peer.
    assert.deepEqual(desiredPeers([a, b], 'a', new Set(), [{ ...laptop, publicKey: b.publicKey }]).map((p) => p.allowedIps), [['fdaa:2::/32']]);
  });
});

describe("WireGuard clients' filter", () => {
  const acme = (name: string): MeshClient => ({ label: `acme/${name}`, publicKey: generateMeshKeys().publicKey, address: peerAddress('fdaa:7::1/16', 'acme', name) });
  it("lets a client reach its org and the DNS, and drops everything else from the gateway's /32", () => {
    const c = acme('laptop');
    const script = clientFilterScript('swmesh0', 'fdaa:7::/32', [c]);
    const lines = script.split('\n').map((l) => l.trim());
    assert.deepEqual(lines.slice(0, 3), ['table inet swc-swmesh0', 'delete table inet swc-swmesh0', 'table inet swc-swmesh0 {'], 'replaced whole, in one transaction');
    assert.ok(lines.includes(`iifname "swmesh0" ip6 saddr ${c.address} ip6 daddr & ${ORG_NETWORK_MASK} == ${orgNetwork(c.address)} accept`));
    assert.ok(lines.includes(`iifname "swmesh0" ip6 saddr ${c.address} ip6 daddr fdaa::3 meta l4proto { udp, tcp } th dport 53 accept`));
    assert.equal(lines.filter((l) => l === 'iifname "swmesh0" ip6 saddr fdaa:7::/32 drop').length, 2, 'in input and forward, after the accepts');
    assert.ok(lines.indexOf('iifname "swmesh0" ip6 saddr fdaa:7::/32 drop') > lines.findIndex((l) => l.includes('th dport 53 accept')));
    // No clients: the table stays, dropping what it does not know (a client left on an adopted device).
    const none = clientFilterScript('swmesh0', 'fdaa:7::/32', []);
    assert.equal(none.split('\n').filter((l) => l.includes('accept') && !l.includes('policy')).length, 0);
    assert.match(none, /ip6 saddr fdaa:7::\/32 drop/);
  });

  it("a client's address is of its org behind the gateway, with the top machine bit set (never a machine's)", () => {
    const addr = peerAddress('fdaa:7::1/16', 'acme', 'laptop');
    assert.equal(orgNetwork(addr), orgNetwork(machineAddress('fdaa:9::1/16', 'acme', '3d8e4f2a9b1c07')));
    assert.ok(addr.startsWith('fdaa:7:'));
    assert.ok(peerBits('acme', 'laptop') >= 1n << 63n && machineBits('ffffffffffffff') < 1n << 63n);
    assert.notEqual(peerBits('acme', 'laptop'), peerBits('rival', 'laptop'));
    assert.equal(peerAddress('fdaa:7::1/16', 'acme', 'laptop'), addr, 'the same name gives the same address');
  });
});

describe('addressing plan', () => {
  it('host first: the host at <prefix>:<n>::1, everything behind it in one /32', () => {
    assert.equal(hostAddress('fdaa::/16', 1), 'fdaa:1::1/16');
    assert.equal(hostSubnet('fdaa::/16', 0xbeef), 'fdaa:beef::/32');
    assert.equal(hostAddress('fd12::/16', 65535), 'fd12:ffff::1/16');
  });
  it('takes only a unique local /16', () => {
    assert.equal(checkPrivatePrefix('fdaa::/16'), undefined);
    assert.match(checkPrivatePrefix('2001:db8::/16')!, /unique local/);
    assert.match(checkPrivatePrefix('fdaa::/48')!, /\/16/);
    assert.match(checkPrivatePrefix('10.0.0.0/8')!, /IPv6/);
  });
});

describe('machine addresses', () => {
  it('host bits from the host, then the org\'s 32 bits and the machine id: a 14-hex id is readable in it', () => {
    const org = orgNumber('acme');
    const at = machineAddress('fdaa:2::1/16', 'acme', '0123456789abcd');
    assert.equal(at, `fdaa:2:${(org >>> 16).toString(16)}:${(org & 0xffff).toString(16)}:1:2345:6789:abcd`);
    assert.equal(machineAddress('fd12:9::1', 'acme', '0123456789abcd').split(':').slice(0, 2).join(':'), 'fd12:9', 'another prefix and host');
  });

  it('one org is one network on every host; two orgs are two', () => {
    const a = machineAddress('fdaa:2::1/16', 'acme', 'aaaaaaaaaaaaaa');
    assert.equal(orgNetwork(a), orgNetwork(machineAddress('fdaa:3::1/16', 'acme', 'bbbbbbbbbbbbbb')));
    assert.notEqual(orgNetwork(a), orgNetwork(machineAddress('fdaa:2::1/16', 'umbrella', 'bbbbbbbbbbbbbb')));
    const org = orgNumber('acme');
    assert.equal(orgNetwork(a), `fdaa:0:${(org >>> 16).toString(16)}:${(org & 0xffff).toString(16)}::`, 'what the firewall compares');
    assert.equal(ORG_NETWORK_MASK, 'ffff:0:ffff:ffff::');
  });

  it('an id that is not hex gets hashed bits, never the host\'s own ::1', () => {
    assert.notEqual(machineBits('my-machine'), machineBits('my-machine2'));
    assert.equal(machineBits('1'), 3n);
    assert.equal(machineBits('0'), 2n);
  });

  it('the platform /16 and the DNS address around any address of the plan', () => {
    assert.equal(privateNetOf('fdaa:2:1:2:3:4:5:6'), 'fdaa::/16');
    assert.equal(privateDnsAddress('fdaa:2::1/16'), 'fdaa::3');
    assert.equal(privateDnsAddress('fd12:9:a:b::1'), 'fd12::3');
  });
});

