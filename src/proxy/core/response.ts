import {
  ChunkedScanner,
  findHeadEnd,
  HeadError,
  MAX_HEAD_BYTES,
  parseResponseHead,
  responseHasNoBody,
  type RequestHead,
  type ResponseHead,
} from '../codec/index.js';
import type { Downstream } from './downstream.js';
import type { AppHeaders } from '../route-table/index.js';
import { EV, Ev, event, type Event } from './lifecycle.js';
import { parseReplay } from './replay.js';
import { isReplayType, parseReplayJson, ReplayBody } from './replay-json.js';

type Framing = 'none' | 'length' | 'chunked' | 'close';

/**
 * The machine's response on its way to the client: head parsed and rewritten, body framed by what
 * the machine said (length, chunked, or until close) and streamed to the client. It decides
 * nothing about the exchange: each call returns the event it saw (a head of some kind, the end of
 * the body, a broken response) for the exchange to hand to decide, or undefined.
 */
export class ResponseRelay {
  bytesOut = 0;
  /** The client refused bytes during the last call (its buffers are full): the machine should pause. */
  blocked = false;
  /**
   * Body bytes came from the machine since the sweep last looked: a store per chunk, no clock read
   * and no timer on the hot path. The sweep turns it into `movedAt` (response_idle_timeout).
   */
  moved = false;
  /** Monotonic ms of the response head, or of the last sweep that saw the body move. */
  movedAt = 0;
  private started = false;
  private headBuf: Buffer | undefined;
  /** The bytes the final head came in, and where its body starts (for begin() and tunnel()). */
  private first: Buffer | undefined;
  private firstAt = 0;
  private resp: ResponseHead | undefined;
  private framing: Framing = 'none';
  private remaining = 0;
  private scanner: ChunkedScanner | undefined;
  private dechunk = false;
  private clientKeepAlive = false;
  /** A JSON replay's body, while it comes (replay-json.ts). */
  private replayBody: ReplayBody | undefined;

  constructor(
    private readonly head: RequestHead,
    private readonly client: Downstream,
    private readonly requestId: string,
    private readonly flyHeaders: boolean,
  ) {}

  /** The machine's status, once its head came. */
  get status(): number | undefined {
    return this.resp?.status;
  }

  /** Whether the client connection may stay open after this response. */
  get keepAlive(): boolean {
    return this.clientKeepAlive;
  }

  /** Forgets a partial head from a connection that failed (before a retry or a replay). */
  reset(): void {
    this.headBuf = undefined;
    this.replayBody = undefined;
    this.moved = false;
  }

  /** The sweep (or the head) saw the response at `now`: the idle watch restarts. */
  noteTime(now: number): void {
    this.moved = false;
    this.movedAt = now;
  }

  onData(chunk: Buffer): Event | undefined {
    this.blocked = false;
    if (this.started) {
      this.moved = true;
      return this.body(chunk, 0);
    }
    if (this.replayBody) return replayAsked(this.replayBody.feed(chunk, 0));
    let buf = this.headBuf ? Buffer.concat([this.headBuf, chunk]) : chunk;
    for (;;) {
      const end = findHeadEnd(buf);
      if (end < 0) {
        if (buf.length > MAX_HEAD_BYTES) return broken('response head too large');
        this.headBuf = buf;
        return undefined;
      }
      if (end > MAX_HEAD_BYTES) return broken('response head too large');
      const resp = parseResponseHead(buf, 0, end);
      if (resp instanceof HeadError) return broken(`${resp.code}: ${resp.detail}`);
      if (resp.status >= 100 && resp.status < 200 && resp.status !== 101) {
        // Interim answers (100 Continue, 103 Early Hints) go to an HTTP/1.1 client as they are.
        if (this.head.minor === 1) this.client.interim(buf.subarray(0, end), resp);
        buf = buf.subarray(end);
        continue;
      }
      this.headBuf = undefined;
      this.resp = resp;
      this.first = buf;
      this.firstAt = end;
      if (resp.status === 101) return EV.upgrade;
      // One pass over the fields for both replay forms: every response on the hot path takes it.
      let replay: string | undefined;
      let type: string | undefined;
      const { names, values } = resp;
      for (let i = 0; i < names.length; i++) {
        const n = names[i];
        if (n === 'starling-replay') {
          replay = values[i];
          break;
        }
        if (n === 'fly-replay') replay ??= values[i];
        else if (n === 'content-type') type ??= values[i];
      }
      if (replay !== undefined) return asked(parseReplay(replay));
      if (type === undefined || !isReplayType(type) || responseHasNoBody(this.head.method, resp.status)) return EV.head;
      this.replayBody = new ReplayBody(resp);
      return replayAsked(this.replayBody.feed(buf, end));
    }
  }

  /** After a final head: writes it to the client, then the body bytes that came with it. */
  begin(preferredUnavailable: boolean, draining: boolean, appHeaders?: AppHeaders  ): Event | undefined {
    this.blocked = false;
    const resp = this.resp!;
    const head = this.head;
    const c = this.client;
    const clientMinor = head.minor;
    if (responseHasNoBody(head.method, resp.status)) this.framing = 'none';
    else if (resp.chunked) {
      this.framing = 'chunked';
      this.scanner = new ChunkedScanner();
      // HTTP/1.0 clients and HTTP/2 streams have no chunked coding: they get the payload.
      this.dechunk = clientMinor === 0 || c.h2;
    } else if (resp.contentLength >= 0) {
      this.framing = 'length';
      this.remaining = resp.contentLength;
    } else this.framing = 'close';
    this.clientKeepAlive = !head.close && !c.closing && !draining && this.framing !== 'close' && (!this.dechunk || c.h2);
    this.started = true;
    c.cork();
    c.head(resp, {
      requestId: this.requestId,
      flyHeaders: this.flyHeaders,
      framing: this.dechunk ? 'close' : this.framing,
      close: !this.clientKeepAlive,
      clientMinor,
      preferredUnavailable,
      appHeaders,
    });
    const ev = this.body(this.first!, this.firstAt);
    this.first = undefined;
    c.uncork();
    return ev;
  }

  /** After 101: the head and whatever followed it go to the client as they are. */
  tunnel(): void {
    const buf = this.first!;
    const at = this.firstAt;
    this.first = undefined;
    this.started = true;
    this.client.write(buf.subarray(0, at));
    if (at < buf.length) this.client.write(buf.subarray(at));
  }

  /** The machine ended its side: the end of a body delimited by the close. */
  onEnd(): Event | undefined {
    if (this.replayBody) return replayAsked(this.replayBody.end());
    return this.started && this.framing === 'close' ? EV.responseDone : undefined;
  }

  private body(buf: Buffer, start: number): Event | undefined {
    const len = buf.length;
    switch (this.framing) {
      case 'length': {
        const end = Math.min(len, start + this.remaining);
        if (end > start) this.out(start === 0 && end === len ? buf : buf.subarray(start, end));
        this.remaining -= end - start;
        return this.remaining === 0 ? this.done(end === len) : undefined;
      }
      case 'chunked': {
        const scanner = this.scanner!;
        const end = this.dechunk ? scanner.scan(buf, start, len, (a, b) => this.out(buf.subarray(a, b))) : scanner.scan(buf, start, len);
        if (end < 0) return event(Ev.Truncated, `bad chunked response: ${scanner.error}`);
        if (!this.dechunk && end > start) this.out(start === 0 && end === len ? buf : buf.subarray(start, end));
        return scanner.done ? this.done(end === len) : undefined;
      }
      case 'close':
        if (start < len) this.out(start === 0 ? buf : buf.subarray(start));
        return undefined;
      case 'none':
        return this.done(start === len);
    }
  }

  private out(b: Buffer): void {
    this.bytesOut += b.length;
    if (!this.client.write(b)) this.blocked = true;
  }

  /** The response is complete. `clean`: nothing followed it, so the connection may be reused. */
  private done(clean: boolean): Event {
    const resp = this.resp!;
    return clean && resp.minor === 1 && !resp.close && this.framing !== 'close' ? EV.responseDoneReusable : EV.responseDone;
  }
}

function asked(parsed: ReturnType<typeof parseReplay>): Event {
  return parsed.ok ? event(Ev.ReplayAsked, undefined, { directive: parsed.directive }) : event(Ev.ReplayAsked, `bad_directive ${parsed.reason}`);
}

/** A JSON replay's body so far: nothing yet, the directive it holds, or why it is not one. */
function replayAsked(body: string | undefined | Error): Event | undefined {
  if (body === undefined) return undefined;
  return asked(body instanceof Error ? { ok: false, reason: body.message } : parseReplayJson(body));
}

function broken(why: string): Event {
  return event(Ev.BadResponse, why);
}
