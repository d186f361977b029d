import assert from 'node:assert/strict';
import { it } from 'node:test';
import { wgQuickConfig, type CreatedPeerJson } from '../../src/cli/commands/wireguard/wg-quick.js';
import { generateMeshKeys } from '../../src/mesh/index.js';

it("the wg-quick config: the device's key and /128, the .internal DNS, and the gateway as its one peer for the whole prefix", () => {
  const keys = generateMeshKeys();
  const gw = generateMeshKeys().publicKey;
  const peer: CreatedPeerJson = {
    org: 'acme',
    name: 'laptop',
    public_key: keys.publicKey,
    host: 'lhr1',
    region: 'lhr',
    address: 'fdaa:1:1234:5678:8000::42',
    created_at: '2026-01-01T00:00:00.000Z',
    gateway: { public_key: gw, endpoint: '203.0.113.9:51820' },
    network: 'fdaa::/16',
    dns: 'fdaa::3',
  };
  const text = wgQuickConfig(peer, keys.privateKey);
  // wg-quick's own reading: sections, then `Key = value` lines; comments start with #.
  const sections: Record<string, Record<string, string>> = {};
  let at = '';
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const s = /^\[(\w+)\]$/.exec(line);
    if (s) {
      at = s[1]!;
      sections[at] = {};
      continue;
    }
    const kv = /^(\w+) = (.+)$/.exec(line);
    assert.ok(kv, `a wg-quick line: ${line}`);
    sections[at]![kv[1]!] = kv[2]!;
  }
  assert.deepEqual(sections, {
    Interface: { PrivateKey: keys.privateKey, Address: 'fdaa:1:1234:5678:8000::42/128', DNS: 'fdaa::3' },
    Peer: { PublicKey: gw, AllowedIPs: 'fdaa::/16', Endpoint: '203.0.113.9:51820', PersistentKeepalive: '25' },
  });
});
