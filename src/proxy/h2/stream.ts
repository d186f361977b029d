import http2, { type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { ResponseHead } from '../codec/index.js';
import { admit, Exchange, LocalAnswer, type Downstream, type ProxyContext, type ResponseInfo } from '../core/index.js';
import { requestHeadFromH2, responseHeadersToH2 } from './headers.js';
import type { H2Backends } from './backend.js';

const CHUNK_END = Buffer.from('0\r\n\r\n', 'latin1');

/**
 * What the sweep (server.ts) needs to see a session idle: no exchange in flight and no new stream since
 * `idleSince`. A stream only sets `touched` (a store, no clock read); the sweep turns it into time.
 */
export interface H2SessionState {
  streams: number;
  touched: boolean;
  idleSince: number;
}

/** Streams the proxy reset itself: the rapid-reset guard counts only the client's resets. */
export const resetByProxy = new WeakSet<ServerHttp2Stream>();

/**
 * One HTTP/2 stream as the client side of an exchange. The request body is handed to the exchange
 * as HTTP/1.1 would carry it (Content-Length, or chunked coding when the client declared no length),
 * so the machine sees one kind of request whatever the client spoke.
 */
export class H2Downstream implements Downstream {
  readonly h2 = true;
  readonly secure = true;
  private ex: Exchange | undefined;
  private chunked = false;

  constructor(
    private readonly ctx: ProxyContext,
    private readonly stream: ServerHttp2Stream,
    readonly clientIp: string,
    readonly localPort: number,
    /** Streams with an exchange in flight, swept for timeouts by the proxy. */
    private readonly active: Set<H2Downstream>,
    /** Its session's count of exchanges in flight (an idle session is closed by the sweep). */
    private readonly session: H2SessionState,
    /** Where an `h2_backend` app's streams go (backend.ts) instead of an exchange. */
    private readonly backends?: H2Backends,
  ) {}

  onTick(now: number): void {
    this.ex?.onTick(now);
  }

  get closing(): boolean {
    return this.ctx.live.draining || this.stream.session?.closed === true;
  }

  start(headers: IncomingHttpHeaders, flags: number): void {
    const s = this.stream;
    s.on('error', () => undefined); // 'close' follows; the exchange learns of it there
    const endStream = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    const parsed = requestHeadFromH2(headers, endStream);
    if (!parsed.ok) {
      this.ctx.config.metrics.rejectedRequest('bad_h2_request');
      return this.local(parsed.status, `${parsed.reason}\n`, this.ctx.config.nextRequestId(), false, []);
    }
    const head = parsed.head;
    // Over TLS: no ACME HTTP-01 and no force_https redirect, only the app or 404 (admit.ts).
    const app = admit(this.ctx, head, true);
    if (app instanceof LocalAnswer) return this.local(app.status, app.text, this.ctx.config.nextRequestId(), false, app.extra);
    if (app.h2Backend && this.backends) return this.backends.forward(s, headers, app, this.clientIp, this.localPort);
    this.chunked = head.chunked;
    const ex = new Exchange(this.ctx, this, head, app);
    this.ex = ex;
    this.active.add(this);
    this.session.streams++;
    s.on('data', (chunk: Buffer) => {
      if (!this.chunked) return ex.onClientData(chunk);
      if (chunk.length === 0) return;
      ex.onClientData(Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`, 'latin1'), chunk, CRLF]));
    });
    s.on('end', () => {
      // Node ends the readable side of a stream the client reset too ('aborted', then 'end', then
      // 'close'): only a body the client finished (END_STREAM) gets its last chunk. A cancelled upload
      // must not reach the machine as a whole request; 'close' aborts it there instead.
      if (this.chunked && !s.aborted) ex.onClientData(CHUNK_END);
    });
    s.on('drain', () => ex.onClientDrain());
    s.on('close', () => {
      this.untrack();
      if (this.ex) {
        this.ex = undefined;
        ex.onClientClose();
      }
    });
    ex.start(undefined);
  }

  pause(): void {
    this.stream.pause();
  }
  resume(): void {
    this.stream.resume();
  }
  interim(_raw: Buffer, resp: ResponseHead): void {
    // RFC 9113 §8.1: informational responses are HEADERS frames before the final one.
    if (!this.stream.headersSent && !this.stream.destroyed) this.stream.additionalHeaders({ ':status': resp.status });
  }
  head(resp: ResponseHead, info: ResponseInfo): void {
    if (this.stream.destroyed) return;
    this.stream.respond(responseHeadersToH2(resp, info), { endStream: info.framing === 'none' });
  }
  write(b: Buffer): boolean {
    if (this.stream.destroyed || this.stream.writableEnded) return true;
    return this.stream.write(b);
  }
  cork(): void {}
  uncork(): void {}
  local(status: number, text: string, requestId: string, _close: boolean, extra: readonly (readonly [string, string])[]): void {
    const s = this.stream;
    if (s.destroyed) return;
    if (s.headersSent) return this.abort();
    const headers: http2.OutgoingHttpHeaders = {
      ':status': status,
      'content-type': 'text/plain; charset=utf-8',
      'content-length': String(Buffer.byteLength(text)),
      'starling-request-id': requestId,
    };
    for (const [k, v] of extra) headers[k] = v;
    s.respond(headers);
    s.end(text);
  }
  abort(): void {
    if (this.stream.destroyed) return;
    resetByProxy.add(this.stream);
    // destroy(), not close(INTERNAL_ERROR): close() ends the writable side first, and Node sends
    // that END_STREAM before the RST_STREAM, so a cut body without a length would look complete.
    // destroy(err) resets the stream (INTERNAL_ERROR) after the DATA already queued, with no END_STREAM.
    this.stream.destroy(new Error('response cut off by the proxy'));
  }
  endTunnel(): void {
    this.stream.end();
  }
  exchangeDone(): void {
    this.ex = undefined;
    this.untrack();
    const s = this.stream;
    if (!s.destroyed && !s.writableEnded) s.end();
  }

  private untrack(): void {
    if (this.active.delete(this)) this.session.streams--;
  }
}

const CRLF = Buffer.from('\r\n', 'latin1');
