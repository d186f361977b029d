import tls from 'node:tls';
import { waitFor } from './wait.js';

/**
 * A tiny raw HTTP/2 client for abuse tests: it writes exactly the frames a test builds (no flow
 * control, no stream bookkeeping, nothing a well-behaved client library would refuse to send) and
 * records every frame the server answers with. RFC 9113 framing; header blocks use the one HPACK
 * representation every decoder must accept (literal without indexing, new name, no Huffman).
 */

export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

export const Flags = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const;

/** RFC 9113 §7 error codes (those the tests look for). */
export const ErrorCode = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  ENHANCE_YOUR_CALM: 0xb,
} as const;

export const Setting = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
} as const;

/** The largest frame payload a peer must accept before it says otherwise (SETTINGS_MAX_FRAME_SIZE). */
export const DEFAULT_MAX_FRAME = 16_384;

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export interface Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

export type HeaderList = readonly (readonly [string, string])[];

/** One frame on the wire: 9-byte header (length, type, flags, stream id) and the payload. */
export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([h, payload]);
}

/** An HPACK integer with an N-bit prefix (RFC 7541 §5.1); the prefix bits above N are zero. */
function hpackInt(n: number, prefixBits: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (n < max) return Buffer.from([n]);
  const out = [max];
  let rest = n - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return Buffer.from(out);
}

function hpackString(s: string): Buffer {
  const b = Buffer.from(s, 'latin1');
  return Buffer.concat([hpackInt(b.length, 7), b]); // H bit 0: no Huffman
}

/** A header block: every field as "literal header field without indexing, new name" (0x00). */
export function hpack(headers: HeaderList): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of headers) parts.push(Buffer.from([0]), hpackString(name), hpackString(value));
  return Buffer.concat(parts);
}

export function settingsFrame(settings: readonly (readonly [number, number])[] = [], ack = false): Buffer {
  const p = Buffer.alloc(6 * settings.length);
  settings.forEach(([id, value], i) => {
    p.writeUInt16BE(id, i * 6);
    p.writeUInt32BE(value, i * 6 + 2);
  });
  return frame(FrameType.SETTINGS, ack ? Flags.ACK : 0, 0, p);
}

/** HEADERS carrying `block` (an HPACK block or a header list); END_HEADERS unless told otherwise. */
export function headersFrame(
  streamId: number,
  block: Buffer | HeaderList,
  opts: { endStream?: boolean; endHeaders?: boolean } = {},
): Buffer {
  const flags = (opts.endStream ? Flags.END_STREAM : 0) | (opts.endHeaders === false ? 0 : Flags.END_HEADERS);
  return frame(FrameType.HEADERS, flags, streamId, Buffer.isBuffer(block) ? block : hpack(block));
}

export function continuationFrame(streamId: number, block: Buffer, endHeaders = false): Buffer {
  return frame(FrameType.CONTINUATION, endHeaders ? Flags.END_HEADERS : 0, streamId, block);
}

/**
 * A header block too big for one frame, split as RFC 9113 §6.10 says: HEADERS without END_HEADERS,
 * then CONTINUATION frames, the last with END_HEADERS.
 */
export function headerBlockFrames(streamId: number, block: Buffer, endStream: boolean, maxFrame = DEFAULT_MAX_FRAME): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at === 0 || at < block.length; at += maxFrame) {
    const piece = block.subarray(at, at + maxFrame);
    const last = at + maxFrame >= block.length;
    if (at === 0) out.push(headersFrame(streamId, piece, { endStream, endHeaders: last }));
    else out.push(continuationFrame(streamId, piece, last));
  }
  return out;
}

export function dataFrame(streamId: number, data: Buffer, endStream = false): Buffer {
  return frame(FrameType.DATA, endStream ? Flags.END_STREAM : 0, streamId, data);
}

export function rstStreamFrame(streamId: number, code: number): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(code, 0);
  return frame(FrameType.RST_STREAM, 0, streamId, p);
}

export function windowUpdateFrame(streamId: number, increment: number): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(increment & 0x7fffffff, 0);
  return frame(FrameType.WINDOW_UPDATE, 0, streamId, p);
}

export function pingFrame(data: Buffer = Buffer.alloc(8), ack = false): Buffer {
  return frame(FrameType.PING, ack ? Flags.ACK : 0, 0, data.subarray(0, 8));
}

export function goawayFrame(lastStreamId: number, code: number): Buffer {
  const p = Buffer.alloc(8);
  p.writeUInt32BE(lastStreamId & 0x7fffffff, 0);
  p.writeUInt32BE(code, 4);
  return frame(FrameType.GOAWAY, 0, 0, p);
}

/** The request pseudo-headers plus `extra`, for HEADERS. */
export function requestHeaders(authority: string, path = '/', method = 'GET', extra: HeaderList = []): HeaderList {
  return [[':method', method], [':scheme', 'https'], [':authority', authority], [':path', path], ...extra];
}

export interface GoAway {
  lastStreamId: number;
  code: number;
  debug: string;
}

/** A raw HTTP/2 connection over TLS (ALPN h2) that records what the server sends. */
export class H2Conn {
  /** Every frame received, in order. */
  readonly frames: Frame[] = [];
  closed = false;
  private buf: Buffer = Buffer.alloc(0);

  private constructor(readonly socket: tls.TLSSocket) {
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('error', () => undefined);
    socket.on('close', () => (this.closed = true));
  }

  /**
   * Connects, checks that h2 was negotiated, and writes the preface and our SETTINGS (`settings`:
   * e.g. INITIAL_WINDOW_SIZE 0). The server's SETTINGS are acknowledged as they arrive.
   */
  static open(
    port: number,
    servername: string,
    ca: string,
    settings: readonly (readonly [number, number])[] = [],
  ): Promise<H2Conn> {
    return new Promise((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port, servername, ca, ALPNProtocols: ['h2'] });
      s.once('error', reject);
      s.once('secureConnect', () => {
        s.removeListener('error', reject);
        if (s.alpnProtocol !== 'h2') {
          s.destroy();
          return reject(new Error(`server chose ALPN ${String(s.alpnProtocol)}, not h2`));
        }
        const c = new H2Conn(s);
        c.write(PREFACE, settingsFrame(settings));
        resolve(c);
      });
    });
  }

  write(...frames: Buffer[]): void {
    if (!this.socket.destroyed) this.socket.write(Buffer.concat(frames));
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    while (this.buf.length >= 9) {
      const len = this.buf.readUIntBE(0, 3);
      if (this.buf.length < 9 + len) break;
      const f: Frame = {
        type: this.buf[3]!,
        flags: this.buf[4]!,
        streamId: this.buf.readUInt32BE(5) & 0x7fffffff,
        payload: Buffer.from(this.buf.subarray(9, 9 + len)),
      };
      this.buf = this.buf.subarray(9 + len);
      this.frames.push(f);
      if (f.type === FrameType.SETTINGS && (f.flags & Flags.ACK) === 0) this.write(settingsFrame([], true));
      if (f.type === FrameType.PING && (f.flags & Flags.ACK) === 0) this.write(pingFrame(f.payload, true));
    }
  }

  of(type: number, streamId?: number): Frame[] {
    return this.frames.filter((f) => f.type === type && (streamId === undefined || f.streamId === streamId));
  }

  /** The server's SETTINGS (the non-ACK ones), id → value. */
  serverSettings(): Map<number, number> {
    const m = new Map<number, number>();
    for (const f of this.of(FrameType.SETTINGS)) {
      if (f.flags & Flags.ACK) continue;
      for (let at = 0; at + 6 <= f.payload.length; at += 6) m.set(f.payload.readUInt16BE(at), f.payload.readUInt32BE(at + 2));
    }
    return m;
  }

  /** Every GOAWAY received, in order. */
  goaways(): GoAway[] {
    return this.of(FrameType.GOAWAY).map((f) => ({
      lastStreamId: f.payload.readUInt32BE(0) & 0x7fffffff,
      code: f.payload.readUInt32BE(4),
      debug: f.payload.subarray(8).toString('latin1'),
    }));
  }

  /** RST_STREAM error codes by stream id (the first one per stream). */
  resets(): Map<number, number> {
    const m = new Map<number, number>();
    for (const f of this.of(FrameType.RST_STREAM)) if (!m.has(f.streamId)) m.set(f.streamId, f.payload.readUInt32BE(0));
    return m;
  }

  /** Streams the server answered with a HEADERS frame (a response started). */
  answered(): Set<number> {
    return new Set(this.of(FrameType.HEADERS).map((f) => f.streamId));
  }

  /** Whether the server has acknowledged our SETTINGS. */
  get settingsAcked(): boolean {
    return this.frames.some((f) => f.type === FrameType.SETTINGS && (f.flags & Flags.ACK) !== 0);
  }

  /** Polls `pred`; a timeout says what had arrived by then (not what had arrived when the wait began). */
  async until(pred: (c: H2Conn) => boolean, what: string, timeoutMs = 30_000): Promise<void> {
    try {
      await waitFor(() => pred(this), what, timeoutMs);
    } catch (err) {
      throw new Error(`${(err as Error).message}; got ${this.describe()}`);
    }
  }

  /** A short summary of what was received, for failure messages. */
  describe(): string {
    const counts = new Map<number, number>();
    for (const f of this.frames) counts.set(f.type, (counts.get(f.type) ?? 0) + 1);
    const names = Object.fromEntries(Object.entries(FrameType).map(([k, v]) => [v, k]));
    const parts = [...counts].map(([t, n]) => `${names[t] ?? t}×${n}`);
    // RST_STREAM by error code, with the highest stream id reset with each.
    const codeNames = Object.fromEntries(Object.entries(ErrorCode).map(([k, v]) => [v, k]));
    const byCode = new Map<number, { n: number; last: number }>();
    for (const [id, code] of this.resets()) {
      const e = byCode.get(code) ?? { n: 0, last: 0 };
      byCode.set(code, { n: e.n + 1, last: Math.max(e.last, id) });
    }
    const rst = [...byCode].map(([code, e]) => `${codeNames[code] ?? code}×${e.n} (last ${e.last})`);
    return `[${parts.join(', ')}] rst=[${rst.join(', ')}] goaway=${JSON.stringify(this.goaways())} closed=${this.closed}`;
  }

  close(): void {
    this.socket.destroy();
  }
}
