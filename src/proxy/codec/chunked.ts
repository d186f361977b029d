/**
 * An incremental, I/O-free scanner for chunked transfer coding (RFC 9112 §7.1).
 *
 * The proxy passes chunked bodies through byte for byte, so it only needs to know where a body ends
 * and that every chunk size is valid (an invalid one is a smuggling shape and is refused). When the
 * receiver cannot take chunked coding (an HTTP/1.0 client), `onData` yields the payload ranges.
 */
const enum S {
  Size,
  Ext,
  SizeLf,
  Data,
  DataCr,
  DataLf,
  TrailerStart,
  Trailer,
  TrailerLf,
  LastLf,
  Done,
}

/** 13 hex digits (2^52) is far beyond any real chunk and keeps the size a safe JS integer. */
const MAX_SIZE_DIGITS = 13;
const MAX_EXT_BYTES = 4096;
const MAX_TRAILER_BYTES = 16 * 1024;

export type ChunkErrorCode = 'bad_chunk_size' | 'bad_chunk_framing' | 'chunk_ext_too_long' | 'trailer_too_long';

export class ChunkedScanner {
  private s = S.Size;
  private remaining = 0;
  private digits = 0;
  private extBytes = 0;
  private trailerBytes = 0;
  error: ChunkErrorCode | undefined;

  get done(): boolean {
    return this.s === S.Done;
  }

  /**
   * Scans buf[start, end). Returns the index just past the body's last byte when the body ended
   * inside this range, `end` when more bytes are needed, or -1 on a framing error (see `error`).
   */
  scan(buf: Buffer, start: number, end: number, onData?: (from: number, to: number) => void): number {
    let i = start;
    while (i < end) {
      switch (this.s) {
        case S.Data: {
          const take = Math.min(this.remaining, end - i);
          if (onData) onData(i, i + take);
          this.remaining -= take;
          i += take;
          if (this.remaining === 0) this.s = S.DataCr;
          continue;
        }
        case S.Size: {
          const c = buf[i]!;
          const v = hexValue(c);
          if (v >= 0) {
            if (++this.digits > MAX_SIZE_DIGITS) return this.fail('bad_chunk_size');
            this.remaining = this.remaining * 16 + v;
          } else if (this.digits === 0) {
            return this.fail('bad_chunk_size');
          } else if (c === 0x3b /* ; */) {
            this.s = S.Ext;
          } else if (c === 0x0d) {
            this.s = S.SizeLf;
          } else {
            return this.fail('bad_chunk_size');
          }
          break;
        }
        case S.Ext: {
          const c = buf[i]!;
          if (c === 0x0d) this.s = S.SizeLf;
          else if (c === 0x0a || ++this.extBytes > MAX_EXT_BYTES) {
            return this.fail(c === 0x0a ? 'bad_chunk_framing' : 'chunk_ext_too_long');
          }
          break;
        }
        case S.SizeLf:
          if (buf[i] !== 0x0a) return this.fail('bad_chunk_framing');
          this.digits = 0;
          this.extBytes = 0;
          this.s = this.remaining === 0 ? S.TrailerStart : S.Data;
          break;
        case S.DataCr:
          if (buf[i] !== 0x0d) return this.fail('bad_chunk_framing');
          this.s = S.DataLf;
          break;
        case S.DataLf:
          if (buf[i] !== 0x0a) return this.fail('bad_chunk_framing');
          this.s = S.Size;
          break;
        case S.TrailerStart:
          if (buf[i] === 0x0d) this.s = S.LastLf;
          else if (buf[i] === 0x0a) return this.fail('bad_chunk_framing');
          else this.s = S.Trailer;
          if (++this.trailerBytes > MAX_TRAILER_BYTES) return this.fail('trailer_too_long');
          break;
        case S.Trailer:
          if (buf[i] === 0x0d) this.s = S.TrailerLf;
          else if (buf[i] === 0x0a) return this.fail('bad_chunk_framing');
          if (++this.trailerBytes > MAX_TRAILER_BYTES) return this.fail('trailer_too_long');
          break;
        case S.TrailerLf:
          if (buf[i] !== 0x0a) return this.fail('bad_chunk_framing');
          this.s = S.TrailerStart;
          break;
        case S.LastLf:
          if (buf[i] !== 0x0a) return this.fail('bad_chunk_framing');
          this.s = S.Done;
          return i + 1;
        case S.Done:
          return i;
      }
      i++;
    }
    return end;
  }

  private fail(code: ChunkErrorCode): number {
    this.error = code;
    return -1;
  }
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}
