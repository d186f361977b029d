/**
 * response_idle_timeout (regression: a machine whose response stalled mid-body held the client's
 * connection forever). A scripted machine sends a head and part of a body, then nothing; the proxy
 * runs on a ManualClock, so the timeout is crossed by advancing it, never by sleeping. Streams that
 * keep sending (a keep-alive every timeout), a client that stops reading and a slow upload are not cut.
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { DEFAULT_LIMITS } from '../../src/proxy/index.js';
import type { ManualClock } from '../../src/shared/index.js';
import { machine, startProxy, type TestProxy } from '../helpers/proxy.js';
import { RawConn, startRawUpstream, type RawUpstream } from '../helpers/raw.js';
import { makeCert, staticContexts, type TestCert } from '../helpers/tls.js';
import { waitFor } from '../helpers/wait.js';

const HOST = 'web.test';
const IDLE = 5000;
const SWEEP = DEFAULT_LIMITS.sweepIntervalMs;
const BIG = 16 * 1024 * 1024;
const HEADS: Record<string, string> = {
  '/length': 'HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n' + 'x'.repeat(100),
  '/chunked': 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n',
  '/close': 'HTTP/1.1 200 OK\r\nconnection: close\r\n\r\npartial',
  '/sse': 'HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n',
  '/truncated': 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n',
  '/upload': 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n7\r\nstarted\r\n',
};
const KEEPALIVE = ': keep-alive\n\n';
const chunk = (text: string): string => `${text.length.toString(16)}\r\n${text}\r\n`;

describe('response_idle_timeout: a machine that stops sending its body mid-response', () => {
  let up: RawUpstream;
  let p: TestProxy;
  let clock: ManualClock;
  let cert: TestCert;
  let tlsPort: number;
  /** The machine's side of the latest request. */
  let machineSide: net.Socket | undefined;
  /** The machine's /big writer is blocked on a full socket, with this many bytes written. */
  let bigBlocked = false;
  let bigWritten = 0;
  /** What the machine has read of the /upload body. */
  let uploaded = '';
  const cleanup: (() => void)[] = [];

  before(async () => {
    up = await startRawUpstream((socket, head) => {
      const path = /^[A-Z]+ (\S+) HTTP/.exec(head)?.[1];
      if (path === undefined) return; // body bytes that looked like a head
      machineSide = socket;
      if (path === '/big') return sendBig(socket);
      socket.write(HEADS[path] ?? 'HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n');
      if (path === '/truncated') socket.end();
      if (path === '/upload') {
        uploaded = '';
        socket.on('data', (d: Buffer) => {
          uploaded += d.toString('latin1');
          if (uploaded.endsWith('0\r\n\r\n')) socket.write(chunk('done') + '0\r\n\r\n');
        });
      }
    });
    p = await startProxy({ apps: [{ name: 'web', hostnames: [HOST], machines: [machine('m1', 'fra', up.port)] }] }, {
      manualClock: true,
      limits: { responseIdleTimeoutMs: IDLE },
    });
    clock = p.clock as ManualClock;
    cert = makeCert([HOST]);
    tlsPort = (await p.proxy.listenTls('127.0.0.1', 0, staticContexts({ [HOST]: cert }))).port;
  });
  afterEach(() => {
    for (const f of cleanup.splice(0)) f();
    machineSide = undefined;
    bigBlocked = false;
  });
  after(async () => {
    p.close();
    await up.close();
  });

  /** A 16 MiB body in 64 KiB writes, each waiting for 'drain' when the socket is full. */
  function sendBig(socket: net.Socket): void {
    socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${BIG}\r\n\r\n`);
    const piece = Buffer.alloc(64 * 1024, 0x79);
    bigWritten = 0;
    const pump = (): void => {
      bigBlocked = false;
      while (bigWritten < BIG && !socket.destroyed) {
        bigWritten += piece.length;
        if (!socket.write(piece)) {
          bigBlocked = true;
          return void socket.once('drain', pump);
        }
      }
    };
    pump();
  }

  const cutLines = (): Record<string, unknown>[] => p.logs.filter((l) => String(l.msg).startsWith('machine stopped sending'));
  const idleCuts = (): number => Number(/starling_proxy_response_idle_timeouts_total\{app="web"\} (\d+)/.exec(p.proxy.metricsText())?.[1] ?? 0);
  const accessLine = (path: string, from: number): Record<string, unknown> | undefined => p.access.slice(from).find((l) => l.path === path);

  /**
   * The response to `path` has started and the machine is silent: nothing is cut before the timeout;
   * after it the exchange ends, once logged and counted, and the machine's connection is closed.
   */
  async function cutAfterTimeout(path: string): Promise<void> {
    const logged = p.access.length;
    const cuts = idleCuts();
    const lines = cutLines().length;
    clock.advance(IDLE - SWEEP);
    assert.equal(accessLine(path, logged), undefined, 'not cut before response_idle_timeout');
    await waitFor(() => {
      clock.advance(SWEEP);
      return accessLine(path, logged) !== undefined;
    }, `the stalled response to ${path} to be cut off`);
    const line = accessLine(path, logged)!;
    assert.equal(line.status, 200);
    assert.match(String(line.error), /no response body bytes for 5000 ms/);
    assert.ok(Number(line.duration_ms) >= IDLE, `cut after ${String(line.duration_ms)} ms`);
    assert.equal(idleCuts(), cuts + 1);
    assert.equal(cutLines().length, lines + 1, 'one log line per cut');
    assert.equal(cutLines().at(-1)!.machine, 'm1');
    await waitFor(() => machineSide?.destroyed === true, 'the machine connection to be closed, not pooled');
  }

  it('HTTP/1.1, Content-Length: the client connection closes before the length', async () => {
    const c = await RawConn.open(p.port);
    cleanup.push(() => c.close());
    c.write(`GET /length HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`);
    await c.until((t) => t.endsWith('x'.repeat(100)), 'the head and 100 body bytes');
    await cutAfterTimeout('/length');
    await c.waitClosed();
    const body = c.text.slice(c.text.indexOf('\r\n\r\n') + 4);
    assert.match(c.text, /content-length: 1000\r\n/i);
    assert.equal(body.length, 100, 'fewer bytes than the length: the client knows it is truncated');
  });

  it('HTTP/1.1, chunked: the connection closes without the last chunk', async () => {
    const c = await RawConn.open(p.port);
    cleanup.push(() => c.close());
    c.write(`GET /chunked HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`);
    await c.until((t) => t.includes('5\r\nhello\r\n'), 'the head and the first chunk');
    await cutAfterTimeout('/chunked');
    await c.waitClosed();
    assert.match(c.text, /transfer-encoding: chunked\r\n/i);
    assert.ok(!c.text.includes('0\r\n\r\n'), `no terminating chunk: ${JSON.stringify(c.text)}`);
  });

  it('HTTP/1.1, a body delimited by the close: the connection is reset, not ended', async () => {
    const s = net.connect(p.port, '127.0.0.1');
    cleanup.push(() => s.destroy());
    let text = '';
    let error: string | undefined;
    let closed = false;
    s.on('data', (d: Buffer) => (text += d.toString('latin1')));
    s.on('error', (e: NodeJS.ErrnoException) => (error = e.code));
    s.on('close', () => (closed = true));
    s.write(`GET /close HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`);
    await waitFor(() => text.endsWith('partial'), `the head and part of the body; got ${JSON.stringify(text)}`);
    await cutAfterTimeout('/close');
    await waitFor(() => closed, 'the proxy to cut the connection');
    assert.equal(error, 'ECONNRESET', 'an end (FIN) would make the partial body look complete');
  });

  /** An HTTP/2 GET on a fresh session, recording what the client sees of the stream. */
  function h2Get(path: string) {
    const session = http2.connect(`https://127.0.0.1:${tlsPort}`, { ca: cert.caPem, servername: HOST });
    cleanup.push(() => session.destroy());
    session.on('error', () => undefined);
    const req = session.request({ ':path': path, ':authority': HOST });
    const st = { session, req, status: 0, body: '', ended: false, closed: false };
    req.on('response', (h) => (st.status = Number(h[':status'])));
    req.on('data', (d: Buffer) => (st.body += d.toString('latin1')));
    req.on('end', () => (st.ended = true));
    req.on('error', () => undefined);
    req.on('close', () => (st.closed = true));
    req.end();
    return st;
  }

  for (const [path, partial] of [['/length', 'x'.repeat(100)], ['/chunked', 'hello']] as const) {
    it(`HTTP/2 (${path}): the stream is reset without END_STREAM, the session goes on`, async () => {
      const st = h2Get(path);
      await waitFor(() => st.body === partial, `the head and ${JSON.stringify(partial)}`);
      assert.equal(st.status, 200);
      await cutAfterTimeout(path);
      await waitFor(() => st.closed, 'the stream to be reset');
      assert.equal(st.req.rstCode, http2.constants.NGHTTP2_INTERNAL_ERROR);
      assert.equal(st.ended, false, 'the body did not end: a client cannot take it for complete');
      assert.equal(st.body, partial);
      assert.ok(!st.session.closed && !st.session.destroyed, 'only the stream is reset');
    });
  }

  /** Sends 10 keep-alives, each a full response_idle_timeout after the previous, then ends. */
  async function keepAlivesAreNotCut(received: () => string, done: () => boolean): Promise<void> {
    await waitFor(() => machineSide !== undefined, 'the request to reach the machine');
    const cuts = idleCuts();
    for (let i = 1; i <= 10; i++) {
      machineSide!.write(chunk(KEEPALIVE));
      await waitFor(() => received().split(KEEPALIVE).length - 1 === i, `keep-alive ${i} to reach the client`);
      clock.advance(IDLE);
    }
    assert.equal(idleCuts(), cuts, 'a stream that sends at least once per timeout is not cut');
    machineSide!.write(chunk('data: bye\n\n') + '0\r\n\r\n');
    await waitFor(done, 'the whole stream to arrive');
  }

  it('HTTP/2: a body the machine cut short is reset, not ended (a cut stream used to get END_STREAM first)', async () => {
    const st = h2Get('/truncated');
    await waitFor(() => st.closed, 'the stream to be closed');
    assert.equal(st.body, 'hello');
    assert.equal(st.ended, false, 'no END_STREAM: the truncated body does not look complete');
    assert.equal(st.req.rstCode, http2.constants.NGHTTP2_INTERNAL_ERROR);
  });

  it('HTTP/1.1: server-sent events with a keep-alive every timeout are never cut', async () => {
    const c = await RawConn.open(p.port);
    cleanup.push(() => c.close());
    c.write(`GET /sse HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`);
    await c.until((t) => t.includes('\r\n\r\n'), 'the head');
    await keepAlivesAreNotCut(
      () => c.text,
      () => c.text.endsWith('0\r\n\r\n'),
    );
    const [r] = await c.responses(1);
    assert.equal(r!.body, KEEPALIVE.repeat(10) + 'data: bye\n\n');
    assert.ok(!c.closed, 'the connection is kept alive');
  });

  it('HTTP/2: server-sent events with a keep-alive every timeout are never cut', async () => {
    const session = http2.connect(`https://127.0.0.1:${tlsPort}`, { ca: cert.caPem, servername: HOST });
    cleanup.push(() => session.destroy());
    session.on('error', () => undefined);
    const req = session.request({ ':path': '/sse', ':authority': HOST });
    let body = '';
    let closed = false;
    req.on('data', (d: Buffer) => (body += d.toString('latin1')));
    req.on('close', () => (closed = true));
    req.end();
    await keepAlivesAreNotCut(
      () => body,
      () => closed,
    );
    assert.equal(body, KEEPALIVE.repeat(10) + 'data: bye\n\n');
    assert.equal(req.rstCode, http2.constants.NGHTTP2_NO_ERROR, 'ended, not reset');
  });

  it('a client that stops reading is not the machine stalling (the stall timeout applies, not this one)', async () => {
    const s = net.connect(p.port, '127.0.0.1');
    cleanup.push(() => s.destroy());
    let head = '';
    let got = 0;
    s.on('error', () => undefined);
    s.on('data', (d: Buffer) => {
      got += d.length;
      if (head.includes('\r\n\r\n')) return;
      head += d.toString('latin1');
      if (head.includes('\r\n\r\n')) s.pause();
    });
    s.write(`GET /big HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`);
    // Blocked for good, not for a moment: the proxy has stopped reading the machine (it paused it
    // for the slow reader) once a blocked write sees no drain from one poll to the next.
    let seen = -1;
    await waitFor(
      () => {
        const settled = bigBlocked && head.includes('\r\n\r\n') && seen === bigWritten;
        seen = bigBlocked ? bigWritten : -1;
        return settled;
      },
      'the machine to block on the slow reader',
      15_000,
      100,
    );
    const cuts = idleCuts();
    clock.advance(3 * IDLE);
    assert.ok(3 * IDLE < DEFAULT_LIMITS.stallTimeoutMs);
    assert.equal(idleCuts(), cuts, JSON.stringify(cutLines()));
    s.resume();
    await waitFor(() => got - (head.indexOf('\r\n\r\n') + 4) === BIG, 'the whole 16 MiB body', 15_000);
  });

  it('a machine that answers at once and waits for a slow upload is not cut', async () => {
    const c = await RawConn.open(p.port);
    cleanup.push(() => c.close());
    c.write(`POST /upload HTTP/1.1\r\nHost: ${HOST}\r\nTransfer-Encoding: chunked\r\n\r\n`);
    await c.until((t) => t.includes(chunk('started')), 'the response to start');
    const cuts = idleCuts();
    for (let i = 0; i < 4; i++) {
      c.write(chunk(`part${i}`));
      await waitFor(() => uploaded.includes(`part${i}`), `part ${i} of the upload to reach the machine`);
      clock.advance(2 * IDLE); // longer than the response idle timeout, shorter than the body timeout
    }
    c.write('0\r\n\r\n');
    const [r] = await c.responses(1);
    assert.equal(r!.body, 'starteddone');
    assert.equal(idleCuts(), cuts);
  });
});
