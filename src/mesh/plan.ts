/**
 * The peers a host's device should have, from the control plane's host list, and the one UAPI set
 * that takes the device from what it has to that (I/O-free). Peers that did not change are left
 * alone, so their sessions and handshakes go on.
 */
import type { PeerConfig, PeerState, SetOp } from './uapi.js';

/** What the control plane says of a host on the mesh (HostDoc.mesh). */
export interface MeshHost {
  id: string;
  publicKey: string;
  /** `IP:PORT` of its WireGuard socket on the underlay. */
  endpoint: string;
  /** Its mesh address with the platform prefix length, e.g. `fdaa:2::1/16`. */
  address: string;
  /** The addresses that live behind it, e.g. `fdaa:2::/32`. */
  subnet: string;
}

/** Seconds between keepalives: keeps NAT and conntrack state of a quiet peer warm. */
export const KEEPALIVE_S = 25;

/**
 * The peers the device should have. `held`: public keys of peers just added whose handshake this
 * side leaves to the other for a moment (Mesh, below): without a persistent keepalive yet, so
 * wireguard-go does not start one at once.
 */
export function desiredPeers(hosts: readonly MeshHost[], self: string, held: ReadonlySet<string> = new Set()): PeerConfig[] {
  const seen = new Set<string>();
  const out: PeerConfig[] = [];
  for (const h of [...hosts].sort((a, b) => a.id.localeCompare(b.id))) {
    // A key listed twice (the control plane refuses it) would make both hosts one peer: the first wins.
    if (h.id === self || seen.has(h.publicKey)) continue;
    seen.add(h.publicKey);
    out.push({ publicKey: h.publicKey, endpoint: h.endpoint, allowedIps: [h.subnet], keepalive: held.has(h.publicKey) ? 0 : KEEPALIVE_S });
  }
  return out;
}

const same = (a: PeerConfig, b: PeerConfig): boolean =>
  a.endpoint === b.endpoint && a.keepalive === b.keepalive && a.allowedIps.length === b.allowedIps.length && a.allowedIps.every((x, i) => x === b.allowedIps[i]);

/** The set operation from `current` to `desired`, or undefined when nothing is to change. */
export function planPeers(current: ReadonlyMap<string, PeerState>, desired: readonly PeerConfig[]): SetOp | undefined {
  const want = new Map(desired.map((p) => [p.publicKey, p]));
  const remove = [...current.keys()].filter((k) => !want.has(k));
  const put = desired.filter((p) => {
    const have = current.get(p.publicKey);
    return have === undefined || !same(have, p);
  });
  return remove.length === 0 && put.length === 0 ? undefined : { remove, put };
}
