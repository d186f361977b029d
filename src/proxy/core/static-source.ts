import { createReadStream, type ReadStream } from 'node:fs';
import { headerValue, type RequestHead } from '../codec/index.js';
import type { Upstream, UpstreamBytes, UpstreamOwner } from '../upstream/index.js';
import type { StaticFile } from './statics.js';

/**
 * The statics file server (statics.ts), in the place of a machine's connection: once the exchange
 * has sent it the request, it answers with an HTTP/1.1 response — `200` with the file, or `304`
 * when the client's copy is current — as bytes through the owner's upstream callbacks, so the
 * response takes the path every machine's response takes (head rewriting, the app's response
 * headers, HTTP/2 framing, backpressure, metrics, the access log). It says `connection: close`, so
 * the exchange drops it after one response instead of pooling it.
 *
 * Range requests are answered whole (a server may ignore Range, RFC 9110 §14.2); Accept-Ranges is
 * not sent.
 */
export class StaticSource implements Upstream, UpstreamBytes {
  owner: UpstreamOwner | undefined;
  readonly reused = false;
  readonly writableNeedDrain = false;
  private asked = false;
  private stream: ReadStream | undefined;
  private paused = false;
  private closed = false;

  constructor(
    private readonly file: StaticFile,
    private readonly head: RequestHead,
  ) {}

  get socket(): UpstreamBytes {
    return this;
  }

  /** The request (head and any body): the first write starts the answer, after the exchange's turn. */
  write(): boolean {
    if (!this.asked) {
      this.asked = true;
      queueMicrotask(() => this.answer());
    }
    return true;
  }

  cork(): void {}
  uncork(): void {}

  pause(): void {
    this.paused = true;
    this.stream?.pause();
  }

  resume(): void {
    this.paused = false;
    this.stream?.resume();
  }

  isPaused(): boolean {
    return this.paused;
  }

  destroy(): void {
    this.closed = true;
    this.owner = undefined;
    this.stream?.destroy();
  }

  private answer(): void {
    if (this.closed || !this.owner) return;
    const f = this.file;
    const etag = f.tag;
    // Before 1971 is no time at all (an image stored without times): no Last-Modified, and If-Modified-Since says nothing.
    const modified = f.mtimeMs >= YEAR_MS ? new Date(Math.floor(f.mtimeMs / 1000) * 1000) : undefined;
    const fresh = isFresh(this.head, etag, modified);
    const head =
      (fresh ? 'HTTP/1.1 304 Not Modified\r\n' : `HTTP/1.1 200 OK\r\ncontent-type: ${f.type}\r\ncontent-length: ${f.size}\r\n`) +
      `etag: ${etag}\r\n${modified ? `last-modified: ${modified.toUTCString()}\r\n` : ''}x-content-type-options: nosniff\r\nconnection: close\r\n\r\n`;
    this.owner.onUpstreamData(Buffer.from(head, 'latin1'));
    // A HEAD, a 304 or an empty file is whole with its head; the exchange drops this source then.
    if (this.closed || fresh || this.head.method === 'HEAD' || f.size === 0) return;
    const stream = createReadStream(f.path);
    this.stream = stream;
    if (this.paused) stream.pause();
    stream.on('data', (chunk) => this.owner?.onUpstreamData(chunk as Buffer));
    // The file ended before its length (it changed under us): as a machine closing mid-body.
    stream.on('end', () => this.gone(undefined));
    stream.on('error', (err) => this.gone(err));
  }

  private gone(err: Error | undefined): void {
    const o = this.owner;
    if (this.closed || !o) return;
    this.closed = true;
    this.owner = undefined;
    o.onUpstreamEnd();
    o.onUpstreamClose(err);
  }
}

const YEAR_MS = 365 * 24 * 3600 * 1000;

/** RFC 9110 §13.1: If-None-Match wins over If-Modified-Since; either says the client's copy is this one. */
function isFresh(head: RequestHead, etag: string, modified: Date | undefined): boolean {
  const none = headerValue(head, 'if-none-match');
  if (none !== undefined) return none.trim() === '*' || none.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
  const since = headerValue(head, 'if-modified-since');
  if (since === undefined || modified === undefined) return false;
  const t = Date.parse(since);
  return !Number.isNaN(t) && modified.getTime() <= t;
}
