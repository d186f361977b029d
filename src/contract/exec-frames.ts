/**
 * The bytes of an exec stream (`POST …/machines/{id}/exec`, docs/control-api.md "Exec"), the same
 * from the CLI through the control plane to the agent: frames of a type byte, a 4-byte big-endian
 * length and that many bytes of payload. The client sends stdin and its end; the agent sends stdout,
 * stderr, pings, and finally the exit status (JSON `{ code, signal }`), or an error (JSON `{ code,
 * message }`) when the command could not run. A port connection (`…/connect`) uses the same frames:
 * stdin in, stdout out. The control plane relays the bytes unread. I/O-free.
 */
export const FRAME = {
  stdin: 0x01,
  stdinEnd: 0x02,
  stdout: 0x11,
  stderr: 0x12,
  exit: 0x13,
  error: 0x14,
  /** Nothing: sent every PING_INTERVAL_MS so no hop takes a quiet session for a dead one. */
  ping: 0x15,
} as const;

/** HTTP clients give up on an answer silent for minutes (undici: 5): a ping well before that. */
export const PING_INTERVAL_MS = 30_000;

export type FrameType = (typeof FRAME)[keyof typeof FRAME];

/** The largest payload a frame may carry: more is a broken or hostile peer. */
export const MAX_FRAME_PAYLOAD = 1 << 20;

export interface Frame {
  type: number;
  payload: Buffer;
}

export function encodeFrame(type: FrameType, payload: Buffer | string = Buffer.alloc(0)): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const head = Buffer.alloc(5);
  head.writeUInt8(type, 0);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

/** Cuts a byte stream into frames, across chunk boundaries. */
export class FrameDecoder {
  private buf = Buffer.alloc(0);

  /** The frames completed by `chunk`; throws on a frame over MAX_FRAME_PAYLOAD. */
  push(chunk: Uint8Array): Frame[] {
    this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
    const out: Frame[] = [];
    while (this.buf.length >= 5) {
      const len = this.buf.readUInt32BE(1);
      if (len > MAX_FRAME_PAYLOAD) throw new Error(`an exec frame of ${len} bytes is over the ${MAX_FRAME_PAYLOAD}-byte cap`);
      if (this.buf.length < 5 + len) break;
      out.push({ type: this.buf.readUInt8(0), payload: this.buf.subarray(5, 5 + len) });
      this.buf = this.buf.subarray(5 + len);
    }
    return out;
  }

  /** Bytes of an unfinished frame are left (the stream ended mid-frame). */
  get pending(): number {
    return this.buf.length;
  }
}
