/**
 * Host liveness on a ManualClock: a host holding a long poll stays alive however long the poll
 * lasts; one not heard from for the timeout is written down, and up again when heard from; after a
 * start every host gets a full timeout first.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HostHealth } from '../../src/control/api/host-health.js';
import { MemoryStore } from '../../src/control/index.js';
import { type HostDoc } from '../../src/contract/index.js';
import { ManualClock, silentLogger } from '../../src/shared/index.js';

const T = new Date(0).toISOString();
const host = (id: string): HostDoc => ({ id, region: 'fra', capacity: { machines: 1 }, agent_url: 'http://127.0.0.1:1', healthy: true, registered_at: T, updated_at: T });

async function setup(): Promise<{ store: MemoryStore; clock: ManualClock; health: HostHealth; healthy: (id: string) => Promise<boolean | undefined> }> {
  const store = new MemoryStore();
  const clock = new ManualClock();
  for (const id of ['a', 'b']) await store.put('hosts', id, host(id));
  const health = new HostHealth({ store, clock, logger: silentLogger, timeoutMs: 1000 });
  return { store, clock, health, healthy: async (id) => ((await store.get('hosts', id))?.value as HostDoc).healthy };
}

describe('HostHealth', () => {
  it('gives every host a full timeout after a start, then marks down the silent one only', async () => {
    const { clock, health, healthy } = await setup();
    clock.advance(900);
    await health.sweep();
    assert.deepEqual([await healthy('a'), await healthy('b')], [true, true], 'within the first timeout');
    const leave = health.enter('a'); // a holds a long poll
    clock.advance(5_000);
    await health.sweep();
    assert.deepEqual([await healthy('a'), await healthy('b')], [true, false], 'a held its poll for 5 s; b said nothing');
    leave();
    clock.advance(999);
    await health.sweep();
    assert.equal(await healthy('a'), true, 'the timeout counts from the end of the poll');
    clock.advance(2);
    await health.sweep();
    assert.equal(await healthy('a'), false);
  });

  it('a host heard from again is marked up, with when it was last seen', async () => {
    const { store, clock, health, healthy } = await setup();
    clock.advance(2_000);
    await health.sweep();
    assert.equal(await healthy('b'), false);
    health.seen('b');
    await health.sweep();
    const doc = (await store.get('hosts', 'b'))?.value as HostDoc;
    assert.equal(doc.healthy, true);
    assert.equal(doc.last_seen, new Date(clock.now()).toISOString());
  });
});
