/**
 * The PROXY protocol (HAProxy's spec, versions 1 and 2): the header the edge writes in front of a
 * connection's bytes when a service asks for it (`handlers = ["proxy_proto"]`), so the app sees
 * the client's address and port and the address it connected to. Pure: bytes in, bytes out.
 *
 * A header from a client is never passed on (`startsWithProxyHeader`): the client connects to the
 * edge directly, so a PROXY header from it can only be an attempt to pass for another address.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { expandIpv6 } from '../../shared/index.js';

export interface Endpoints {
  srcAddress: string;
  srcPort: number;
  dstAddress: string;
  dstPort: number;
}

/** v2's 12-byte signature (spec section 2.2). */
export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ', 'latin1');

/** `::ffff:1.2.3.4` is 1.2.3.4: sockets on a dual-stack listener report IPv4 clients that way. */
export function plainAddress(address: string): string {
  return address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address;
}

/** One family for both ends: IPv6 when either is (an IPv4 end is then written IPv4-mapped). */
function family(e: Endpoints): { v6: boolean; src: string; dst: string } | undefined {
  const src = plainAddress(e.srcAddress);
  const dst = plainAddress(e.dstAddress);
  if (!(isIPv4(src) || isIPv6(src)) || !(isIPv4(dst) || isIPv6(dst))) return undefined;
  if (isIPv4(src) && isIPv4(dst)) return { v6: false, src, dst };
  return { v6: true, src: isIPv4(src) ? `::ffff:${src}` : src, dst: isIPv4(dst) ? `::ffff:${dst}` : dst };
}

/** v1: one text line, `PROXY TCP4 <src> <dst> <sport> <dport>\r\n` (`PROXY UNKNOWN` when the addresses are unknown). */
export function proxyHeaderV1(e: Endpoints): Buffer {
  const f = family(e);
  if (!f) return Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
  return Buffer.from(`PROXY ${f.v6 ? 'TCP6' : 'TCP4'} ${f.src} ${f.dst} ${e.srcPort} ${e.dstPort}\r\n`, 'latin1');
}

/** v2: the binary form, command PROXY over TCP (LOCAL with no addresses when they are unknown). */
export function proxyHeaderV2(e: Endpoints): Buffer {
  const f = family(e);
  if (!f) return Buffer.concat([V2_SIGNATURE, Buffer.from([0x20, 0x00, 0x00, 0x00])]);
  const len = f.v6 ? 36 : 12;
  const out = Buffer.alloc(16 + len);
  V2_SIGNATURE.copy(out, 0);
  out[12] = 0x21; // version 2, command PROXY
  out[13] = f.v6 ? 0x21 : 0x11; // AF_INET6 or AF_INET, STREAM
  out.writeUInt16BE(len, 14);
  const a = f.v6 ? ipv6Bytes(f.src) : ipv4Bytes(f.src);
  const b = f.v6 ? ipv6Bytes(f.dst) : ipv4Bytes(f.dst);
  a.copy(out, 16);
  b.copy(out, 16 + a.length);
  out.writeUInt16BE(e.srcPort, 16 + 2 * a.length);
  out.writeUInt16BE(e.dstPort, 18 + 2 * a.length);
  return out;
}

export function proxyHeader(version: 'v1' | 'v2', e: Endpoints): Buffer {
  return version === 'v2' ? proxyHeaderV2(e) : proxyHeaderV1(e);
}

/**
 * Whether a connection's first bytes are a PROXY header (either version): 'yes', 'no', or 'more'
 * when the bytes so far are a prefix of one and more are needed to tell.
 */
export function startsWithProxyHeader(b: Buffer): 'yes' | 'no' | 'more' {
  for (const sig of [V1_PREFIX, V2_SIGNATURE]) {
    const n = Math.min(b.length, sig.length);
    if (b.subarray(0, n).equals(sig.subarray(0, n))) return n === sig.length ? 'yes' : 'more';
  }
  return 'no';
}

function ipv4Bytes(a: string): Buffer {
  return Buffer.from(a.split('.').map(Number));
}

function ipv6Bytes(a: string): Buffer {
  const out = Buffer.alloc(16);
  expandIpv6(a).forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}
