/** The one backoff: doubling to a cap, jitter that only ever makes a retry earlier, reset on success. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Backoff } from '../../src/shared/index.js';

test('doubles from the initial delay to the cap, each delay up to the jitter earlier, never later', () => {
  const values = [0, 0.5, 0.999];
  let i = 0;
  const b = new Backoff({ initialMs: 100, maxMs: 800, jitter: 0.2, random: () => values[i++ % values.length]! });
  assert.deepEqual(Array.from({ length: 6 }, () => b.next()), [100, 180, 320, 800, 720, 640]);
  b.reset();
  assert.equal(b.next(), 100, 'after a reset the next failure starts from the initial delay');
});

test('without jitter it is plain doubling; the default jitter stays within 80-100 %', () => {
  const plain = new Backoff({ initialMs: 50, maxMs: 1000, jitter: 0 });
  assert.deepEqual(Array.from({ length: 6 }, () => plain.next()), [50, 100, 200, 400, 800, 1000]);
  const d = new Backoff({ initialMs: 1000, maxMs: 1000 });
  for (let n = 0; n < 100; n++) {
    const v = d.next();
    assert.ok(v >= 800 && v <= 1000, String(v));
  }
});
