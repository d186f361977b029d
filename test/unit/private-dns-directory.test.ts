import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { privateDnsDirectory, upstreamOf } from '../../src/agent/index.js';
import { machineAddress, peerAddress } from '../../src/mesh/index.js';
import { parseIp } from '../../src/shared/index.js';
import type { SyncView } from '../../src/sync/index.js';

const T = '2026-01-01T00:00:00.000Z';
const host = (id: string, n?: number) => ({ id, region: 'fra', capacity: { machines: 8 }, agent_url: 'http://x', ...(n ? { mesh: { public_key: '', endpoint: '', number: n, address: `fdaa:${n}::1/16`, subnet: `fdaa:${n}::/32` } } : {}), registered_at: T, updated_at: T });
const machine = (app: string, id: string, h: string, extra: Record<string, unknown> = {}) => [`${app}.${id}`, { id, app, region: h === 'h2' ? 'iad' : 'fra', host: h, release: 1, deploy: null, created_at: T, ...extra }] as const;

function view(): SyncView {
  return {
    revision: 3,
    documents: new Map<string, Map<string, unknown>>([
      ['hosts', new Map([['h1', host('h1', 1)], ['h2', host('h2', 2)], ['h3', host('h3')]])],
      ['apps', new Map([['web', { name: 'web', org: 'acme' }], ['db', { name: 'db' }]])],
      ['machines', new Map([
        machine('web', 'aaaaaaaaaaaaaa', 'h1'),
        machine('web', 'bbbbbbbbbbbbbb', 'h2', { process_group: 'worker' }),
        machine('web', 'cccccccccccccc', 'h3'), // its host is not on the mesh
        machine('web', 'dddddddddddddd', 'h1', { role: 'release_command' }),
        machine('db', 'eeeeeeeeeeeeee', 'h1'),
      ])],
      ['machine_states', new Map([
        ['web.aaaaaaaaaaaaaa', { id: 'aaaaaaaaaaaaaa', app: 'web', host: 'h1', state: 'started', healthy: true }],
        ['web.bbbbbbbbbbbbbb', { id: 'bbbbbbbbbbbbbb', app: 'web', host: 'h2', state: 'stopped', healthy: false }],
        ['db.eeeeeeeeeeeeee', { id: 'eeeeeeeeeeeeee', app: 'db', host: 'h1', state: 'started', healthy: false }], // failing its checks
      ])],
      ['wireguard_peers', new Map([
        ['acme.laptop', { org: 'acme', name: 'laptop', public_key: '', host: 'h1', region: 'fra', address: peerAddress('fdaa:1::1/16', 'acme', 'laptop'), created_at: T }],
        ['acme.ci', { org: 'acme', name: 'ci', public_key: '', host: 'h2', region: 'iad', address: peerAddress('fdaa:2::1/16', 'acme', 'ci'), created_at: T }],
      ])],
    ]),
  };
}

describe('the private DNS directory from the synced view', () => {
  it('every placed app machine of a host on the mesh, at its plan address; started only when running and passing its checks', () => {
    const { dns } = privateDnsDirectory(view(), 'h1');
    assert.deepEqual(dns.instances.map((i) => [i.id, i.org, i.group, i.region, i.started, i.address]), [
      ['aaaaaaaaaaaaaa', 'acme', 'app', 'fra', true, machineAddress('fdaa:1::1/16', 'acme', 'aaaaaaaaaaaaaa')],
      ['bbbbbbbbbbbbbb', 'acme', 'worker', 'iad', false, machineAddress('fdaa:2::1/16', 'acme', 'bbbbbbbbbbbbbb')],
      ['eeeeeeeeeeeeee', 'personal', 'app', 'fra', false, machineAddress('fdaa:1::1/16', 'personal', 'eeeeeeeeeeeeee')],
    ]);
    assert.deepEqual(dns.apps, [{ name: 'web', org: 'acme' }, { name: 'db', org: 'personal' }]);
  });

  it("knows this host's machines and WireGuard peers as askers (their org and region), and only those", () => {
    const { askers } = privateDnsDirectory(view(), 'h1');
    const key = (a: string) => parseIp(a)!.value;
    assert.deepEqual(askers.get(key(machineAddress('fdaa:1::1/16', 'acme', 'aaaaaaaaaaaaaa'))), { org: 'acme', region: 'fra' });
    assert.equal(askers.get(key(machineAddress('fdaa:2::1/16', 'acme', 'bbbbbbbbbbbbbb'))), undefined, "another host's machine does not ask here");
    assert.deepEqual(askers.get(key(peerAddress('fdaa:1::1/16', 'acme', 'laptop'))), { org: 'acme', region: 'fra' }, 'a laptop this host is the gateway of');
    assert.equal(askers.get(key(peerAddress('fdaa:2::1/16', 'acme', 'ci'))), undefined, "another gateway's peer does not ask here");
    assert.equal(askers.size, 3);
  });

  it("takes the host's first nameserver that is an IP address", () => {
    assert.deepEqual(upstreamOf('# x\nsearch lan\nnameserver resolver.lan\nnameserver 192.0.2.53\nnameserver ::1\n'), { host: '192.0.2.53', port: 53 });
    assert.equal(upstreamOf('search lan\n'), undefined);
  });
});
