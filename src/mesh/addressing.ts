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
