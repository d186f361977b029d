import {
  ChunkedScanner,
  findHeadEnd,
  headerValue,
  HeadError,
  MAX_HEAD_BYTES,
  parseResponseHead,
  responseHasNoBody,
  type ResponseHead,
} from '../codec/index.js';
import type { Exchange } from './exchange.js';

type Framing = 'none' | 'length' | 'chunked' | 'close';

/**
 * The machine's response on its way to the client: head parsed and rewritten, body framed by what the
 * machine said (length, chunked, or until close) and streamed with backpressure both ways.
 * Replay headers and 101 Switching Protocols hand control back to the exchange.
 */
export class ResponseRelay {
  started = false;
  bytesOut = 0;
  sentAt = 0;
  pausedUpstream = false;
  /** Monotonic ms when the client stopped taking bytes (for the stall timeout). */
  pausedSince = 0;
  private headBuf: Buffer | undefined;
  private resp: ResponseHead | undefined;
  private framing: Framing = 'none';
  private remaining = 0;
  private scanner: ChunkedScanner | undefined;
  private dechunk = false;
  private keepAlive = false;
  /**
   * Body bytes came from the machine since the sweep last looked: a store per chunk, no clock read
   * and no timer on the hot path. The sweep turns it into `movedAt` (response_idle_timeout).
   */
  private moved = false;
  /** Monotonic ms of the response head, or of the last sweep that saw the body move. */
  private movedAt = 0;

  constructor(private readonly ex: Exchange) {}

  /** Forgets a partial head from a connection that failed (before a retry or a replay). */
  reset(): void {
    this.headBuf = undefined;
    this.moved = false;
  }

  onData(chunk: Buffer): void {
    if (this.started) {
      this.moved = true;
      return this.body(chunk, 0);
    }
    const ex = this.ex;
    let buf = this.headBuf ? Buffer.concat([this.headBuf, chunk]) : chunk;
    for (;;) {
      const end = findHeadEnd(buf);
      if (end < 0) {
        if (buf.length > MAX_HEAD_BYTES) return this.broken('response head too large');
        this.headBuf = buf;
        return;
      }
      if (end > MAX_HEAD_BYTES) return this.broken('response head too large');
      const resp = parseResponseHead(buf, 0, end);
      if (resp instanceof HeadError) return this.broken(`${resp.code}: ${resp.detail}`);
      if (resp.status >= 100 && resp.status < 200 && resp.status !== 101) {
        // Interim answers (100 Continue, 103 Early Hints) go to an HTTP/1.1 client as they are.
        if (ex.head.minor === 1) ex.client.interim(buf.subarray(0, end), resp);
        buf = buf.subarray(end);
        continue;
      }
      this.headBuf = undefined;
      return this.onHead(resp, buf, end);
    }
  }

  private onHead(resp: ResponseHead, buf: Buffer, bodyStart: number): void {
    const ex = this.ex;
    const ctx = ex.ctx;
    this.movedAt = ctx.config.clock.monotonic();
    ctx.config.metrics.upstreamLatency(ex.app.name, (this.movedAt - this.sentAt) / 1000);
    if (resp.status === 101) {
      if (!ex.isUpgrade) return this.broken('101 without an upgrade request');
      return this.tunnel(buf, bodyStart);
    }
    const replay = headerValue(resp, 'starling-replay') ?? headerValue(resp, 'fly-replay');
    if (replay !== undefined) return ex.replay(replay);

    this.resp = resp;
    const clientMinor = ex.head.minor;
    if (responseHasNoBody(ex.head.method, resp.status)) this.framing = 'none';
    else if (resp.chunked) {
      this.framing = 'chunked';
      this.scanner = new ChunkedScanner();
      // HTTP/1.0 clients and HTTP/2 streams have no chunked coding: they get the payload.
      this.dechunk = clientMinor === 0 || ex.client.h2;
    } else if (resp.contentLength >= 0) {
      this.framing = 'length';
      this.remaining = resp.contentLength;
    } else this.framing = 'close';
    this.keepAlive =
      !ex.head.close && !ex.client.closing && !ctx.live.draining && this.framing !== 'close' && (!this.dechunk || ex.client.h2);
    const clientFraming = this.dechunk ? 'close' : this.framing;
    this.started = true;
    ex.state = 'response';
    const c = ex.client;
    c.cork();
    c.head(resp, {
      requestId: ex.requestId,
      flyHeaders: ctx.config.limits.flyHeaders,
      framing: clientFraming,
      close: !this.keepAlive,
      clientMinor,
      preferredUnavailable: ex.preferredUnavailable,
    });
    this.body(buf, bodyStart);
    c.uncork();
  }

  private body(buf: Buffer, start: number): void {
    const len = buf.length;
    switch (this.framing) {
      case 'length': {
        const end = Math.min(len, start + this.remaining);
        if (end > start) this.out(start === 0 && end === len ? buf : buf.subarray(start, end));
        this.remaining -= end - start;
        if (this.remaining === 0) this.done(end === len);
        return;
      }
      case 'chunked': {
        const end = this.dechunk
          ? this.scanner!.scan(buf, start, len, (a, b) => this.out(buf.subarray(a, b)))
          : this.scanner!.scan(buf, start, len);
        if (end < 0) return this.truncated(`bad chunked response: ${this.scanner!.error}`);
        if (!this.dechunk && end > start) this.out(start === 0 && end === len ? buf : buf.subarray(start, end));
        if (this.scanner!.done) this.done(end === len);
        return;
      }
      case 'close':
        if (start < len) this.out(start === 0 ? buf : buf.subarray(start));
        return;
      case 'none':
        return this.done(start === len);
    }
  }

  private out(b: Buffer): void {
    this.bytesOut += b.length;
    if (!this.ex.client.write(b)) this.pauseUpstream();
  }

  onEnd(): void {
    if (this.started && this.framing === 'close') this.done(false);
  }

  /** The response is complete. `clean`: nothing followed it, so the connection may be reused. */
  private done(clean: boolean): void {
    const ex = this.ex;
    const resp = this.resp!;
    const reusable = clean && resp.minor === 1 && !resp.close && this.framing !== 'close' && ex.body.done;
    ex.dropUpstream(reusable);
    ex.finish(resp.status, undefined, this.keepAlive);
  }

  private tunnel(buf: Buffer, headEnd: number): void {
    const ex = this.ex;
    const c = ex.client;
    ex.state = 'tunnel';
    this.started = true;
    c.write(buf.subarray(0, headEnd));
    if (headEnd < buf.length) c.write(buf.subarray(headEnd));
    if (ex.leftover) {
      ex.up?.socket.write(ex.leftover);
      ex.leftover = undefined;
      ex.flow();
    }
  }

  pauseUpstream(): void {
    if (this.pausedUpstream) return;
    this.pausedUpstream = true;
    this.pausedSince = this.ex.ctx.config.clock.monotonic();
    this.ex.up?.socket.pause();
  }

  resumeUpstream(): void {
    this.pausedUpstream = false;
    this.ex.up?.socket.resume();
  }

  /**
   * From the sweep, while the response body is on its way: whether the machine has sent nothing for
   * longer than `limitMs`. Time the client is not taking bytes (the stall timeout's) or the request
   * body is still arriving (the body timeout's; the machine may wait for it) does not count, so a
   * slow reader, a slow upload and a stream that keeps sending (SSE keep-alives) are never cut here.
   */
  idleTooLong(now: number, limitMs: number): boolean {
    if (this.moved || this.pausedUpstream || !this.ex.body.done) {
      this.moved = false;
      this.movedAt = now;
      return false;
    }
    return now - this.movedAt > limitMs;
  }

  /**
   * The machine went quiet mid-body: its connection is closed (never pooled) and the client's is cut
   * so the truncated body cannot pass for a whole one: no last chunk, fewer bytes than the length,
   * and over plain HTTP/1 a reset (RST) rather than an end, so even a body the close would delimit
   * shows as cut (TLS: no close_notify); HTTP/2 resets the stream.
   */
  idleCutOff(): void {
    const ex = this.ex;
    const ctx = ex.ctx;
    ctx.config.metrics.responseIdleTimeout(ex.app.name);
    ctx.config.logger.warn('machine stopped sending the response body: response cut off', {
      app: ex.app.name,
      machine: ex.machine?.id,
      request_id: ex.requestId,
      status: this.resp?.status,
      bytes_out: this.bytesOut,
      response_idle_timeout_ms: ctx.config.limits.responseIdleTimeoutMs,
    });
    ex.dropUpstream(false);
    ex.client.abort(true);
    ex.finish(this.resp?.status ?? 502, `machine sent no response body bytes for ${ctx.config.limits.responseIdleTimeoutMs} ms`);
  }

  private broken(why: string): void {
    this.ex.ctx.config.metrics.rejectedRequest('bad_upstream_response');
    this.ex.local(502, `machine ${this.ex.machine?.id ?? '?'} sent a broken response (${why})\n`);
  }

  private truncated(why: string): void {
    this.ex.dropUpstream(false);
    this.ex.client.abort();
    this.ex.finish(this.resp?.status ?? 502, why);
  }
}
