/**
 * Messages over a byte stream, each as a 2-octet big-endian length and its bytes: DNS over TCP
 * (RFC 1035 §4.2.2, RFC 7766 §8) and the proxies' tunnelled UDP flows (proxy/udp) alike. Pure:
 * write one frame; take whole messages back out of the stream however its chunks were cut.
 */
export function frame(message: Buffer): Buffer {
  const out = Buffer.allocUnsafe(2 + message.length);
  out.writeUInt16BE(message.length, 0);
  message.copy(out, 2);
  return out;
}

export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);

  /** The whole messages this chunk completes (none while a frame is still partial). */
  push(chunk: Buffer): Buffer[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: Buffer[] = [];
    let at = 0;
    while (this.buf.length - at >= 2) {
      const len = this.buf.readUInt16BE(at);
      if (this.buf.length - at - 2 < len) break;
      out.push(Buffer.from(this.buf.subarray(at + 2, at + 2 + len)));
      at += 2 + len;
    }
    // A copy of what is left, so a large chunk is not kept alive by a few bytes of it.
    this.buf = at === 0 ? this.buf : Buffer.from(this.buf.subarray(at));
    return out;
  }

  /** Octets of a frame still waiting for the rest of it. */
  get pending(): number {
    return this.buf.length;
  }
}
