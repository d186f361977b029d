import type { Socket } from 'node:net';
import { findHeadEnd, HeadError, MAX_HEAD_BYTES, parseRequestHead, type RequestHead, type ResponseHead } from '../codec/index.js';
import { admit, buildLocalResponse, buildResponseHead, Exchange, isPeerRequest, LocalAnswer, type Downstream, type ProxyContext, type ResponseInfo } from '../core/index.js';
import { isTunnelRequest } from '../tcp/index.js';

const enum Deadline {
  None,
  /** Waiting for the first byte of the next request on a kept-alive connection. */
  Idle,
  /** A request head has started and must be complete by the deadline. */
  Head,
  /** The proxy ended its side; a client that keeps its side open is cut off at the deadline. */
  Linger,
}

const LINGER_MS = 5000;

/**
 * One client connection: reads request heads, runs one exchange at a time (pipelined requests wait
 * their turn), keeps the connection alive between them, and enforces the idle and header timeouts.
 */
export class ClientConnection implements Downstream {
  readonly clientIp: string;
  readonly localPort: number;
  readonly h2 = false;
  closing = false;
  private buf: Buffer | undefined;
  private exchange: Exchange | undefined;
  private deadline: number;
  private deadlineKind: Deadline = Deadline.Idle;
  private closed = false;

  constructor(
    private readonly ctx: ProxyContext,
    readonly socket: Socket,
    private readonly registry: Set<ClientConnection>,
    /** TLS was terminated on this connection (the socket is a TLSSocket). */
    readonly secure = false,
  ) {
    const addr = socket.remoteAddress ?? '';
    this.clientIp = addr.startsWith('::ffff:') ? addr.slice(7) : addr;
    this.localPort = socket.localPort ?? 0;
    this.deadline = ctx.config.clock.monotonic() + ctx.config.limits.idleTimeoutMs;
    registry.add(this);
    ctx.config.metrics.connectionOpened();
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.exchange?.onClientDrain());
    socket.on('error', () => {
      /* 'close' follows; there is nobody to tell */
    });
    socket.on('close', () => this.onClose());
  }

  // ---- Downstream: what an exchange does to this connection ----------------------------------------

  pause(): void {
    this.socket.pause();
  }
  resume(): void {
    this.socket.resume();
  }
  interim(raw: Buffer, _resp: ResponseHead): void {
    this.socket.write(raw);
  }
  head(resp: ResponseHead, info: ResponseInfo): void {
    this.socket.write(buildResponseHead(resp, info), 'latin1');
  }
  write(b: Buffer): boolean {
    return this.socket.write(b);
  }
  cork(): void {
    this.socket.cork();
  }
  uncork(): void {
    this.socket.uncork();
  }
  local(status: number, text: string, requestId: string, close: boolean, extra: readonly (readonly [string, string])[]): void {
    this.socket.write(buildLocalResponse(status, text, requestId, close, extra), 'latin1');
  }
  abort(reset = false): void {
    // TLS has its own signal: a connection destroyed without close_notify is a truncated one.
    if (reset && !this.secure && !this.socket.destroyed) this.socket.resetAndDestroy();
    else this.socket.destroy();
  }
  endTunnel(): void {
    this.socket.end();
  }

  /** Idle between requests: nothing read, nothing in flight (drain closes these at once). */
  get idle(): boolean {
    return this.exchange === undefined && this.buf === undefined;
  }

  private onData(chunk: Buffer): void {
    if (this.exchange) return this.exchange.onClientData(chunk);
    if (this.closed) return; // after our end(): nothing more will be read
    this.buf = this.buf ? Buffer.concat([this.buf, chunk]) : chunk;
    this.parse();
  }

  private parse(): void {
    const buf = this.buf;
    if (!buf || this.closed) return;
    const end = findHeadEnd(buf);
    if (end < 0 || end > MAX_HEAD_BYTES) {
      if (buf.length > MAX_HEAD_BYTES) return this.reject(431, 'head_too_large', 'request head larger than 64 KiB');
      // A head ended by bare LFs would otherwise wait for the header timeout: refuse it now.
      if (buf.indexOf('\n\n') >= 0) return this.reject(400, 'bad_header_bytes', 'bare LF line endings in the head');
      if (this.deadlineKind !== Deadline.Head) {
        this.deadlineKind = Deadline.Head;
        this.deadline = this.ctx.config.clock.monotonic() + this.ctx.config.limits.headerTimeoutMs;
      }
      return;
    }
    const head = parseRequestHead(buf, 0, end);
    if (head instanceof HeadError) return this.reject(400, head.code, head.detail);
    this.buf = undefined;
    this.deadlineKind = Deadline.None;
    const rest = end < buf.length ? buf.subarray(end) : undefined;
    if (isTunnelRequest(head) && isPeerRequest(head, this.ctx.acceptPeerKey)) return this.handOver(head, rest);
    const admitted = admit(this.ctx, head, this.secure);
    if (admitted instanceof LocalAnswer) {
      // Answered without routing. The body, if any, is not read: the connection closes after.
      const close = head.close || head.chunked || head.contentLength > 0 || this.closing || this.ctx.live.draining;
      this.local(admitted.status, admitted.text, this.ctx.config.nextRequestId(), close, admitted.extra);
      return this.exchangeDone(!close, close ? undefined : rest);
    }
    if (admitted instanceof Promise) return this.answerLater(admitted, head.close || head.contentLength > 0 || head.chunked, rest);
    const ex = new Exchange(this.ctx, this, head, admitted);
    this.exchange = ex;
    ex.start(rest);
  }

  exchangeDone(keepAlive: boolean, leftover: Buffer | undefined, idleMs?: number): void {
    this.exchange = undefined;
    if (this.closed) return;
    if (!keepAlive || this.closing || this.ctx.live.draining) return this.end();
    this.deadlineKind = Deadline.Idle;
    this.deadline = this.ctx.config.clock.monotonic() + (idleMs ?? this.ctx.config.limits.idleTimeoutMs);
    if (leftover && leftover.length > 0) {
      this.buf = leftover;
      // Pipelined requests are taken one per microtask, so a long pipeline cannot grow the stack.
      queueMicrotask(() => {
        if (!this.exchange) this.parse();
      });
    }
  }

  /**
   * A peer proxy's TCP tunnel (tcp/peer-tunnel.ts): the socket leaves HTTP for good. It is no longer
   * this connection's (not counted, not swept); the TCP services' session owns it from here.
   */
  private handOver(head: RequestHead, rest: Buffer | undefined): void {
    this.closed = true;
    this.buf = undefined;
    this.registry.delete(this);
    this.ctx.config.metrics.connectionClosed();
    for (const event of ['data', 'drain', 'close']) this.socket.removeAllListeners(event);
    // A tunnel carries half-closes: the edge's client may end its side and still read the answer.
    this.socket.allowHalfOpen = true;
    this.ctx.tunnels.acceptTunnel(this.socket, head, rest);
  }

  /** An answer admit() looks up (ACME HTTP-01, from the shared store): the connection waits for it. */
  private answerLater(answer: Promise<LocalAnswer>, close: boolean, rest: Buffer | undefined): void {
    const busy = this.hold();
    void answer.then((a) => {
      busy();
      if (this.closed) return;
      this.local(a.status, a.text, this.ctx.config.nextRequestId(), close, a.extra);
      this.exchangeDone(!close, close ? undefined : rest);
    });
  }

  /** Holds the connection (no reading, no parsing) while an answer is looked up; returns the release. */
  private hold(): () => void {
    this.socket.pause();
    const marker = this.buf;
    this.buf = Buffer.alloc(0); // not idle: drain waits for the answer
    return () => {
      if (this.buf?.length === 0) this.buf = marker;
      this.socket.resume();
    };
  }

  /** A request the proxy will not forward: answer, then close (the stream can no longer be trusted). */
  private reject(status: number, code: string, detail: string): void {
    this.ctx.config.metrics.rejectedRequest(code);
    this.ctx.config.metrics.request('', this.ctx.config.region, status);
    this.ctx.config.logger.debug('request rejected', { client: this.clientIp, code, detail });
    this.buf = undefined;
    this.socket.write(buildLocalResponse(status, `${code}: ${detail}\n`, this.ctx.config.nextRequestId(), true), 'latin1');
    this.end();
  }

  /** Ends our side; the socket is destroyed if the client has not closed its side by LINGER_MS. */
  private end(): void {
    this.closed = true;
    this.deadlineKind = Deadline.Linger;
    this.deadline = this.ctx.config.clock.monotonic() + LINGER_MS;
    this.socket.end();
  }

  /** Timeouts, from the proxy's sweep. */
  onTick(now: number): void {
    if (this.exchange) return this.exchange.onTick(now);
    if (this.deadlineKind === Deadline.None || now <= this.deadline) return;
    if (this.deadlineKind === Deadline.Linger) return void this.socket.destroy();
    if (this.deadlineKind === Deadline.Head) return this.reject(408, 'header_timeout', 'request head not received in time');
    this.end();
  }

  /** Graceful drain: idle connections close now, busy ones after their response. */
  drain(): void {
    this.closing = true;
    if (this.idle && !this.closed) this.end();
  }

  private onClose(): void {
    this.closed = true;
    this.registry.delete(this);
    this.ctx.config.metrics.connectionClosed();
    this.exchange?.onClientClose();
    this.exchange = undefined;
  }
}
