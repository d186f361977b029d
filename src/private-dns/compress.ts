/**
 * Name compression for our replies (RFC 1035 §4.1.4), which dns-packet does not do: an owner name
 * equal to the question's is written as a pointer to it (0xC00C, the question's name at offset 12).
 * Every record of an `.internal` answer is owned by the question's name, so this alone takes each
 * AAAA from 40-odd octets to 28, and about twice as many fit in a UDP reply before it truncates.
 *
 * Works on dns-packet's output, which holds no pointers: moving records therefore breaks no
 * pointer, and names inside RDATA (the SOA's) stay written out in full. Pure.
 */

/** The length of the uncompressed name at `at`, or undefined when it runs past the end or holds a pointer. */
function nameLength(msg: Buffer, at: number): number | undefined {
  let p = at;
  for (;;) {
    const len = msg[p];
    if (len === undefined || (len & 0xc0) !== 0) return undefined;
    p += 1 + len;
    if (len === 0) return p - at;
  }
}

/** `msg` with each record's owner name that equals the question's name replaced by a pointer to it. */
export function compressOwners(msg: Buffer): Buffer {
  if (msg.length < 12 || msg.readUInt16BE(4) !== 1) return msg;
  const qLen = nameLength(msg, 12);
  if (qLen === undefined || qLen <= 1) return msg; // the root: nothing to gain
  const qname = msg.subarray(12, 12 + qLen);
  const records = msg.readUInt16BE(6) + msg.readUInt16BE(8) + msg.readUInt16BE(10);
  const parts: Buffer[] = [msg.subarray(0, 12 + qLen + 4)];
  let p = 12 + qLen + 4;
  for (let i = 0; i < records; i++) {
    const len = nameLength(msg, p);
    if (len === undefined || p + len + 10 > msg.length) return msg;
    parts.push(len === qLen && msg.subarray(p, p + len).equals(qname) ? Buffer.from([0xc0, 0x0c]) : msg.subarray(p, p + len));
    p += len;
    const end = p + 10 + msg.readUInt16BE(p + 8);
    if (end > msg.length) return msg;
    parts.push(msg.subarray(p, end));
    p = end;
  }
  return p === msg.length ? Buffer.concat(parts) : msg;
}
