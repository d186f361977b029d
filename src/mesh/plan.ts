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

/**
 * A device outside the platform that this host is the gateway of (`starling wireguard create`):
 * its public key and its one address. Its endpoint is whatever it sends from (it roams; WireGuard
 * learns it from the handshake), and it starts every handshake itself.
 */
export interface MeshClient {
  /** What status shows for it: `<org>/<name>`. */
  label: string;
  publicKey: string;
  /** No prefix length: `fdaa:2:…`. */
  address: string;
}

/** Seconds between keepalives: keeps NAT and conntrack state of a quiet peer warm. */
export const KEEPALIVE_S = 25;

/**
 * The peers the device should have. `held`: public keys of peers just added whose handshake this
 * side leaves to the other for a moment (Mesh, below): without a persistent keepalive yet, so
 * wireguard-go does not start one at once.
 */
export function desiredPeers(hosts: readonly MeshHost[], self: string, held: ReadonlySet<string> = new Set(), clients: readonly MeshClient[] = []): PeerConfig[] {
  const seen = new Set<string>();
  const out: PeerConfig[] = [];
  for (const h of [...hosts].sort((a, b) => a.id.localeCompare(b.id))) {
    // A key listed twice (the control plane refuses it) would make both hosts one peer: the first wins.
    if (h.id === self || seen.has(h.publicKey)) continue;
    seen.add(h.publicKey);
    out.push({ publicKey: h.publicKey, endpoint: h.endpoint, allowedIps: [h.subnet], keepalive: held.has(h.publicKey) ? 0 : KEEPALIVE_S });
  }
  // A client's key that is a host's (the control plane refuses it) would take that host's peer: the host wins.
  for (const c of [...clients].sort((a, b) => a.address.localeCompare(b.address))) {
    if (seen.has(c.publicKey)) continue;
    seen.add(c.publicKey);
    out.push({ publicKey: c.publicKey, endpoint: undefined, allowedIps: [`${c.address}/128`], keepalive: 0 });
  }
  return out;
}

/** `want` without an endpoint (a client's) takes whatever the device learned. */
const same = (have: PeerConfig, want: PeerConfig): boolean =>
  (want.endpoint === undefined || have.endpoint === want.endpoint) && have.keepalive === want.keepalive && have.allowedIps.length === want.allowedIps.length && have.allowedIps.every((x, i) => x === want.allowedIps[i]);

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
