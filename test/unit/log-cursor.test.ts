/**
 * The `since` cursor of the app logs route (control/api/log-cursor.ts): lines sharing a
 * millisecond are neither repeated nor lost, a machine without new lines keeps its place, and a
 * malformed cursor is refused.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatCursor, linesAfter, parseCursor, type LogCursor } from '../../src/control/api/log-cursor.js';

const l = (time: string, message: string) => ({ time, message });

describe('log cursor', () => {
  it('returns only the lines after the cursor, counting lines of the same millisecond', () => {
    const first: LogCursor = new Map();
    const seen = linesAfter('m1', [l('t1', 'a'), l('t2', 'b'), l('t2', 'c')], undefined, first);
    assert.deepEqual(seen.map((x) => x.message), ['a', 'b', 'c']);
    const since = parseCursor(formatCursor(first));
    assert.deepEqual(since?.get('m1'), { time: 't2', n: 2 });
    const next: LogCursor = new Map();
    const more = linesAfter('m1', [l('t2', 'b'), l('t2', 'c'), l('t2', 'd'), l('t3', 'e')], since, next);
    assert.deepEqual(more.map((x) => x.message), ['d', 'e']);
    assert.deepEqual(next.get('m1'), { time: 't3', n: 1 });
    const none: LogCursor = new Map();
    assert.deepEqual(linesAfter('m1', [], next, none), []);
    assert.deepEqual(none.get('m1'), { time: 't3', n: 1 }, 'keeps its place');
  });

  it('refuses what is not a cursor', () => {
    assert.equal(parseCursor('not base64 json'), undefined);
    assert.equal(parseCursor(Buffer.from('{"m1":["t",-1]}').toString('base64url')), undefined);
    assert.equal(parseCursor(Buffer.from('[1]').toString('base64url')), undefined);
  });
});
