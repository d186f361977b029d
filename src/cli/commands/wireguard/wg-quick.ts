/**
 * The wg-quick config `wireguard create` prints (pure): the device's own key and address, the
 * `.internal` DNS, and its one peer — the gateway host — for the whole private network. Standard
 * wg-quick(8) keys only, so `wg-quick up FILE` and every WireGuard app import it as it is.
 */
import type { WireguardPeerDoc } from '../../../contract/index.js';
import { KEEPALIVE_S } from '../../../mesh/index.js';

/** What the control plane answered to the create (control/api/wireguard.ts CreatedPeer). */
export interface CreatedPeerJson extends WireguardPeerDoc {
  gateway: { public_key: string; endpoint: string };
  network: string;
  dns: string;
}

export function wgQuickConfig(peer: CreatedPeerJson, privateKey: string): string {
  return [
    `# Starling: WireGuard peer ${peer.name} of org ${peer.org}, through host ${peer.host} (${peer.region}).`,
    `# Up: wg-quick up ./this-file.conf, then ask ${peer.dns} for <app>.internal. Off: starling wireguard remove --org ${peer.org} ${peer.name}`,
    '[Interface]',
    `PrivateKey = ${privateKey}`,
    `Address = ${peer.address}/128`,
    `DNS = ${peer.dns}`,
    '',
    '[Peer]',
    `PublicKey = ${peer.gateway.public_key}`,
    // The whole platform prefix: the host part of an address comes before the org's, so an org's network is not one prefix; the gateway lets through only the org's addresses.
    `AllowedIPs = ${peer.network}`,
    `Endpoint = ${peer.gateway.endpoint}`,
    // The device is usually behind NAT: keep its mapping open so the mesh can reach it.
    `PersistentKeepalive = ${KEEPALIVE_S}`,
    '',
  ].join('\n');
}
