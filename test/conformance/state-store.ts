/**
 * The behaviour every StateStore shares; each implementation runs `storeConformance(name, make)`.
 * Revisions are relative to a fresh store's revision(), so a counter need not start at 0.
 */
import type { ErrorCode } from '../../src/shared/index.js';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { after, describe, it } from 'node:test';
import type { Change, StateStore } from '../../src/control/store/index.js';
import { isStarlingError } from '../../src/shared/index.js';
import { waitFor } from '../helpers/wait.js';

export interface StateStoreFixture {
  store: StateStore;
  cleanup?: () => Promise<void>;
}

export function rejectsWith(code: ErrorCode, fault?: 'user' | 'system'): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(isStarlingError(e, code), `expected ${code}, got ${inspect(e)}`);
    if (fault) assert.equal(e.fault, fault);
    return true;
  };
}

const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Records a watch: every change, and the error that ended it. */
function record(store: StateStore, since: number, opts?: { collections?: string[] }) {
  const seen: Change[] = [];
  const w = { since, seen, error: undefined as Error | undefined, stop: () => {} };
  w.stop = store.watch(since, (c) => void seen.push(c), (e) => (w.error = e), opts);
  return w;
}

export function storeConformance(name: string, make: () => Promise<StateStoreFixture>): void {
  describe(`StateStore conformance: ${name}`, () => {
    const fixtures: StateStoreFixture[] = [];
    const fresh = async (): Promise<{ store: StateStore; r0: number }> => {
      const f = await make();
      fixtures.push(f);
      return { store: f.store, r0: await f.store.revision() };
    };
    after(async () => {
      for (const f of fixtures) {
        await f.store.close().catch(() => {});
        await f.cleanup?.();
      }
    });

    it('put, get, overwrite, delete; reads are copies; JSON semantics', async () => {
      const { store, r0 } = await fresh();
      assert.equal(await store.get('apps', 'web'), undefined);
      assert.equal(await store.put('apps', 'web', { name: 'web', n: 1, gone: undefined }), r0 + 1);
      const got = await store.get('apps', 'web');
      assert.deepEqual(got, { collection: 'apps', key: 'web', value: { name: 'web', n: 1 }, revision: r0 + 1 });
      (got?.value as { n: number }).n = 99;
      assert.deepEqual((await store.get('apps', 'web'))?.value, { name: 'web', n: 1 }, 'mutating a read changes nothing');
      assert.equal(await store.put('apps', 'web', [1, 'two', null]), r0 + 2);
      assert.deepEqual(await store.get('apps', 'web'), { collection: 'apps', key: 'web', value: [1, 'two', null], revision: r0 + 2 });
      assert.equal(await store.get('releases', 'web'), undefined, 'collections are separate');
      assert.equal(await store.delete('apps', 'web'), r0 + 3);
      assert.equal(await store.get('apps', 'web'), undefined);
      assert.equal(await store.delete('apps', 'web'), undefined, 'deleting nothing is not a change');
      assert.equal(await store.revision(), r0 + 3);
      await store.put('apps', 'scalar', 'just a string');
      assert.equal((await store.get('apps', 'scalar'))?.value, 'just a string');
    });

    it('rejects bad names and values, writing nothing', async () => {
      const { store, r0 } = await fresh();
      for (const [c, k] of [['Apps', 'a'], ['', 'a'], ['apps.x', 'a'], ['apps', ''], ['apps', 'a..b'], ['apps', '.a'], ['apps', 'a b'], ['apps', 'a*'], ['apps', 'x'.repeat(513)]]) {
        await assert.rejects(store.put(c as string, k as string, 1), rejectsWith('ERR_STORE_INVALID', 'user'), `${c}/${k}`);
      }
      await assert.rejects(store.put('apps', 'a', undefined), rejectsWith('ERR_STORE_INVALID'));
      await assert.rejects(store.put('apps', 'a', () => 1), rejectsWith('ERR_STORE_INVALID'));
      await assert.rejects(store.put('apps', 'a', { n: 1n }), rejectsWith('ERR_STORE_INVALID'));
      await assert.rejects(store.put('apps', 'a', 'x'.repeat(1_100_000)), rejectsWith('ERR_STORE_TOO_LARGE', 'user'));
      await assert.rejects(store.put('apps', 'a', 1, { expectRevision: -1 }), rejectsWith('ERR_STORE_INVALID'));
      assert.equal(await store.revision(), r0);
      assert.deepEqual(await store.changes(r0), []);
      await store.put('apps', 'web-1_a=b/c.d', 1); // the whole key alphabet
    });

    it('expectRevision: 0 means create-only; a stale revision is ERR_STORE_CONFLICT and costs no revision', async () => {
      const { store, r0 } = await fresh();
      const r1 = await store.put('apps', 'web', { v: 1 }, { expectRevision: 0 });
      await assert.rejects(store.put('apps', 'web', { v: 2 }, { expectRevision: 0 }), rejectsWith('ERR_STORE_CONFLICT', 'user'));
      const r2 = await store.put('apps', 'web', { v: 2 }, { expectRevision: r1 });
      await assert.rejects(store.put('apps', 'web', { v: 3 }, { expectRevision: r1 }), rejectsWith('ERR_STORE_CONFLICT'));
      await assert.rejects(store.put('apps', 'nope', 1, { expectRevision: r1 }), rejectsWith('ERR_STORE_CONFLICT'));
      await assert.rejects(store.delete('apps', 'web', { expectRevision: r1 }), rejectsWith('ERR_STORE_CONFLICT'));
      assert.equal(await store.delete('apps', 'nope', { expectRevision: 0 }), undefined);
      assert.deepEqual((await store.get('apps', 'web'))?.value, { v: 2 });
      assert.equal(await store.revision(), r0 + 2);
      assert.equal(await store.delete('apps', 'web', { expectRevision: r2 }), r0 + 3);
    });

    it('concurrent compare-and-set: exactly one writer wins each round', async () => {
      const { store } = await fresh();
      let rev = await store.put('deploys', 'web', { step: 0 });
      for (let round = 1; round <= 5; round++) {
        const settled = await Promise.allSettled(range(1, 8).map((w) => store.put('deploys', 'web', { step: round, w }, { expectRevision: rev })));
        const won = settled.filter((s) => s.status === 'fulfilled');
        assert.equal(won.length, 1, `round ${round}`);
        for (const s of settled) if (s.status === 'rejected') assert.ok(rejectsWith('ERR_STORE_CONFLICT')(s.reason));
        rev = (won[0] as PromiseFulfilledResult<number>).value;
      }
      assert.equal((await store.get('deploys', 'web'))?.revision, rev);
    });

    it('transactions: ordered, one revision per change, later ops see earlier ones', async () => {
      const { store, r0 } = await fresh();
      assert.deepEqual(await store.transaction([]), []);
      const res = await store.transaction([
        { op: 'put', collection: 'apps', key: 'web', value: { v: 1 }, expectRevision: 0 },
        { op: 'put', collection: 'releases', key: 'web/v1', value: { image: 'sha256:aa' } },
        { op: 'delete', collection: 'machines', key: 'never' },
        { op: 'put', collection: 'apps', key: 'web', value: { v: 2 }, expectRevision: r0 + 1 },
        { op: 'put', collection: 'apps', key: 'tmp', value: 1 },
        { op: 'delete', collection: 'apps', key: 'tmp', expectRevision: r0 + 4 },
      ]);
      assert.deepEqual(res, [r0 + 1, r0 + 2, undefined, r0 + 3, r0 + 4, r0 + 5]);
      assert.deepEqual(await store.get('apps', 'web'), { collection: 'apps', key: 'web', value: { v: 2 }, revision: r0 + 3 });
      assert.equal(await store.get('apps', 'tmp'), undefined);
      const log = await store.changes(r0);
      assert.deepEqual(log.map((c) => [c.revision, c.op, c.collection, c.key]), [
        [r0 + 1, 'put', 'apps', 'web'], [r0 + 2, 'put', 'releases', 'web/v1'], [r0 + 3, 'put', 'apps', 'web'],
        [r0 + 4, 'put', 'apps', 'tmp'], [r0 + 5, 'delete', 'apps', 'tmp'],
      ]);
    });

    it('transactions are all or nothing: a failing op in the middle leaves nothing', async () => {
      const { store } = await fresh();
      const base = await store.put('apps', 'web', { v: 1 });
      const before = await store.snapshot();
      const bad: Parameters<StateStore['transaction']>[0][] = [
        [{ op: 'put', collection: 'apps', key: 'a', value: 1 }, { op: 'put', collection: 'apps', key: 'web', value: 2, expectRevision: base + 7 }, { op: 'put', collection: 'apps', key: 'b', value: 1 }],
        [{ op: 'delete', collection: 'apps', key: 'web' }, { op: 'put', collection: 'apps', key: 'web', value: 1, expectRevision: base }],
        [{ op: 'put', collection: 'apps', key: 'a', value: 1 }, { op: 'put', collection: 'apps', key: 'a..b', value: 1 }],
        [{ op: 'put', collection: 'apps', key: 'a', value: 1 }, { op: 'put', collection: 'apps', key: 'b', value: undefined }],
        range(1, 1001).map((i) => ({ op: 'put' as const, collection: 'apps', key: `k${i}`, value: i })),
      ];
      const codes: ErrorCode[] = ['ERR_STORE_CONFLICT', 'ERR_STORE_CONFLICT', 'ERR_STORE_INVALID', 'ERR_STORE_INVALID', 'ERR_STORE_TOO_LARGE'];
      for (const [i, ops] of bad.entries()) await assert.rejects(store.transaction(ops), rejectsWith(codes[i]!), `case ${i}`);
      assert.deepEqual(await store.snapshot(), before);
      assert.deepEqual(await store.changes(base), []);
      assert.equal(await store.put('apps', 'next', 1), base + 1, 'no revision was spent');
    });

    it('revisions increase strictly across collections, and changes() reads the log from any point', async () => {
      const { store, r0 } = await fresh();
      const names = ['apps', 'machines', 'hosts', 'secrets', 'releases'];
      const revs: number[] = [];
      for (let i = 0; i < 20; i++) revs.push(await store.put(names[i % 5] as string, `k${i % 3}`, { i }));
      revs.push((await store.delete('apps', 'k0')) as number);
      assert.deepEqual(revs, range(r0 + 1, r0 + 21));
      assert.equal(await store.revision(), r0 + 21);
      const all = await store.changes(r0);
      assert.deepEqual(all.map((c) => c.revision), range(r0 + 1, r0 + 21));
      assert.deepEqual(all[5], { op: 'put', revision: r0 + 6, collection: 'apps', key: 'k2', value: { i: 5 } });
      assert.deepEqual(all[20], { op: 'delete', revision: r0 + 21, collection: 'apps', key: 'k0' });
      assert.deepEqual((await store.changes(r0 + 17)).map((c) => c.revision), [r0 + 18, r0 + 19, r0 + 20, r0 + 21]);
      assert.deepEqual((await store.changes(r0 + 3, { limit: 2 })).map((c) => c.revision), [r0 + 4, r0 + 5]);
      const hosts = await store.changes(r0, { collections: ['hosts', 'secrets'] });
      assert.deepEqual(hosts.map((c) => c.revision), [3, 4, 8, 9, 13, 14, 18, 19].map((n) => r0 + n));
      assert.deepEqual(await store.changes(r0 + 21), []);
      await assert.rejects(store.changes(r0, { limit: 0 }), rejectsWith('ERR_STORE_INVALID'));
      await assert.rejects(store.changes(r0 + 22), rejectsWith('ERR_STORE_FUTURE_REVISION'));
    });

    it('watch: backlog then live changes, in order, no gaps or duplicates, during concurrent writes', async () => {
      const { store, r0 } = await fresh();
      for (let i = 0; i < 30; i++) await store.put('apps', `a${i}`, i);
      let stop = false;
      const writer = (async () => {
        for (let i = 0; !stop; i++) {
          if (i % 5 === 0) await Promise.all(range(1, 4).map((j) => store.put('machines', `m${j}`, i)));
          else await store.transaction([{ op: 'put', collection: 'hosts', key: `h${i % 3}`, value: i }, { op: 'delete', collection: 'hosts', key: `h${(i + 1) % 3}` }]);
          await tick();
        }
      })();
      const watches = [record(store, r0), record(store, r0 + 10)];
      for (let i = 0; i < 5; i++) {
        await tick();
        watches.push(record(store, await store.revision())); // commits land between revision() and watch()
      }
      await waitFor(() => watches.every((w) => w.seen.length >= 40), 'every watcher to see 40 changes');
      stop = true;
      await writer;
      const head = await store.revision();
      await waitFor(() => watches.every((w) => w.seen.at(-1)?.revision === head), 'watchers to reach the head');
      const log = await store.changes(r0);
      for (const w of watches) {
        assert.deepEqual(w.seen.map((c) => c.revision), range(w.since + 1, head));
        assert.deepEqual(w.seen, log.slice(w.since - r0), 'the same changes as the log');
        assert.equal(w.error, undefined);
        w.stop();
      }
    });

    it('watch: a slow async consumer is awaited in order; filters; unsubscribe stops delivery', async () => {
      const { store, r0 } = await fresh();
      const order: string[] = [];
      const stopSlow = store.watch(r0, async (c) => {
        order.push(`start ${c.revision}`);
        await new Promise((resolve) => setTimeout(resolve, 2));
        order.push(`end ${c.revision}`);
      });
      const filtered = record(store, r0, { collections: ['machines'] });
      const stopped = record(store, r0);
      await Promise.all(range(1, 6).map((i) => store.put(i % 2 ? 'machines' : 'apps', `k${i}`, i)));
      await waitFor(() => order.length === 12 && stopped.seen.length === 6, 'every change delivered');
      assert.deepEqual(order, range(r0 + 1, r0 + 6).flatMap((r) => [`start ${r}`, `end ${r}`]));
      assert.deepEqual(filtered.seen.map((c) => c.key).sort(), ['k1', 'k3', 'k5']);
      stopped.stop();
      await store.put('machines', 'k7', 7);
      await waitFor(() => filtered.seen.length === 4, 'the filtered watcher to see k7');
      assert.equal(stopped.seen.length, 6, 'nothing after unsubscribe');
      assert.equal(stopped.error, undefined);
      [stopSlow, filtered.stop].forEach((stop) => stop());
    });

    it('watch: a throwing onChange ends its watch with that error; a future revision is refused', async () => {
      const { store, r0 } = await fresh();
      await store.put('apps', 'a', 1);
      await store.put('apps', 'b', 2);
      const calls: number[] = [];
      let error: Error | undefined;
      store.watch(r0, (c) => {
        calls.push(c.revision);
        throw new Error('consumer broke');
      }, (e) => (error = e));
      await waitFor(() => error !== undefined, 'onError');
      assert.equal(error?.message, 'consumer broke');
      await store.put('apps', 'c', 3);
      const ahead = record(store, r0 + 10);
      await waitFor(() => ahead.error !== undefined, 'onError for a future revision');
      assert.ok(rejectsWith('ERR_STORE_FUTURE_REVISION')(ahead.error));
      assert.deepEqual(calls, [r0 + 1]);
    });

    it('compaction: old history is refused with ERR_STORE_COMPACTED, documents stay, resync from a snapshot', async () => {
      const { store, r0 } = await fresh();
      for (let i = 1; i <= 10; i++) await store.put('apps', `a${i % 4}`, i);
      await store.delete('apps', 'a0');
      await store.compact(r0 + 6);
      await store.compact(r0 + 2); // never moves back
      assert.equal(await store.revision(), r0 + 11);
      assert.deepEqual((await store.changes(r0 + 6)).map((c) => c.revision), range(r0 + 7, r0 + 11));
      await assert.rejects(store.changes(r0 + 5), rejectsWith('ERR_STORE_COMPACTED', 'user'));
      await assert.rejects(store.changes(r0), rejectsWith('ERR_STORE_COMPACTED'));
      await assert.rejects(store.compact(r0 + 12), rejectsWith('ERR_STORE_FUTURE_REVISION'));
      assert.deepEqual((await store.list('apps')).map((e) => [e.key, e.value]), [['a1', 9], ['a2', 10], ['a3', 7]]);
      const stale = record(store, r0 + 3);
      await waitFor(() => stale.error !== undefined, 'ERR_STORE_COMPACTED for a stale watcher');
      assert.ok(rejectsWith('ERR_STORE_COMPACTED')(stale.error));
      assert.deepEqual(stale.seen, []);
      // The resync an agent does: snapshot, then watch from its revision.
      const snap = await store.snapshot({ collections: ['apps'] });
      assert.equal(snap.revision, r0 + 11);
      const live = record(store, snap.revision);
      assert.equal(await store.put('apps', 'a4', 12), r0 + 12, 'numbering continues after compaction');
      await waitFor(() => live.seen.length === 1, 'the live change after resync');
      assert.equal(live.seen[0]?.revision, r0 + 12);
      live.stop();
      await store.compact(r0 + 12);
      assert.deepEqual(await store.changes(r0 + 12), [], 'the whole log can be compacted');
    });

    it('list by prefix, in bytewise key order; snapshot by collection', async () => {
      const { store, r0 } = await fresh();
      for (const key of ['web/2', 'web/10', 'web2', 'we', 'worker/1', 'Web/1', 'web-x', 'web.x', 'web/1']) await store.put('machines', key, key);
      await store.put('apps', 'web', 1);
      const keys = async (prefix?: string) => (await store.list('machines', prefix === undefined ? {} : { prefix })).map((e) => e.key);
      assert.deepEqual(await keys(), ['Web/1', 'we', 'web-x', 'web.x', 'web/1', 'web/10', 'web/2', 'web2', 'worker/1']);
      assert.deepEqual(await keys('web/'), ['web/1', 'web/10', 'web/2']);
      assert.deepEqual(await keys('web/1'), ['web/1', 'web/10']);
      assert.deepEqual(await keys('web'), ['web-x', 'web.x', 'web/1', 'web/10', 'web/2', 'web2']);
      assert.deepEqual(await keys('x'), []);
      assert.deepEqual(await store.list('hosts'), []);
      await assert.rejects(store.list('machines', { prefix: 'web*' }), rejectsWith('ERR_STORE_INVALID'));
      const snap = await store.snapshot({ collections: ['apps', 'hosts'] });
      assert.deepEqual(snap, { revision: await store.revision(), entries: [{ collection: 'apps', key: 'web', value: 1, revision: r0 + 10 }] });
      assert.equal((await store.snapshot()).entries.length, 10);
    });

    it('close: later calls fail with ERR_STORE_CLOSED and watches end with it', async () => {
      const { store, r0 } = await fresh();
      await store.put('apps', 'a', 1);
      const w = record(store, r0);
      await waitFor(() => w.seen.length === 1, 'the first change');
      await store.close();
      await waitFor(() => w.error !== undefined, 'the watch to end');
      assert.ok(rejectsWith('ERR_STORE_CLOSED', 'system')(w.error));
      await assert.rejects(store.get('apps', 'a'), rejectsWith('ERR_STORE_CLOSED'));
      await assert.rejects(store.put('apps', 'a', 2), rejectsWith('ERR_STORE_CLOSED'));
    });
  });
}
