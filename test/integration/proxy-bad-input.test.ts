import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { machine, rawRequest, startProxy, statusOf, type TestProxy } from '../helpers/proxy.js';
import { send, startOrigin, type Origin } from '../helpers/origin.js';
import { parseResponses, RawConn, startRawUpstream, type RawScript, type RawUpstream } from '../helpers/raw.js';
import { waitFor } from '../helpers/wait.js';
import { DEFAULT_LIMITS } from '../../src/proxy/index.js';
import type { ManualClock } from '../../src/shared/index.js';

const H = 'Host: app.test\r\n';
const BIG = 'a'.repeat(70 * 1024);

function app(name: string, host: string, port: number) {
  return { name, hostnames: [host], machines: [machine(`${name}-1`, 'fra', port)] };
}

const oneResponse = (t: string): boolean => parseResponses(t).length >= 1;

/** Requests the proxy must refuse itself, before anything reaches a machine. */
const REFUSED: [string, string, number][] = [
  ['Content-Length then Transfer-Encoding', `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400],
  ['Transfer-Encoding then Content-Length', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n`, 400],
  ['two different Content-Length values', `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`, 400],
  ['a non-hex chunk size', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`, 400],
  ['chunk data without its CRLF', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n`, 400],
  ['a chunk size line ending in a bare LF', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n`, 400],
  ['obs-fold', `GET / HTTP/1.1\r\n${H}X-Folded: a\r\n  b\r\n\r\n`, 400],
  ['space before the colon', `GET / HTTP/1.1\r\n${H}X-Space : a\r\n\r\n`, 400],
  ['NUL in a header', `GET / HTTP/1.1\r\n${H}X-Nul: a\0b\r\n\r\n`, 400],
  ['bare LF in a header', `GET / HTTP/1.1\r\n${H}X-Lf: a\nX-Injected: b\r\n\r\n`, 400],
  ['bare CR in a header', `GET / HTTP/1.1\r\n${H}X-Cr: a\rb\r\n\r\n`, 400],
  ['a request line without version', `GET /\r\n${H}\r\n`, 400],
  ['a request line with two spaces', `GET  / HTTP/1.1\r\n${H}\r\n`, 400],
  ['an unknown version', `GET / HTTP/2.0\r\n${H}\r\n`, 400],
  ['HTTP/1.1 without Host', 'GET / HTTP/1.1\r\n\r\n', 400],
  ['two Host headers', `GET / HTTP/1.1\r\n${H}Host: other.test\r\n\r\n`, 400],
  ['a header block over 64 KiB', `GET / HTTP/1.1\r\n${H}X-Big: ${BIG}\r\n\r\n`, 431],
  ['an unterminated header block over 64 KiB', `GET / HTTP/1.1\r\n${H}X-Big: ${BIG}`, 431],
];

/** Machines that answer with something the proxy must not pass on. */
const BROKEN: [string, RawScript][] = [
  ['a garbage status line', (s) => s.write('HTTP/1.1 2OO OK\r\ncontent-length: 2\r\n\r\nok')],
  ['no status line at all', (s) => s.write('garbage\r\n\r\n')],
  ['a header with a NUL byte', (s) => s.write('HTTP/1.1 200 OK\r\nx-bad: a\0b\r\ncontent-length: 2\r\n\r\nok')],
  ['a header with a bare LF', (s) => s.write('HTTP/1.1 200 OK\r\nx-bad: a\nx-smuggled: b\r\ncontent-length: 2\r\n\r\nok')],
  ['a complete response head over 64 KiB', (s) => s.write(`HTTP/1.1 200 OK\r\nx-big: ${BIG}\r\ncontent-length: 2\r\n\r\nok`)],
  ['an unterminated response head over 64 KiB', (s) => s.write(`HTTP/1.1 200 OK\r\nx-big: ${BIG}`)],
  ['a close before answering', (s) => s.destroy()],
];

describe('proxy refuses malformed requests and broken machines', () => {
  let p: TestProxy;
  let target: Origin;
  let alive: Origin;
  let held: RawUpstream;
  const broken: RawUpstream[] = [];

  before(async () => {
    target = await startOrigin('target');
    alive = await startOrigin('alive');
    held = await startRawUpstream(() => undefined);
    for (const [, script] of BROKEN) broken.push(await startRawUpstream(script));
    p = await startProxy({
      apps: [
        app('target', 'app.test', target.port),
        app('alive', 'alive.test', alive.port),
        app('held', 'held.test', held.port),
        ...broken.map((b, i) => app(`broken-${i}`, `broken-${i}.test`, b.port)),
      ],
    });
  });

  after(async () => {
    p.close();
    await Promise.all([target.close(), alive.close(), held.close(), ...broken.map((b) => b.close())]);
  });

  async function stillServes(): Promise<void> {
    const r = await send(p.port, 'alive.test', { path: '/ok' });
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-machine'], 'alive');
  }

  for (const [what, bytes, status] of REFUSED) {
    it(`answers ${status} to ${what}, closes the connection, and forwards nothing`, async () => {
      // rawRequest resolves when the proxy closes the connection (and fails on its timeout otherwise).
      const raw = await rawRequest(p.port, bytes);
      assert.equal(statusOf(raw), status, raw.slice(0, 200));
      assert.match(raw, /\r\nconnection: close\r\n/i);
      assert.equal(target.seen.length, 0, 'the request must never reach the machine');
      await stillServes();
    });
  }

  it('a bad chunk after the head was forwarded: 400, connection closed, machine connection cut', async () => {
    const c = await RawConn.open(p.port);
    try {
      c.write('POST /split HTTP/1.1\r\nHost: held.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
      await waitFor(() => held.heads.length === 1, 'the head to reach the machine');
      c.write('zz\r\nmore\r\n0\r\n\r\n');
      await c.waitClosed();
      assert.equal(statusOf(c.text), 400);
      await waitFor(() => held.open() === 0, 'the proxy to cut the machine connection (the body never completes)');
    } finally {
      c.close();
    }
    await stillServes();
  });

  BROKEN.forEach(([what], i) => {
    it(`answers 502 when the machine sends ${what}`, async () => {
      const raw = await rawRequest(p.port, `GET /b HTTP/1.1\r\nHost: broken-${i}.test\r\n\r\n`, { until: oneResponse });
      assert.equal(statusOf(raw), 502, raw.slice(0, 300));
      assert.doesNotMatch(raw, /x-bad|x-big|x-smuggled/i, 'nothing of the broken head reaches the client');
      assert.equal(broken[i]!.heads.length >= 1, true);
      await stillServes();
    });
  });

  it('counts the refusals in metrics', () => {
    const m = p.proxy.metricsText();
    for (const code of ['length_and_chunked', 'conflicting_content_length', 'obs_fold', 'missing_host', 'head_too_large', 'bad_chunk_size', 'bad_upstream_response']) {
      assert.match(m, new RegExp(`starling_proxy_rejected_requests_total\\{reason="${code}"\\} [1-9]`), code);
    }
  });
});

describe('proxy timeouts (manual clock)', () => {
  const limits = { ...DEFAULT_LIMITS, idleTimeoutMs: 600_000 };
  let p: TestProxy;
  let clock: ManualClock;
  let target: Origin;
  let silent: RawUpstream;

  before(async () => {
    target = await startOrigin('target');
    silent = await startRawUpstream(() => undefined);
    p = await startProxy({ apps: [app('target', 'app.test', target.port), app('silent', 'silent.test', silent.port)] }, { manualClock: true, limits });
    clock = p.clock as ManualClock;
  });

  after(async () => {
    p.close();
    await Promise.all([target.close(), silent.close()]);
  });

  async function stillServes(): Promise<void> {
    assert.equal((await send(p.port, 'app.test', { path: '/after' })).status, 200);
  }

  it('slowloris: a head not finished within headerTimeoutMs gets 408 and the connection closed', async () => {
    const c = await RawConn.open(p.port);
    try {
      c.write(`GET /slow HTTP/1.1\r\n${H}X-Partial: yes\r\n`);
      // The head's deadline starts when the proxy reads the first bytes; advance until it has passed.
      await waitFor(() => {
        clock.advance(limits.headerTimeoutMs + limits.sweepIntervalMs);
        return oneResponse(c.text);
      }, 'a 408 for the unfinished head');
      assert.equal(statusOf(c.text), 408);
      assert.match(c.text, /\r\nconnection: close\r\n/i);
      await c.waitClosed();
      assert.equal(target.seen.length, 0);
    } finally {
      c.close();
    }
    await stillServes();
  });

  it('a body that stops arriving gets 408 after bodyTimeoutMs', async () => {
    const c = await RawConn.open(p.port);
    try {
      c.write(`POST /upload HTTP/1.1\r\nHost: silent.test\r\nContent-Length: 100\r\n\r\n0123456789`);
      await waitFor(() => silent.heads.length === 1, 'the head to reach the machine');
      clock.advance(limits.bodyTimeoutMs - limits.sweepIntervalMs);
      assert.doesNotMatch(p.proxy.metricsText(), /reason="body_timeout"/, 'not before bodyTimeoutMs');
      clock.advance(2 * limits.sweepIntervalMs);
      await c.waitClosed();
      assert.equal(statusOf(c.text), 408);
      await waitFor(() => silent.open() === 0, 'the machine connection to be cut');
    } finally {
      c.close();
    }
    await stillServes();
  });

  it('a machine that does not answer within responseTimeoutMs gets the client a 504', async () => {
    const c = await RawConn.open(p.port);
    try {
      const before = silent.heads.length;
      c.write('GET /never HTTP/1.1\r\nHost: silent.test\r\n\r\n');
      await waitFor(() => silent.heads.length === before + 1, 'the request to reach the machine');
      clock.advance(limits.responseTimeoutMs - limits.sweepIntervalMs);
      assert.doesNotMatch(p.proxy.metricsText(), /status="504"/, 'not before responseTimeoutMs');
      clock.advance(2 * limits.sweepIntervalMs);
      const [r] = await c.responses(1);
      assert.equal(r!.status, 504);
    } finally {
      c.close();
    }
    await stillServes();
  });

  it('an idle keep-alive connection is closed after idleTimeoutMs, not before', async () => {
    const c = await RawConn.open(p.port);
    try {
      c.write(`GET /one HTTP/1.1\r\n${H}\r\n`);
      await c.responses(1);
      clock.advance(limits.idleTimeoutMs - 2 * limits.sweepIntervalMs);
      c.write(`GET /two HTTP/1.1\r\n${H}\r\n`);
      const rs = await c.responses(2, 'a second answer on the same connection (still open)');
      assert.equal(rs[1]!.status, 200);
      clock.advance(limits.idleTimeoutMs + limits.sweepIntervalMs);
      await c.waitClosed('the idle connection to be closed');
      assert.equal(rs.length, 2);
    } finally {
      c.close();
    }
    await stillServes();
  });
});
