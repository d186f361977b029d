/**
 * The private network's addressing plan (docs/private-network.md). One ULA /16 for the platform
 * (default fdaa::/16, as fly's 6PN), split host first so that everything behind one host is one
 * prefix — one WireGuard peer, one allowed-ips entry:
 *
 *   | 16 bits prefix | 16 bits host | 32 bits organisation | 64 bits machine |
 *
 * The host itself is organisation 0, machine 1: `fdaa:<host>::1`. Host numbers are 1–65535, given
 * by the control plane when the host first registers on the mesh and freed when it is removed.
 */
import { createHash } from 'node:crypto';
import { formatNet, parsePrefix } from '../shared/index.js';

export const DEFAULT_PRIVATE_PREFIX = 'fdaa::/16';
export const MAX_HOST_NUMBER = 0xffff;

/** A /16 inside fc00::/7 (RFC 4193 unique local addresses), or a reason it is not one. */
export function checkPrivatePrefix(s: string): string | undefined {
  const p = parsePrefix(s);
  if (!p || p.family !== 6) return 'must be an IPv6 prefix such as fdaa::/16';
  if (p.len !== 16) return 'must be a /16 (the plan gives 16 bits to hosts, 32 to organisations, 64 to machines)';
  if (p.value >> 121n !== 0x7en) return 'must be a unique local prefix inside fc00::/7 (RFC 4193), such as fdaa::/16';
  if ((p.value & ((1n << 112n) - 1n)) !== 0n) return 'has bits set past /16';
  return undefined;
}

function base(prefix: string): bigint {
  const p = parsePrefix(prefix);
  if (!p || checkPrivatePrefix(prefix) !== undefined) throw new Error(`not a private /16: ${prefix}`);
  return p.value;
}

/** The host's own mesh address with the prefix length: `fdaa:2::1/16`. */
export function hostAddress(prefix: string, host: number): string {
  return `${formatNet(6, base(prefix) | (BigInt(host) << 96n) | 1n)}/16`;
}

/** Everything behind the host: `fdaa:2::/32`. */
export function hostSubnet(prefix: string, host: number): string {
  return `${formatNet(6, base(prefix) | (BigInt(host) << 96n))}/32`;
}

/**
 * An organisation's 32 bits: the first four bytes of SHA-256 of its name. Derived, not given out,
 * so every host and the `.internal` DNS compute a machine's address from the feed alone; the
 * control plane refuses to create an org whose bits another org has (or 0, the hosts'), so two
 * orgs never share a network.
 */
export function orgNumber(org: string): number {
  return createHash('sha256').update(org).digest().readUInt32BE(0);
}

/**
 * A machine's 64 bits: its id itself when it is the platform's 14 hex digits (so the address shows
 * the id), else the first eight bytes of SHA-256 of the id. Never 1 (the host's own address).
 */
export function machineBits(id: string): bigint {
  const v = /^[0-9a-f]{1,16}$/.test(id) ? BigInt(`0x${id}`) : createHash('sha256').update(id).digest().readBigUInt64BE(0);
  return v <= 1n ? v + 2n : v;
}

/**
 * A WireGuard peer's 64 bits (a laptop on an org's network, `starling wireguard create`): the top
 * bit set, then 63 bits of SHA-256 of org and name. Machine ids are 14 hex digits (56 bits), so a
 * peer never takes a machine's address; the control plane also refuses a second peer at one address.
 */
export function peerBits(org: string, name: string): bigint {
  return taggedBits('wireguard-peer', org, name);
}

/** 64 bits named by a kind and two names: the top bit set (never a machine id's), 63 of SHA-256. */
function taggedBits(kind: string, org: string, name: string): bigint {
  const h = createHash('sha256').update(`${kind}\0${org}\0${name}`).digest().readBigUInt64BE(0);
  return (1n << 63n) | (h & ((1n << 63n) - 1n));
}

const PREFIX_BITS = ((1n << 16n) - 1n) << 112n;
const ORG_BITS = ((1n << 32n) - 1n) << 64n;
/** The prefix and the host number: everything behind one host. */
const HOST_BITS = ((1n << 32n) - 1n) << 96n;

/** An address of the plan as a number (a prefix length after it is ignored). */
function valueOf(address: string): bigint {
  const p = parsePrefix(`${address.split('/')[0]!}/128`);
  if (!p || p.family !== 6) throw new Error(`not an address of the private network: ${address}`);
  return p.value;
}

/**
 * A machine's private address on the host whose mesh address is `hostAddr` (`fdaa:2::1/16`):
 * prefix and host from it, then the org's and the machine's bits. No prefix length.
 */
export function machineAddress(hostAddr: string, org: string, machineId: string): string {
  return formatNet(6, (valueOf(hostAddr) & HOST_BITS) | (BigInt(orgNumber(org)) << 64n) | machineBits(machineId));
}

/** A WireGuard peer's address behind the gateway host whose mesh address is `hostAddr`. No prefix length. */
export function peerAddress(hostAddr: string, org: string, name: string): string {
  return formatNet(6, (valueOf(hostAddr) & HOST_BITS) | (BigInt(orgNumber(org)) << 64n) | peerBits(org, name));
}

/**
 * An app's private service address (fly's Flycast, `starling ips allocate-private`):
 * `<prefix>:0:<org>:<64 bits>` — host number 0, so it is in no host's /32 and never enters the
 * mesh: every host has it on its own interface and its proxy answers it, as `<prefix>::3` for DNS.
 * In the org's network, so the org's machines' firewalls let them reach it and no other org's.
 * The 64 bits: the top bit set, then 63 bits of SHA-256 of org and app.
 */
export function serviceAddress(prefix: string, org: string, app: string): string {
  return formatNet(6, base(prefix) | (BigInt(orgNumber(org)) << 64n) | taggedBits('private-service', org, app));
}

/** Whether an address is a private service address of the plan: host number 0 and an org's bits (not the DNS's). */
export function isServiceAddress(address: string): boolean {
  let v: bigint;
  try {
    v = valueOf(address);
  } catch {
    return false;
  }
  return (v & (((1n << 16n) - 1n) << 96n)) === 0n && (v & ORG_BITS) !== 0n && (v >> 121n) === 0x7en;
}

/** The bits that name an organisation's network on every host: the prefix's and the org's. */
export const ORG_NETWORK_MASK = formatNet(6, PREFIX_BITS | ORG_BITS);

/**
 * What ORG_NETWORK_MASK leaves of an address: `fdaa:2:1234:5678:…` → `fdaa:0:1234:5678::`. Two
 * addresses are of one organisation (on any hosts) when theirs are equal — what each machine's
 * firewall checks (runtime sandbox-firewall.ts).
 */
export function orgNetwork(address: string): string {
  return formatNet(6, valueOf(address) & (PREFIX_BITS | ORG_BITS));
}

/** The platform's /16 around any of its addresses: `fdaa:2:…` → `fdaa::/16`. */
export function privateNetOf(address: string): string {
  return `${formatNet(6, valueOf(address) & PREFIX_BITS)}/16`;
}

/**
 * Where machines ask `.internal` names: `<prefix>::3` (fly's `fdaa::3`), host number 0, so no
 * host's /32 holds it and it never enters the mesh — every host has it on its own interface and
 * answers its own machines. Derived from any address of the plan (`fdaa:2:…` → `fdaa::3`).
 */
export function privateDnsAddress(anyAddress: string): string {
  return formatNet(6, (valueOf(anyAddress) & PREFIX_BITS) | 3n);
}

