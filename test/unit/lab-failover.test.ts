/**
 * The failover figures from probe lines (src/lab/failover.ts, summarizeCity): the outage window is
 * from sending the first request that failed or was answered elsewhere to the arrival of the first
 * answer from the new PoP; failed requests (no 2xx within 1 s) are counted from the baseline on, and
 * split into late (answered 2xx after all, later) and lost (refused, reset, non-2xx, unanswered).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { summarizeCity, type ProbeLine } from '../../src/lab/index.js';

/** A request sent at `sent` ms: answered by `pop` after `ms`, or failed (pop null) after `ms`. */
const line = (i: number, sent: number, pop: string | null, ms = 2): ProbeLine =>
  pop === null ? { i, sent, done: sent + ms, ok: false, error: 'ECONNREFUSED' } : { i, sent, done: sent + ms, ok: true, status: 200, pop, region: pop, machine: `m-${pop}` };

describe('summarizeCity', () => {
  it('graceful: nothing fails; the window is the first moved answer\'s own time', () => {
    const lines = [line(0, 0, 'lhr'), line(1, 20, 'lhr'), line(2, 40, 'fra', 3), line(3, 60, 'fra')];
    assert.deepEqual(summarizeCity('cdg', lines, 0, 'lhr', 'fra'), { city: 'cdg', from: 'lhr', to: 'fra', expected: 'fra', windowMs: 3, failed: 0, late: 0, lost: 0, resetAtMove: 0, errors: {}, requests: 4, ok: true });
  });

  it('crash or silent: from the first failed request sent to the first answer from the new PoP', () => {
    const lines = [
      line(0, 0, 'fra'),
      line(1, 20, null, 1000), // sent 20: the window opens
      line(2, 40, null, 1000),
      line(3, 300, 'lhr', 4), // a later request answered first...
      line(4, 60, 'lhr', 900), // ...than this retransmitted one, sent earlier
      line(5, 320, 'lhr'),
    ];
    const c = summarizeCity('waw', lines, 0, 'fra', 'lhr');
    assert.equal(c.windowMs, 284, 'first answer from lhr arrived at 304; the first failure was sent at 20');
    assert.deepEqual([c.failed, c.late, c.lost, c.requests, c.to, c.ok], [2, 0, 2, 6, 'lhr', true]);
    assert.deepEqual(c.errors, { ECONNREFUSED: 2 });
  });

  it('a request answered 2xx after more than 1 s is failed, but late, not lost; it opens the window like a failure', () => {
    const lines = [
      line(0, 0, 'lhr'),
      line(1, 20, 'lhr', 1500), // slow: answered, by the old PoP, after 1.5 s
      line(2, 40, 'lhr', 999), // just in time
      { i: 3, sent: 60, done: 62, ok: false, status: 503, error: 'HTTP 503' }, // answered non-2xx: lost
      line(4, 80, 'fra', 3),
      line(5, 100, 'fra'),
    ];
    const c = summarizeCity('cdg', lines, 0, 'lhr', 'fra');
    assert.deepEqual([c.failed, c.late, c.lost, c.requests], [2, 1, 1, 6]);
    assert.deepEqual(c.errors, { 'HTTP 503': 1 }, 'what the lost one got, by kind');
    assert.equal(c.windowMs, 63, 'from the slow request, sent at 20, to the first answer from fra at 83');
    assert.deepEqual([c.to, c.ok], ['fra', true]);
    assert.deepEqual([summarizeCity('cdg', lines, 0, 'lhr', 'fra', 2000).late, summarizeCity('cdg', lines, 0, 'lhr', 'fra', 2000).failed], [0, 1], 'with a 2 s timeout the slow one is in time');
  });

  it('a request reset as the city moves is lost, and told apart from one reset before or after the move, or refused', () => {
    const reset = (i: number, sent: number, ms: number): ProbeLine => ({ i, sent, done: sent + ms, ok: false, error: 'ECONNRESET' });
    const lines = [
      line(0, 0, 'lhr'),
      reset(1, 20, 5), // reset at 25, before the old PoP answered a request sent at 40: not the move
      line(2, 40, 'lhr'),
      reset(3, 60, 30), // open when the route moved: reset at 90, after 40 was sent, sent before 80
      { i: 4, sent: 70, done: 72, ok: false, error: 'ECONNREFUSED' }, // refused: no open connection was cut
      line(5, 80, 'fra', 3), // the first request the new PoP answered
      reset(6, 100, 5), // after the move: a real failure
      line(7, 120, 'fra'),
    ];
    const c = summarizeCity('lhr', lines, 0, 'lhr', 'fra');
    assert.deepEqual([c.lost, c.resetAtMove], [4, 1]);
    assert.deepEqual(c.errors, { ECONNRESET: 3, ECONNREFUSED: 1 });
    const clean = summarizeCity('lhr', [line(0, 0, 'lhr'), reset(1, 20, 30), line(2, 40, 'fra'), line(3, 60, 'fra')], 0, 'lhr', 'fra');
    assert.deepEqual([clean.lost, clean.resetAtMove], [1, 1], 'a graceful drain that lost only the connection open at the move');
  });

  it('ignores what came before the baseline, and is not ok when the city ends on the wrong PoP', () => {
    const lines = [line(0, 0, null), line(1, 20, 'fra'), line(2, 40, 'mad'), line(3, 60, 'mad')];
    const c = summarizeCity('waw', lines, 20, 'fra', 'lhr');
    assert.deepEqual([c.failed, c.requests, c.to, c.windowMs, c.ok], [0, 3, 'mad', 2, false]);
  });

  it('a window that never closed (no answer from a new PoP) is null, and not ok', () => {
    const c = summarizeCity('fra', [line(0, 0, 'fra'), line(1, 20, null), line(2, 40, null)], 0, 'fra', 'lhr');
    assert.deepEqual([c.to, c.windowMs, c.failed, c.lost, c.ok], ['fra', null, 2, 2, false]);
  });
});
