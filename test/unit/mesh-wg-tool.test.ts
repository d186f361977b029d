import assert from 'node:assert/strict';
import { it } from 'node:test';
import { generateMeshKeys, parseWgDump, wgSetArgs } from '../../src/mesh/index.js';

it('wg set: the device\'s own settings (the key from a file, never argv), removals, then peers with their allowed ips replaced', () => {
  const [a, b] = [generateMeshKeys().publicKey, generateMeshKeys().publicKey];
  const key = generateMeshKeys().privateKey;
  const args = wgSetArgs('swmesh0', { privateKey: key, listenPort: 51820, remove: [a], put: [{ publicKey: b, endpoint: '[2001:db8::1]:51820', allowedIps: ['fdaa:2::/32'], keepalive: 25 }] }, '/dev/stdin');
  assert.deepEqual(args, ['set', 'swmesh0', 'listen-port', '51820', 'private-key', '/dev/stdin', 'peer', a, 'remove', 'peer', b, 'endpoint', '[2001:db8::1]:51820', 'persistent-keepalive', '25', 'allowed-ips', 'fdaa:2::/32']);
  assert.ok(!args.includes(key), 'the private key is not an argument');
  const client = wgSetArgs('swmesh0', { put: [{ publicKey: b, endpoint: undefined, allowedIps: ['fdaa:2:1:2:8000::1/128', 'fdaa:2::9/128'], keepalive: 0 }] });
  assert.deepEqual(client.slice(2), ['peer', b, 'persistent-keepalive', 'off', 'allowed-ips', 'fdaa:2:1:2:8000::1/128,fdaa:2::9/128'], 'no endpoint: the peer starts');
  assert.throws(() => wgSetArgs('swmesh0', { privateKey: key }), /needs a file/);
  assert.throws(() => wgSetArgs('swmesh0', { put: [{ publicKey: b, endpoint: '1.2.3.4:5 allowed-ips 0.0.0.0/0', allowedIps: [], keepalive: 0 }] }), /bad endpoint/);
  assert.throws(() => wgSetArgs('-h', {}), /bad interface name/);
});

it('wg show dump: peers by key, endpoints, allowed ips, handshake, transfer, keepalive; the private key not kept', () => {
  const [priv, pub, p1, p2] = ['cHJpdmF0ZWtleXByaXZhdGVrZXlwcml2YXRla2V5MDA=', 'cHVibGlja2V5cHVibGlja2V5cHVibGlja2V5cHViMDA=', 'cGVlcm9uZXBlZXJvbmVwZWVyb25lcGVlcm9uZXBlZTE=', 'cGVlcnR3b3BlZXJ0d29wZWVydHdvcGVlcnR3b3BlZTI='];
  const dump = [
    `${priv}\t${pub}\t51820\toff`,
    `${p1}\t(none)\t10.64.0.26:51820\tfdaa:2::/32\t1764800000\t1234\t5678\t25`,
    `${p2}\t(none)\t(none)\tfdaa:1:1234:5678:8000::1/128,fdaa:1::7/128\t0\t0\t0\toff`,
    '',
  ].join('\n');
  const s = parseWgDump(dump);
  assert.equal(s.listenPort, 51820);
  assert.equal(s.hasPrivateKey, true);
  assert.ok(!JSON.stringify([...s.peers.values()]).includes(priv));
  assert.deepEqual(s.peers.get(p1), { publicKey: p1, endpoint: '10.64.0.26:51820', allowedIps: ['fdaa:2::/32'], lastHandshakeMs: 1764800000000, rxBytes: 1234, txBytes: 5678, keepalive: 25 });
  assert.deepEqual(s.peers.get(p2), { publicKey: p2, endpoint: undefined, allowedIps: ['fdaa:1:1234:5678:8000::1/128', 'fdaa:1::7/128'], lastHandshakeMs: 0, rxBytes: 0, txBytes: 0, keepalive: 0 });
  assert.equal(parseWgDump('(none)\tx\t0\toff\n').hasPrivateKey, false);
});
