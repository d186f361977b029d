import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { DEFAULT_LIMITS } from '../../src/proxy/index.js';
import type { ManualClock } from '../../src/shared/index.js';
import {
  continuationFrame,
  dataFrame,
  ErrorCode,
  FrameType,
  H2Conn,
  headerBlockFrames,
  headersFrame,
  hpack,
  requestHeaders,
  rstStreamFrame,
  Setting,
} from '../helpers/h2-frames.js';
import { startOrigin, type Origin, type OriginHandler } from '../helpers/origin.js';
import { machine, startProxy, type TestProxy } from '../helpers/proxy.js';
import { h2Status, makeCert, staticContexts, type TestCert } from '../helpers/tls.js';
import { waitFor } from '../helpers/wait.js';

const HOST = 'web.test';
const routes = (port: number) => ({ apps: [{ name: 'web', hostnames: [HOST], machines: [machine('m1', 'fra', port)] }] });

/** One GET with node's own HTTP/2 client on a fresh session; resolves with the status. */
function get2(port: number, ca: string, path: string): Promise<number> {
  return h2Status(http2.connect(`https://127.0.0.1:${port}`, { ca, servername: HOST }), path, HOST);
}

interface Setup {
  origin: Origin;
  /** Request heads that reached the machine, by path. */
  arrived: Map<string, number>;
  p: TestProxy;
  cert: TestCert;
  /** The proxy's TLS port. */
  port: number;
}

/**
 * A TLS proxy in front of one origin. `arrived` counts request heads that reached the machine by path
 * (`onHead` sees them too); `onEnd` answers whole requests instead of the origin's default JSON.
 */
async function setup(
  opts: { manualClock?: boolean } = {},
  hooks: { onHead?: (req: http.IncomingMessage, res: http.ServerResponse) => void; onEnd?: OriginHandler } = {},
): Promise<Setup> {
  const origin = await startOrigin('m1', hooks.onEnd);
  const arrived = new Map<string, number>();
  origin.server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    arrived.set(req.url ?? '', (arrived.get(req.url ?? '') ?? 0) + 1);
    hooks.onHead?.(req, res);
  });
  const p = await startProxy(routes(origin.port), { manualClock: opts.manualClock });
  const cert = makeCert([HOST]);
  const port = (await p.proxy.listenTls('127.0.0.1', 0, staticContexts({ [HOST]: cert }))).port;
  return { origin, arrived, p, cert, port };
}

describe('HTTP/2 abuse is bounded (frames on the wire)', () => {
  let s: Setup;
  const conns: H2Conn[] = [];
  /** Requests held open at the machine (POST /hold never gets its body), and the most at once. */
  let holding = 0;
  let maxHolding = 0;
  /** Requests the machine saw end (answered or dropped), by path. */
  const ended = new Map<string, number>();

  before(async () => {
    const onHead = (req: http.IncomingMessage, res: http.ServerResponse): void => {
      res.on('close', () => ended.set(req.url ?? '', (ended.get(req.url ?? '') ?? 0) + 1));
      if (req.url !== '/hold') return;
      maxHolding = Math.max(maxHolding, ++holding);
      res.on('close', () => holding--);
    };
    s = await setup({}, { onHead });
  });
  afterEach(() => {
    for (const c of conns.splice(0)) c.close();
  });
  after(async () => {
    s.p.close();
    await s.origin.close();
  });

  /** A raw connection; unless `early`, waits until the server has acknowledged our SETTINGS. */
  async function connect(early = false): Promise<H2Conn> {
    const c = await H2Conn.open(s.port, HOST, s.cert.caPem);
    conns.push(c);
    if (!early) await c.until((x) => x.settingsAcked && x.serverSettings().size > 0, 'the SETTINGS exchange');
    return c;
  }
  const seen = (path: string): number => s.arrived.get(path) ?? 0;
  const stillServes = async (): Promise<void> => assert.equal(await get2(s.port, s.cert.caPem, '/still'), 200);

  it('rapid reset (CVE-2023-44487): 500 streams opened and cancelled in one burst get GOAWAY ENHANCE_YOUR_CALM', async () => {
    const c = await connect();
    const n = 500;
    const burst: Buffer[] = [];
    for (let id = 1; id < 2 * n; id += 2) {
      burst.push(headersFrame(id, requestHeaders(HOST, '/rr'), { endStream: true }), rstStreamFrame(id, ErrorCode.CANCEL));
    }
    c.write(...burst);
    await c.until((x) => x.closed, 'the proxy to close the connection');
    const goaways = c.goaways();
    assert.ok(goaways.length > 0, c.describe());
    // Our guard (maxResetsPerSecond 100) fired, not nghttp2's own, and every GOAWAY says "calm down".
    assert.ok(goaways.every((g) => g.code === ErrorCode.ENHANCE_YOUR_CALM), c.describe());
    assert.ok(goaways[0]!.lastStreamId < 2 * n - 1, 'the GOAWAY came before the burst was through');
    assert.match(s.p.proxy.metricsText(), /starling_proxy_rejected_requests_total\{reason="h2_rapid_reset"\} 1\b/);
    assert.ok(seen('/rr') < 150, `the machine saw ${seen('/rr')} of ${n} requests`);
    await stillServes();
  });

  it('too many streams, before the client has the limit: the 50 beyond 100 get RST_STREAM REFUSED_STREAM', async () => {
    // The burst goes out with the preface, before the server's SETTINGS are even read (let alone acked).
    const c = await connect(true);
    for (let id = 1; id < 300; id += 2) c.write(headersFrame(id, requestHeaders(HOST, '/hold', 'POST')));
    await c.until((x) => x.resets().size >= 50, 'the streams beyond the limit to be refused');
    assert.equal(c.serverSettings().get(Setting.MAX_CONCURRENT_STREAMS), 100);
    const resets = c.resets();
    assert.deepEqual([...resets.keys()].sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => 201 + 2 * i));
    assert.ok([...resets.values()].every((code) => code === ErrorCode.REFUSED_STREAM), c.describe());
    await waitFor(() => seen('/hold') === 100, `100 streams at the machine (got ${seen('/hold')})`);
    assert.equal(maxHolding, 100);
    assert.equal(c.goaways().length, 0, 'refusing a stream is not a connection error');
    // A client that cancels a stream frees its slot: the proxy drops the machine request the stream
    // held, and the connection serves a new stream in the freed slot.
    c.write(rstStreamFrame(1, ErrorCode.CANCEL));
    await waitFor(() => holding === 99, "the cancelled stream's machine request to be dropped");
    // Stream 301 goes out only after that (the machine sees the drop in a later event-loop turn than the
    // one that read the RST_STREAM). Node 24 keeps a stream the client reset in its own table, counted
    // against maxConcurrentStreams, until the end of that turn: a HEADERS in the same read is reset
    // ENHANCE_YOUR_CALM before the proxy sees it (plain node:http2 does it too; Node 20 freed the slot
    // at once). What a client relies on holds on both: the slot is free once the cancel is processed.
    c.write(headersFrame(301, requestHeaders(HOST, '/in-limit'), { endStream: true }));
    await c.until((x) => x.answered().has(301), 'stream 301 to be answered');
    assert.equal(seen('/in-limit'), 1);
    assert.ok(!c.resets().has(301) && c.goaways().length === 0 && !c.closed, c.describe());
    c.close();
    await waitFor(() => holding === 0, 'the held machine requests to be released');
  });

  it('a client that leaves mid-upload (RST_STREAM CANCEL, or the connection closed): the machine never gets the body as whole', async () => {
    // No content-length: the proxy relays the body chunked, and only the client's END_STREAM may end it.
    // Node emits 'end' on a stream the client reset as well; that must not become the last chunk.
    const whole = (): number => s.origin.seen.filter((r) => r.url === '/upload').length;
    const start = (c: H2Conn, id: number): void =>
      c.write(headersFrame(id, requestHeaders(HOST, '/upload', 'POST')), dataFrame(id, Buffer.from('half of the body')));
    const cancelled = await connect();
    start(cancelled, 1);
    const dropped = await connect();
    start(dropped, 1);
    await waitFor(() => seen('/upload') === 2, 'both uploads at the machine');
    cancelled.write(rstStreamFrame(1, ErrorCode.CANCEL));
    dropped.close();
    await waitFor(() => (ended.get('/upload') ?? 0) === 2, 'the machine requests to be dropped');
    assert.equal(whole(), 0, 'the machine received a cut upload as a complete request');
    // The stream's cancel is not the connection's: it still serves.
    cancelled.write(headersFrame(3, requestHeaders(HOST, '/after-cancel'), { endStream: true }));
    await cancelled.until((x) => x.answered().has(3), 'stream 3 to be answered');
    assert.equal(cancelled.goaways().length, 0, cancelled.describe());
  });

  it('too many streams, after acknowledging the limit: stream 101 is a connection error', async () => {
    const before = seen('/hold');
    const c = await connect();
    assert.equal(c.serverSettings().get(Setting.MAX_CONCURRENT_STREAMS), 100);
    for (let id = 1; id < 300; id += 2) c.write(headersFrame(id, requestHeaders(HOST, '/hold', 'POST')));
    await c.until((x) => x.closed, 'the proxy to close the connection');
    // nghttp2 flags the 101st stream as PROTOCOL_ERROR and node tears the session down at once:
    // the client sees at most an RST_STREAM INTERNAL_ERROR and the close (no GOAWAY gets out).
    assert.ok([...c.resets().values()].every((code) => code === ErrorCode.INTERNAL_ERROR), c.describe());
    assert.ok(c.answered().size === 0 && c.of(FrameType.DATA).length === 0, c.describe());
    assert.ok(seen('/hold') - before <= 100, `${seen('/hold') - before} streams reached the machine`);
    assert.ok(maxHolding <= 100, `${maxHolding} held at once`);
    await waitFor(() => holding === 0, 'the held machine requests to be released');
    await stillServes();
  });

  it('huge header list: 80 KiB in HEADERS + CONTINUATION gets RST_STREAM ENHANCE_YOUR_CALM, never forwarded', async () => {
    const c = await connect();
    const filler: [string, string][] = Array.from({ length: 80 }, (_, i) => [`x-filler-${i}`, 'a'.repeat(1000)]);
    const block = hpack(requestHeaders(HOST, '/huge', 'GET', filler));
    const frames = headerBlockFrames(1, block, true);
    assert.ok(block.length > 64 * 1024 && frames.length > 1);
    c.write(...frames, headersFrame(3, requestHeaders(HOST, '/after-huge'), { endStream: true }));
    await c.until((x) => x.resets().has(1) && x.answered().has(3), 'stream 1 reset and stream 3 answered');
    assert.equal(c.resets().get(1), ErrorCode.ENHANCE_YOUR_CALM);
    assert.ok(!c.answered().has(1), 'no response on the refused stream');
    assert.equal(c.goaways().length, 0, 'the connection itself stays up');
    assert.equal(seen('/huge'), 0);
    assert.equal(seen('/after-huge'), 1);
    await stillServes();
  });

  it('endless CONTINUATION (CVE-2024-27316): the session ends with GOAWAY after a handful of frames', async () => {
    const c = await connect();
    c.write(headersFrame(1, requestHeaders(HOST, '/cont'), { endHeaders: false }));
    let sent = 0;
    // An attacker keeps going for as long as the connection lets it (here up to 10,000 frames).
    while (!c.closed && sent < 10_000) {
      const batch: Buffer[] = [];
      for (let i = 0; i < 10; i++, sent++) batch.push(continuationFrame(1, hpack([[`x-c-${sent}`, 'b'.repeat(100)]])));
      c.write(...batch);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await c.until((x) => x.closed, 'the proxy to close the connection');
    // nghttp2 accepts at most 8 CONTINUATION frames per header block; node ends the session.
    const g = c.goaways();
    assert.equal(g.length, 1, c.describe());
    assert.equal(g[0]!.code, ErrorCode.INTERNAL_ERROR);
    assert.ok(sent < 10_000, `closed only after ${sent} frames`);
    assert.equal(seen('/cont'), 0);
    await stillServes();
  });
});

describe('flow-control stalls are cut off after stallTimeoutMs (manual clock)', () => {
  // Loopback socket buffers soak up megabytes before a writer sees backpressure (the machine got ~4 MB
  // out over HTTP/2's one hop, ~11 MB over HTTP/1.1's two): the body is big enough to block it anyway.
  const BIG = 16 * 1024 * 1024;
  const CHUNK = Buffer.alloc(8 * 1024, 0x78);
  const { stallTimeoutMs, sweepIntervalMs } = DEFAULT_LIMITS;
  let s: Setup;
  let clock: ManualClock;
  interface BigState {
    written: number;
    waitingDrain: boolean;
    finished: boolean;
    closed: boolean;
  }
  /** The machine's side of the current /big response (one per test). */
  let big: BigState | undefined;
  const cleanup: (() => void)[] = [];

  /** Answers /big with BIG bytes in 8 KiB writes, waiting for 'drain' whenever a write is not taken. */
  function sendBig(res: http.ServerResponse): void {
    const st: BigState = (big = { written: 0, waitingDrain: false, finished: false, closed: false });
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(BIG) });
    res.on('finish', () => (st.finished = true));
    res.on('close', () => (st.closed = true));
    const pump = (): void => {
      st.waitingDrain = false;
      while (st.written < BIG && !res.destroyed) {
        st.written += CHUNK.length;
        if (!res.write(CHUNK)) {
          st.waitingDrain = true;
          return void res.once('drain', pump);
        }
      }
      res.end();
    };
    pump();
  }

  before(async () => {
    s = await setup({ manualClock: true }, { onEnd: (req, res) => (req.url === '/big' ? sendBig(res) : res.end('ok\n')) });
    clock = s.p.clock as ManualClock;
  });
  afterEach(() => {
    big = undefined;
    for (const f of cleanup.splice(0)) f();
  });
  after(async () => {
    s.p.close();
    await s.origin.close();
  });

  /**
   * Once the response has started (`started`), the machine gets stuck writing: the proxy stops reading
   * its socket rather than buffer the body. Nothing is cut before stallTimeoutMs; after it the
   * exchange ends (499 "client stopped reading") and the machine connection is dropped unfinished.
   * Resolves with the body bytes the proxy took off the machine (the access log's bytes_out).
   */
  async function provesStallCutOff(started: () => boolean): Promise<number> {
    const logged = s.p.access.length;
    await waitFor(() => started() && big?.waitingDrain === true && big.written >= 1024 * 1024, 'the machine to block writing /big', 15_000);
    const st = big!;
    assert.ok(st.written < BIG && !st.finished, `the machine wrote ${st.written} of ${BIG} bytes`);
    const line = (): Record<string, unknown> | undefined => s.p.access.slice(logged).find((l) => l.path === '/big');
    clock.advance(stallTimeoutMs - sweepIntervalMs);
    assert.equal(line(), undefined, 'not cut off before stallTimeoutMs');
    await waitFor(() => {
      clock.advance(sweepIntervalMs);
      return line() !== undefined;
    }, 'the stalled exchange to be cut off');
    assert.equal(line()?.status, 499);
    assert.equal(line()?.error, 'client stopped reading');
    assert.ok(Number(line()?.duration_ms) >= stallTimeoutMs);
    await waitFor(() => st.closed, 'the machine connection to be dropped');
    assert.ok(!st.finished && st.written < BIG, `the machine wrote ${st.written} of ${BIG} bytes`);
    return Number(line()?.bytes_out);
  }

  it('HTTP/2: a client with INITIAL_WINDOW_SIZE 0 that never opens its window gets its stream reset', async () => {
    const c = await H2Conn.open(s.port, HOST, s.cert.caPem, [[Setting.INITIAL_WINDOW_SIZE, 0]]);
    cleanup.push(() => c.close());
    c.write(headersFrame(1, requestHeaders(HOST, '/big'), { endStream: true }));
    // HEADERS are not flow-controlled: the response starts, its body cannot.
    const taken = await provesStallCutOff(() => c.answered().has(1));
    // What the proxy holds for a shut window is about one read from the machine, not the body.
    assert.ok(taken <= 128 * 1024, `the proxy took ${taken} bytes off the machine`);
    await c.until((x) => x.resets().has(1), 'stream 1 to be reset');
    assert.equal(c.resets().get(1), ErrorCode.INTERNAL_ERROR);
    assert.equal(c.of(FrameType.DATA, 1).reduce((n, f) => n + f.payload.length, 0), 0, 'no body byte past a zero window');
    assert.equal(c.goaways().length, 0, 'only the stream is reset');
    assert.match(s.p.proxy.metricsText(), /reason="client_stalled"\} 1\b/);
    assert.equal(await get2(s.port, s.cert.caPem, '/still'), 200);
  });

  it('HTTP/1.1 over TCP: a client that reads the head and never the body has its connection closed', async () => {
    const sock = net.connect(s.p.port, '127.0.0.1');
    cleanup.push(() => sock.destroy());
    let text = '';
    let got = 0;
    let ended = false;
    sock.on('error', () => undefined);
    sock.on('close', () => (ended = true));
    sock.on('data', (d: Buffer) => {
      got += d.length;
      if (text.includes('\r\n\r\n')) return;
      text += d.toString('latin1');
      if (text.includes('\r\n\r\n')) sock.pause(); // from here on the client reads nothing
    });
    sock.write(`GET /big HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`);
    const taken = await provesStallCutOff(() => text.includes('\r\n\r\n'));
    assert.match(text, /^HTTP\/1\.1 200 /);
    // Reading again drains what was delivered before the cut, then the connection's end.
    sock.resume();
    await waitFor(() => ended, 'the proxy to have closed the connection');
    const body = got - (text.indexOf('\r\n\r\n') + 4);
    assert.ok(body < BIG, `the client received ${body} bytes of a ${BIG}-byte body`);
    // Taken off the machine but never delivered (dropped at the cut): a read or two, not the body.
    assert.ok(taken - body <= 128 * 1024, `the proxy took ${taken} bytes and delivered ${body}`);
    assert.match(s.p.proxy.metricsText(), /reason="client_stalled"\} 2\b/);
  });
});
