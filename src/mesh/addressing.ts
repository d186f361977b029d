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
 * A machine's private address on the host whose mesh address is `hostAddr` (`fdaa:2::1/16`):
 * prefix and host from it, then the org's and the machine's bits. No prefix length.
 */
export function machineAddress(hostAddr: string, org: string, machineId: string): string {
  const h = parsePrefix(hostAddr.includes('/') ? hostAddr : `${hostAddr}/128`);
  if (!h || h.family !== 6) throw new Error(`not a mesh address: ${hostAddr}`);
  const hostBits = h.value & (((1n << 32n) - 1n) << 96n);
  return formatNet(6, hostBits | (BigInt(orgNumber(org)) << 64n) | machineBits(machineId));
}

/** Whether two addresses of the plan are in one organisation (any hosts). */
export function sameOrg(a: string, b: string): boolean {
  const [x, y] = [parsePrefix(`${a}/128`), parsePrefix(`${b}/128`)];
  const orgMask = ((1n << 32n) - 1n) << 64n;
  return x !== undefined && y !== undefined && (x.value & orgMask) === (y.value & orgMask);
}

/**
 * Where machines ask `.internal` names: `<prefix>::3` (fly's `fdaa::3`), host number 0, so no
 * host's /32 holds it and it never enters the mesh — every host has it on its own interface and
 * answers its own machines. Derived from any address of the plan (`fdaa:2:…` → `fdaa::3`).
 */
export function privateDnsAddress(anyAddress: string): string {
  const first = anyAddress.split('/')[0]!.split(':')[0]!;
  return `${first}::3`;
}

