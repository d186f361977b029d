import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ChunkedScanner, type ChunkErrorCode } from '../../src/proxy/codec/index.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

interface Outcome {
  /** Index just past the body in the whole input, -1 on an error, or the input length when unfinished. */
  end: number;
  done: boolean;
  error: ChunkErrorCode | undefined;
  /** Payload ranges in whole-input indices, adjacent ranges merged. */
  ranges: [number, number][];
}

/** Feeds `input` to one scanner as separate buffers cut at `cuts`, like successive socket reads. */
function scanPieces(input: Buffer, cuts: number[]): Outcome {
  const s = new ChunkedScanner();
  const ranges: [number, number][] = [];
  const bounds = [0, ...cuts, input.length];
  let end = input.length;
  for (let p = 0; p + 1 < bounds.length; p++) {
    const off = bounds[p]!;
    const piece = input.subarray(off, bounds[p + 1]);
    const r = s.scan(piece, 0, piece.length, (from, to) => {
      assert.ok(from >= 0 && to <= piece.length && from < to, 'range inside the piece and not empty');
      const last = ranges[ranges.length - 1];
      if (last && last[1] === from + off) last[1] = to + off;
      else ranges.push([from + off, to + off]);
    });
    if (r < 0) {
      end = -1;
      break;
    }
    if (s.done) {
      end = r + off;
      break;
    }
    assert.equal(r, piece.length, 'an unfinished scan consumes the whole piece');
  }
  return { end, done: s.done, error: s.error, ranges };
}

const whole = (input: Buffer): Outcome => scanPieces(input, []);

/** Asserts that every two-piece split, and byte-at-a-time feeding, give the same outcome as one piece. */
function assertSplitInvariant(input: Buffer): Outcome {
  const expected = whole(input);
  for (let k = 0; k <= input.length; k++) {
    assert.deepEqual(scanPieces(input, [k]), expected, `split at ${k}`);
  }
  const everyByte = Array.from({ length: input.length - 1 }, (_, i) => i + 1);
  assert.deepEqual(scanPieces(input, everyByte), expected, 'byte at a time');
  return expected;
}

const slices = (input: Buffer, o: Outcome): string[] => o.ranges.map(([f, t]) => input.toString('latin1', f, t));

describe('ChunkedScanner: valid bodies', () => {
  it('finds the end of a simple body and yields its payload', () => {
    const body = b('5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n');
    const o = whole(body);
    assert.equal(o.done, true);
    assert.equal(o.error, undefined);
    assert.equal(o.end, body.length);
    assert.deepEqual(slices(body, o), ['hello', ' world']);
  });

  it('reads hex sizes in either case, with leading zeros', () => {
    const payload = 'x'.repeat(26);
    const body = b(`a\r\n${payload.slice(0, 10)}\r\nF\r\n${payload.slice(10, 25)}\r\n0001\r\n${payload.slice(25)}\r\n000\r\n\r\n`);
    const o = whole(body);
    assert.equal(o.end, body.length);
    assert.equal(slices(body, o).join(''), payload);
  });

  it('accepts a 13-digit size (leading zeros)', () => {
    const body = b('0000000000005\r\nhello\r\n0\r\n\r\n');
    assert.equal(whole(body).end, body.length);
  });

  it('skips chunk extensions, on data chunks and on the last chunk', () => {
    const body = b('5;name=value;flag\r\nhello\r\n0;last="yes"\r\n\r\n');
    const o = whole(body);
    assert.equal(o.end, body.length);
    assert.deepEqual(slices(body, o), ['hello']);
  });

  it('passes over trailer fields', () => {
    const body = b('3\r\nabc\r\n0\r\nExpires: never\r\nX-Checksum: 1234\r\n\r\n');
    const o = whole(body);
    assert.equal(o.end, body.length);
    assert.deepEqual(slices(body, o), ['abc']);
  });

  it('stops at the body end when the next pipelined request follows', () => {
    const body = '4\r\nwiki\r\n0\r\n\r\n';
    const input = b(`${body}GET /next HTTP/1.1\r\nHost: a\r\n\r\n`);
    const o = whole(input);
    assert.equal(o.end, body.length);
    assert.deepEqual(slices(input, o), ['wiki']);
  });

  it('needs more bytes until the final CRLF, returning the range end meanwhile', () => {
    const s = new ChunkedScanner();
    const part = b('5\r\nhello\r\n0\r\n\r');
    assert.equal(s.scan(part, 0, part.length), part.length);
    assert.equal(s.done, false);
    assert.equal(s.scan(b('\n'), 0, 1), 1);
    assert.equal(s.done, true);
  });

  it('consumes nothing more once done', () => {
    const s = new ChunkedScanner();
    const input = b('0\r\n\r\nGET');
    assert.equal(s.scan(input, 0, input.length), 5);
    assert.equal(s.scan(input, 5, input.length), 5);
    assert.equal(s.done, true);
  });

  it('honours start and end inside a larger buffer', () => {
    const input = b('XXXX2\r\nhi\r\n0\r\n\r\nYYYY');
    const ranges: [number, number][] = [];
    const s = new ChunkedScanner();
    assert.equal(s.scan(input, 4, input.length - 4, (f, t) => ranges.push([f, t])), input.length - 4);
    assert.deepEqual(ranges, [[7, 9]]);
  });
});

describe('ChunkedScanner: split at every byte boundary', () => {
  it('gives the same end and payload ranges for a body with extensions and trailers', () => {
    const input = b('5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0;e\r\nX-T: 1\r\nY: 2\r\n\r\nGET / HTTP/1.1\r\n');
    const o = assertSplitInvariant(input);
    assert.equal(o.done, true);
    assert.equal(o.end, input.indexOf('GET'));
    assert.deepEqual(slices(input, o), ['hello', 'abcdefghijklmnopqrstuvwxyz']);
  });

  it('gives the same end for an empty body followed by more bytes', () => {
    const input = b('0\r\n\r\nnext');
    assert.equal(assertSplitInvariant(input).end, 5);
  });

  it('gives the same error code however an invalid body is split', () => {
    for (const [text, code] of [
      ['5\r\nhelloX\r\n0\r\n\r\n', 'bad_chunk_framing'],
      ['3\r\nabc\r\nzz\r\n', 'bad_chunk_size'],
      ['0\r\nX: 1\nY: 2\r\n\r\n', 'bad_chunk_framing'],
    ] as const) {
      const o = assertSplitInvariant(b(text));
      assert.equal(o.end, -1, text);
      assert.equal(o.error, code, text);
    }
  });
});

describe('ChunkedScanner: errors', () => {
  const errorOf = (text: string): ChunkErrorCode | undefined => {
    const o = whole(b(text));
    assert.equal(o.end, -1, `${JSON.stringify(text.slice(0, 40))} is rejected`);
    assert.equal(o.done, false);
    return o.error;
  };

  it('bad_chunk_size: non-hex digits', () => {
    assert.equal(errorOf('g\r\n'), 'bad_chunk_size');
    assert.equal(errorOf('5x\r\nhello\r\n0\r\n\r\n'), 'bad_chunk_size');
    assert.equal(errorOf('-5\r\n'), 'bad_chunk_size');
    assert.equal(errorOf('0x5\r\n'), 'bad_chunk_size');
    assert.equal(errorOf('5 \r\nhello\r\n0\r\n\r\n'), 'bad_chunk_size');
  });

  it('bad_chunk_size: empty size, also before an extension', () => {
    assert.equal(errorOf('\r\n'), 'bad_chunk_size');
    assert.equal(errorOf(';ext\r\n'), 'bad_chunk_size');
    assert.equal(errorOf('5\r\nhello\r\n\r\n'), 'bad_chunk_size');
  });

  it('bad_chunk_size: 14 or more hex digits (beyond a safe integer)', () => {
    assert.equal(errorOf('00000000000005\r\nhello\r\n0\r\n\r\n'), 'bad_chunk_size');
    assert.equal(errorOf('ffffffffffffffffff\r\n'), 'bad_chunk_size');
  });

  it('bad_chunk_framing: no CRLF after the data', () => {
    assert.equal(errorOf('5\r\nhello0\r\n\r\n'), 'bad_chunk_framing');
    assert.equal(errorOf('5\r\nhello\rX'), 'bad_chunk_framing');
    assert.equal(errorOf('5\r\nhelloo\r\n'), 'bad_chunk_framing');
  });

  it('rejects LF-only line endings wherever they appear', () => {
    assert.equal(errorOf('5\nhello\n0\n\n'), 'bad_chunk_size');
    assert.equal(errorOf('5\r\nhello\n0\r\n\r\n'), 'bad_chunk_framing');
    assert.equal(errorOf('5;ext\nhello\r\n'), 'bad_chunk_framing');
    assert.equal(errorOf('5\rhello'), 'bad_chunk_framing');
    assert.equal(errorOf('0\r\n\n'), 'bad_chunk_framing');
    assert.equal(errorOf('0\r\nX: 1\n\r\n'), 'bad_chunk_framing');
    assert.equal(errorOf('0\r\n\rX'), 'bad_chunk_framing');
  });

  it('chunk_ext_too_long: a huge extension, though a modest one is fine', () => {
    const ok = b(`1;${'a'.repeat(1000)}\r\nx\r\n0\r\n\r\n`);
    assert.equal(whole(ok).end, ok.length);
    assert.equal(errorOf(`1;${'a'.repeat(5000)}\r\nx\r\n0\r\n\r\n`), 'chunk_ext_too_long');
  });

  it('trailer_too_long: one huge trailer field, or many that add up', () => {
    const ok = b(`0\r\nX: ${'a'.repeat(1000)}\r\n\r\n`);
    assert.equal(whole(ok).end, ok.length);
    assert.equal(errorOf(`0\r\nX: ${'a'.repeat(17 * 1024)}\r\n\r\n`), 'trailer_too_long');
    const many = Array.from({ length: 20 }, (_, i) => `X-${i}: ${'b'.repeat(1000)}\r\n`).join('');
    assert.equal(errorOf(`0\r\n${many}\r\n`), 'trailer_too_long');
  });
});
