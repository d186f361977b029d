import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * TSIG (RFC 8945), I/O-free: signs a DNS message with a shared secret and checks the server's
 * signed reply. dns-packet has no TSIG RDATA codec, so this file writes and reads those bytes.
 *
 * Signing (§4.3.3): the MAC covers the whole message as sent minus the TSIG RR, then the "TSIG
 * variables": key name (canonical wire form), class ANY, TTL 0, algorithm name, time signed (48
 * bits, seconds), fudge, error, other length and data. A reply's MAC (§5.3) is computed the same
 * way over the request's MAC (length-prefixed), the reply with its ID set back to the original ID
 * and ARCOUNT less one, and the reply's own TSIG variables.
 */
export type TsigAlgorithm = 'hmac-sha256' | 'hmac-sha512';

export interface TsigKey {
  /** The key's name as both ends configure it, e.g. `starling-acme`. */
  name: string;
  algorithm: TsigAlgorithm;
  /** The decoded shared secret. Never logged, never put in an error. */
  secret: Buffer;
}

export const TYPE_TSIG = 250;
export const CLASS_ANY = 255;
/** Seconds of clock skew either side that the signer allows (the RFC's recommended 300). */
export const FUDGE = 300;

/** TSIG error codes (RFC 8945 §3 and the IANA registry) with the names servers and tools use. */
export const TSIG_ERRORS: Record<number, string> = { 16: 'BADSIG', 17: 'BADKEY', 18: 'BADTIME', 22: 'BADTRUNC' };

const HASH: Record<TsigAlgorithm, string> = { 'hmac-sha256': 'sha256', 'hmac-sha512': 'sha512' };

/** A domain name in canonical wire form (RFC 4034 §6.2): lower case, uncompressed, root-terminated. */
export function encodeName(name: string): Buffer {
  const labels = name.toLowerCase().replace(/\.$/, '').split('.').filter((l) => l.length > 0);
  const parts: Buffer[] = [];
  for (const l of labels) {
    const b = Buffer.from(l, 'ascii');
    if (b.length > 63) throw new RangeError(`DNS label longer than 63 octets in ${JSON.stringify(name)}`);
    parts.push(Buffer.from([b.length]), b);
  }
  parts.push(Buffer.from([0]));
  const out = Buffer.concat(parts);
  if (out.length > 255) throw new RangeError(`DNS name longer than 255 octets: ${JSON.stringify(name)}`);
  return out;
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function u48(n: number): Buffer {
  const b = Buffer.alloc(6);
  b.writeUIntBE(n, 0, 6);
  return b;
}

/** The TSIG variables of §4.3.3, in MAC order. */
function variables(key: TsigKey, timeSigned: number, fudge: number, error: number, other: Buffer): Buffer {
  return Buffer.concat([
    encodeName(key.name), u16(CLASS_ANY), Buffer.alloc(4), encodeName(key.algorithm),
    u48(timeSigned), u16(fudge), u16(error), u16(other.length), other,
  ]);
}

function hmac(key: TsigKey, ...data: Buffer[]): Buffer {
  const h = createHmac(HASH[key.algorithm], key.secret);
  for (const d of data) h.update(d);
  return h.digest();
}

/** Signs `message` (a complete DNS message without TSIG); returns it with the TSIG RR appended, and the MAC. */
export function signMessage(message: Buffer, key: TsigKey, timeSigned: number): { signed: Buffer; mac: Buffer } {
  const mac = hmac(key, message, variables(key, timeSigned, FUDGE, 0, Buffer.alloc(0)));
  const id = message.readUInt16BE(0);
  const rdata = Buffer.concat([encodeName(key.algorithm), u48(timeSigned), u16(FUDGE), u16(mac.length), mac, u16(id), u16(0), u16(0)]);
  const rr = Buffer.concat([encodeName(key.name), u16(TYPE_TSIG), u16(CLASS_ANY), Buffer.alloc(4), u16(rdata.length), rdata]);
  const signed = Buffer.concat([message, rr]);
  signed.writeUInt16BE(message.readUInt16BE(10) + 1, 10);
  return { signed, mac };
}

/** A TSIG RR as read from a message. */
export interface TsigRecord {
  /** Offset of the RR's owner name in the message: the MAC covers the bytes before it. */
  offset: number;
  keyName: string;
  algorithm: string;
  timeSigned: number;
  fudge: number;
  mac: Buffer;
  originalId: number;
  error: number;
  other: Buffer;
}

/** Reads a (possibly compressed) name at `off`; returns it and the offset after it in place. */
export function readName(buf: Buffer, off: number): { name: string; end: number } {
  const labels: string[] = [];
  let end = -1;
  let hops = 0;
  for (;;) {
    const len = byteAt(buf, off);
    if (len === 0) {
      if (end < 0) end = off + 1;
      break;
    }
    if ((len & 0xc0) === 0xc0) {
      if (end < 0) end = off + 2;
      if (++hops > 64) throw new RangeError('DNS name compression loop');
      off = ((len & 0x3f) << 8) | byteAt(buf, off + 1);
      continue;
    }
    if (off + 1 + len > buf.length) throw new RangeError('DNS name runs past the message');
    labels.push(buf.toString('ascii', off + 1, off + 1 + len));
    off += 1 + len;
  }
  return { name: labels.join('.').toLowerCase(), end };
}

function byteAt(buf: Buffer, off: number): number {
  const b = buf[off];
  if (b === undefined) throw new RangeError('DNS message truncated');
  return b;
}

/** The last additional RR when it is a TSIG (§5.1: TSIG must be last), else undefined. */
export function findTsig(msg: Buffer): TsigRecord | undefined {
  if (msg.length < 12) throw new RangeError('DNS message shorter than its header');
  const counts = [4, 6, 8, 10].map((o) => msg.readUInt16BE(o));
  const [qd = 0, an = 0, ns = 0, ar = 0] = counts;
  if (ar === 0) return undefined;
  let off = 12;
  for (let i = 0; i < qd; i++) off = readName(msg, off).end + 4;
  let last = -1;
  for (let i = 0; i < an + ns + ar; i++) {
    last = off;
    off = readName(msg, off).end;
    if (off + 10 > msg.length) throw new RangeError('DNS message truncated');
    off += 10 + msg.readUInt16BE(off + 8);
  }
  if (off > msg.length) throw new RangeError('DNS message truncated');
  const owner = readName(msg, last);
  if (msg.readUInt16BE(owner.end) !== TYPE_TSIG) return undefined;
  let p = owner.end + 10;
  const alg = readName(msg, p);
  p = alg.end;
  const timeSigned = msg.readUIntBE(p, 6);
  const fudge = msg.readUInt16BE(p + 6);
  const macLen = msg.readUInt16BE(p + 8);
  const mac = msg.subarray(p + 10, p + 10 + macLen);
  p += 10 + macLen;
  const otherLen = msg.readUInt16BE(p + 4);
  return {
    offset: last, keyName: owner.name, algorithm: alg.name, timeSigned, fudge, mac,
    originalId: msg.readUInt16BE(p), error: msg.readUInt16BE(p + 2), other: msg.subarray(p + 6, p + 6 + otherLen),
  };
}

/** Whether a reply's TSIG MAC is right for `key`, given the MAC of the request it answers. */
export function verifyReplyMac(reply: Buffer, tsig: TsigRecord, key: TsigKey, requestMac: Buffer): boolean {
  if (tsig.mac.length === 0) return false;
  const body = Buffer.from(reply.subarray(0, tsig.offset));
  body.writeUInt16BE(tsig.originalId, 0);
  body.writeUInt16BE(body.readUInt16BE(10) - 1, 10);
  const expected = hmac(key, u16(requestMac.length), requestMac, body, variables(key, tsig.timeSigned, tsig.fudge, tsig.error, tsig.other));
  // A truncated MAC (§5.2.2.1) is not accepted: BIND and Knot send the full one.
  return expected.length === tsig.mac.length && timingSafeEqual(expected, tsig.mac);
}
