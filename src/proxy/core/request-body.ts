import { ChunkedScanner, type RequestHead } from '../codec/index.js';

/** Where body bytes go while a machine connection is open (the exchange: no closure per chunk). */
export interface BodySink {
  writeBody(b: Buffer): void;
}

/**
 * The client's request body on its way through the proxy: framing (none, Content-Length, chunked),
 * bytes not yet written to a machine (`pending`), and a copy of everything received while it fits
 * in the replay limit, so the request can be replayed or retried on another machine.
 */
export class RequestBody {
  /** 0: no body, 1: Content-Length, 2: chunked. */
  readonly kind: 0 | 1 | 2;
  private remaining: number;
  private readonly scanner: ChunkedScanner | undefined;
  done: boolean;
  error: string | undefined;
  /** Every body byte received so far, while the total stays within the replay limit. */
  private copy: Buffer[] | undefined = [];
  private copyBytes = 0;
  /** Received, not yet written to the current machine. */
  pending: Buffer[] = [];
  pendingBytes = 0;
  /** Some body bytes reached a machine (then a retry needs the full copy). */
  sentAny = false;
  lastDataAt: number;

  constructor(
    head: RequestHead,
    private readonly copyLimit: number,
    now: number,
  ) {
    this.kind = head.chunked ? 2 : head.contentLength > 0 ? 1 : 0;
    this.remaining = head.contentLength > 0 ? head.contentLength : 0;
    this.scanner = head.chunked ? new ChunkedScanner() : undefined;
    this.done = this.kind === 0;
    this.lastDataAt = now;
  }

  /** Whether the whole body is still held, so it can be sent again. */
  get complete(): boolean {
    return this.copy !== undefined;
  }

  get receivedBytes(): number {
    return this.copyBytes;
  }

  /**
   * Takes client bytes from chunk[start..]; returns where the body ended in the chunk (the rest is the
   * next pipelined request), chunk.length when all of it was body, or -1 on a framing error.
   * Each body piece is handed to `sink` (the machine connection is open) or kept pending when there
   * is none.
   */
  feed(chunk: Buffer, start: number, now: number, sink: BodySink | undefined): number {
    this.lastDataAt = now;
    let end: number;
    if (this.kind === 1) {
      end = Math.min(chunk.length, start + this.remaining);
      this.remaining -= end - start;
      if (this.remaining === 0) this.done = true;
    } else if (this.kind === 2) {
      end = this.scanner!.scan(chunk, start, chunk.length);
      if (end < 0) {
        this.error = this.scanner!.error;
        return -1;
      }
      if (this.scanner!.done) this.done = true;
    } else {
      return start;
    }
    if (end > start) {
      const piece = start === 0 && end === chunk.length ? chunk : chunk.subarray(start, end);
      this.keep(piece);
      if (sink) {
        this.sentAny = true;
        sink.writeBody(piece);
      } else {
        this.pending.push(piece);
        this.pendingBytes += piece.length;
      }
    }
    return end;
  }

  private keep(piece: Buffer): void {
    if (!this.copy) return;
    this.copyBytes += piece.length;
    if (this.copyBytes > this.copyLimit) this.copy = undefined;
    else this.copy.push(piece);
  }

  /** Takes the pending bytes (to write them to a machine that just became available). */
  takePending(): Buffer[] {
    const p = this.pending;
    if (p.length > 0) this.sentAny = true;
    this.pending = [];
    this.pendingBytes = 0;
    return p;
  }

  /** Makes everything received so far pending again, for a new attempt. False if it is not held. */
  rewind(): boolean {
    if (!this.copy) return false;
    this.pending = this.copy.slice();
    this.pendingBytes = this.copyBytes;
    return true;
  }

  /** The whole body as one buffer (for replay); undefined when it was too large to keep. */
  whole(): Buffer | undefined {
    return this.copy ? Buffer.concat(this.copy) : undefined;
  }
}
