import { formatNet, parseIp, parsePrefix, type Prefix } from '../shared/index.js';

/**
 * The lab's address arithmetic and its ranges, both families (docs/lab-topology.md, "Naming and
 * addressing"). The lab is dual stack: every link, client and the control plane has an IPv4 and an
 * IPv6 address, and every PoP announces an IPv4 and an IPv6 anycast prefix.
 *
 * IPv6 lives in 2001:db8::/32, the documentation prefix (RFC 3849): it can never be mistaken for a
 * real network, and it stays clear of fc00::/7, where the platform's private WireGuard network
 * (fdaa::/16, src/mesh) lives — the agents of the lab run that mesh over these very links. The IPv6
 * plan mirrors the IPv4 one, the IPv4 plan's second octet becoming the third group, so either
 * address of a link names the other: 10.64.x.y ↔ 2001:db8:64:<block>::, 10.128.<i>.0/24 ↔
 * 2001:db8:128:<i>::/64, 10.200.0.0/24 ↔ 2001:db8:200::/48.
 */

// ---- IPv4 arithmetic --------------------------------------------------------------------------------

/** A parsed IPv4 prefix: `base` is the address as written, `network` the same with host bits cleared. */
export interface Ipv4Prefix {
  base: number;
  network: number;
  len: number;
}

export function parseIpv4(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  const octets = m ? m.slice(1).map(Number) : [];
  if (octets.length !== 4 || octets.some((o) => o > 255)) return undefined;
  return octets.reduce((a, o) => a * 256 + o, 0);
}

export function formatIpv4(n: number): string {
  return [24, 16, 8, 0].map((sh) => String(Math.floor(n / 2 ** sh) % 256)).join('.');
}

const mask = (len: number): number => (len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0);

export function parseIpv4Prefix(s: string): Ipv4Prefix | undefined {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(s);
  const base = m ? parseIpv4(m[1]!) : undefined;
  const len = Number(m?.[2]);
  if (base === undefined || len > 32) return undefined;
  return { base, network: (base & mask(len)) >>> 0, len };
}

export function prefixesOverlap(a: Ipv4Prefix, b: Ipv4Prefix): boolean {
  const len = Math.min(a.len, b.len);
  return (a.network & mask(len)) >>> 0 === (b.network & mask(len)) >>> 0;
}

/** What the lab's IPv4 address plan takes; the anycast prefix must stay clear of it. */
export const LAB_RANGES = [
  { prefix: '10.64.0.0/16', use: 'the links of routers and PoP hosts' },
  { prefix: '10.128.0.0/16', use: 'the client links' },
  { prefix: '10.254.0.0/15', use: 'router ids' },
] as const;

// ---- IPv6 -------------------------------------------------------------------------------------------

/** The lab's whole IPv6 internet: the documentation prefix (RFC 3849). The routers accept nothing else. */
export const LAB_SPACE6 = '2001:db8::/32';
export const DEFAULT_ANYCAST6 = '2001:db8:200::/48';

/** What the lab's IPv6 address plan takes; the IPv6 anycast prefix must stay clear of it. */
export const LAB_RANGES6 = [
  { prefix: '2001:db8:64::/48', use: 'the links of routers and PoP hosts' },
  { prefix: '2001:db8:128::/48', use: 'the client and control-plane links' },
] as const;

/**
 * The /64 of link block `block` (the same counter that numbers the IPv4 /30s): one /64 per link,
 * as RFC 7421 and nearly every operator do, even for point-to-point links (RFC 6164's /127 would
 * do too; on veths between two namespaces no neighbour-cache exhaustion can happen). The `a` side
 * (the router, for a PoP host's link) takes ::1, the other ::2.
 */
export function linkSubnet6(block: number): { subnet: string; low: string; high: string } {
  const net = `2001:db8:64:${block.toString(16)}`;
  return { subnet: canonical(`${net}::/64`), low: canonical(`${net}::1`), high: canonical(`${net}::2`) };
}

/** The client link of the city at `index`: 2001:db8:128:<index in hex>::/64, router ::1, client ::2. */
export function clientSubnet6(index: number): { subnet: string; router: string; client: string } {
  const net = `2001:db8:128:${index.toString(16)}`;
  return { subnet: canonical(`${net}::/64`), router: canonical(`${net}::1`), client: canonical(`${net}::2`) };
}

/** RFC 5952 text, as BIRD and `ip` print it (2001:db8:64:0::1 → 2001:db8:64::1): addresses compare as strings. */
function canonical(s: string): string {
  return (s.includes('/') ? parsePrefix(s)?.text : parseIp(s)?.text) ?? s;
}

/** The control plane's link (10.128.255.0/24's twin): router ::1, control plane ::2. */
export const CONTROL_NET6 = clientSubnet6(0xff);

/** `p` with its host bits cleared, canonical (`2001:DB8:200:0::/48` → `2001:db8:200::/48`). */
export function network6(p: Prefix): string {
  const host = (1n << BigInt(128 - p.len)) - 1n;
  return `${formatNet(6, p.value & ~host)}/${p.len}`;
}

/** The first address of an IPv6 prefix: its service address (`2001:db8:200::/48` → `2001:db8:200::1`). */
export function firstAddress6(prefix: string): string {
  const p = parsePrefix(prefix)!;
  return formatNet(6, p.value + 1n);
}

/** `[addr]` for an IPv6 literal, `addr` otherwise: the host part of a URL. */
export const urlHost = (address: string): string => (address.includes(':') ? `[${address}]` : address);
