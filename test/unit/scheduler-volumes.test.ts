import assert from 'node:assert/strict';
import { it } from 'node:test';
import { freeVolumes, limitToVolumes, pickHostFor, takeVolume, type HostView } from '../../src/control/scheduler/index.js';

const vol = (id: string, host: string, name = 'data', region = 'fra', created_at = `2026-01-01T00:00:0${id.at(-1)}Z`) => ({ id, name, region, host, created_at });

it('free volumes: of the name, mounted by no machine, oldest first', () => {
  const volumes = [vol('v3', 'h2'), vol('v1', 'h1'), vol('v2', 'h1'), vol('v4', 'h1', 'logs')];
  assert.deepEqual(freeVolumes(volumes, [{ volume: 'v2' }, {}], 'data').map((v) => v.id), ['v1', 'v3']);
});

it('a host takes as many new machines as it has free volumes (and slots); a host without one takes none', () => {
  const hosts: HostView[] = [
    { id: 'h1', region: 'fra', capacity: { machines: 8 }, used: 3, healthy: true },
    { id: 'h2', region: 'fra', capacity: { machines: 4 }, used: 4, healthy: true },
    { id: 'h3', region: 'fra', capacity: { machines: 8 }, used: 0, healthy: true },
  ];
  const free = [vol('v1', 'h1'), vol('v2', 'h1'), vol('v3', 'h2')];
  assert.deepEqual(limitToVolumes(hosts, free).map((h) => [h.id, h.capacity.machines]), [['h1', 5], ['h2', 4], ['h3', 0]], 'h2 is full whatever its volumes');
  // h3 is emptiest, but has no volume: the placement never picks it.
  assert.equal(pickHostFor('fra', limitToVolumes(hosts, free), []).host, 'h1');
  const left = [...free];
  assert.equal(takeVolume(left, 'h1', 'fra')?.id, 'v1');
  assert.equal(takeVolume(left, 'h1', 'ams'), undefined, 'a volume of the host in another region does not count');
  assert.deepEqual(left.map((v) => v.id), ['v2', 'v3']);
});
