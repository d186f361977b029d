/**
 * Datagrams over a byte stream (a UDP flow through a peer proxy's tunnel, tcp/peer-tunnel.ts):
 * each one as a 2-byte big-endian length and its bytes. A datagram's boundaries survive; its
 * loss does not happen (the stream is TCP), so a tunnelled flow trades UDP's independence of
 * datagrams for reaching a machine on another host. Pure.
 */
export const MAX_DATAGRAM = 65_535;

export function frame(datagram: Buffer): Buffer {
  const out = Buffer.allocUnsafe(2 + datagram.length);
  out.writeUInt16BE(datagram.length, 0);
  datagram.copy(out, 2);
  return out;
}

/** Reassembles datagrams from the stream's chunks, however they were cut. */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);

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
    this.buf = this.buf.subarray(at);
    return out;
  }
}
