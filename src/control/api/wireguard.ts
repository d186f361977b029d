/**
 * WireGuard peers: devices outside the platform (a laptop, a CI runner) on an org's private
 * network, as fly's `fly wireguard create` (docs/private-network.md, "Your laptop"). The CLI makes
 * the key pair and sends only the public key; the control plane picks a gateway host on the mesh,
 * gives the peer an address behind it (mesh/addressing.ts peerAddress) and stores it under
 * `wireguard_peers/<org>.<name>`, which the feed takes to the gateway's agent: it adds the peer to
 * its WireGuard interface and keeps it to its org (mesh/client-filter.ts).
 *
 * Creating and removing one needs an admin token of the org — a peer is a standing way into every
 * machine of the org — and a token for the whole org, not one app. Listing needs read.
 */
import { z } from 'zod';
import { wireguardPeerKey, type WireguardPeerDoc } from '../../contract/index.js';
import { isWireguardKey, peerAddress, privateDnsAddress, privateNetOf } from '../../mesh/index.js';
import { isStarlingError } from '../../shared/index.js';
import { seesOrg, type Principal } from '../auth/index.js';
import { HttpError, json, route, type Route } from './http.js';
import { appName, orgName, regionCode, type ApiContext, type HostDoc } from './schemas.js';

export const WIREGUARD_PEERS = 'wireguard_peers';

const CreatePeer = z.strictObject({
  name: appName,
  public_key: z.string().refine(isWireguardKey, 'must be a WireGuard public key: base64 of 32 bytes, as `wg pubkey` prints'),
  /** The gateway's region; absent: any host on the mesh. */
  region: regionCode.optional(),
});

/** What create answers: the peer, and what its wg-quick config needs of the gateway. */
export interface CreatedPeer extends WireguardPeerDoc {
  gateway: { public_key: string; endpoint: string };
  /** The platform's private /16: the config's AllowedIPs. */
  network: string;
  /** The `.internal` DNS (fdaa::3), reached through the gateway. */
  dns: string;
}

/** The gateway for a new peer: a healthy host on the mesh (in `region`), the one with fewest peers, then by id. */
function pickGateway(hosts: readonly HostDoc[], peers: readonly WireguardPeerDoc[], region: string | undefined): HostDoc | undefined {
  const load = (h: HostDoc): number => peers.filter((p) => p.host === h.id).length;
  return hosts
    .filter((h) => h.mesh !== undefined && h.healthy !== false && (region === undefined || h.region === region))
    .sort((a, b) => load(a) - load(b) || a.id.localeCompare(b.id))[0];
}

export function wireguardRoutes(ctx: ApiContext): Route[] {
  const { store } = ctx;
  /** The path's org when the caller sees it; 404 otherwise, as if it did not exist. */
  const visibleOrg = async (p: Principal, org: string): Promise<string> => {
    if (!orgName.safeParse(org).success || !seesOrg(p, org) || !(await store.get('orgs', org))) throw new HttpError(404, 'ERR_ORG_NOT_FOUND', `no org ${JSON.stringify(org.slice(0, 64))}`);
    return org;
  };
  const wholeOrg = (p: Principal): void => {
    if (p.kind === 'user' && p.app !== null) throw new HttpError(403, 'ERR_FORBIDDEN', `this token is for app ${p.app} only: a WireGuard peer reaches the whole org's network, so it needs an admin token of the org`);
  };
  const peersOf = async (org?: string): Promise<WireguardPeerDoc[]> =>
    (await store.list(WIREGUARD_PEERS)).map((e) => e.value as WireguardPeerDoc).filter((p) => org === undefined || p.org === org);
  return [
    route({
      method: 'POST',
      path: '/v1/orgs/{org}/wireguard',
      access: 'admin',
      summary: "Put a device on the org's private network: a WireGuard peer of a gateway host (the key pair is the caller's)",
      requestSchema: CreatePeer,
      responses: {
        '201': '{ org, name, public_key, host, region, address, created_at, gateway: { public_key, endpoint }, network, dns }',
        '403': 'ERR_FORBIDDEN (a token of one app)',
        '404': 'ERR_ORG_NOT_FOUND',
        '409': 'ERR_WIREGUARD_PEER_EXISTS, ERR_WIREGUARD_KEY_IN_USE, ERR_NO_GATEWAY',
      },
      async handler({ params, body, principal }) {
        const org = await visibleOrg(principal, params.org!);
        wholeOrg(principal);
        const [hosts, peers] = await Promise.all([store.list('hosts').then((l) => l.map((e) => e.value as HostDoc)), peersOf()]);
        if (peers.some((p) => p.org === org && p.name === body.name)) throw new HttpError(409, 'ERR_WIREGUARD_PEER_EXISTS', `org ${org} has a WireGuard peer ${body.name}: remove it first (starling wireguard remove)`);
        if (peers.some((p) => p.public_key === body.public_key) || hosts.some((h) => h.mesh?.public_key === body.public_key)) {
          throw new HttpError(409, 'ERR_WIREGUARD_KEY_IN_USE', 'this public key is already on the mesh: every peer needs its own key pair');
        }
        const gw = pickGateway(hosts, peers, body.region);
        if (!gw?.mesh) {
          const where = body.region === undefined ? '' : ` in region ${body.region}`;
          throw new HttpError(409, 'ERR_NO_GATEWAY', `no healthy host on the mesh${where} can be the gateway: hosts join the mesh with [mesh] in agent.toml${where ? ' (or leave out --region)' : ''}`);
        }
        const address = peerAddress(gw.mesh.address, org, body.name);
        if (peers.some((p) => p.address === address)) throw new HttpError(409, 'ERR_WIREGUARD_PEER_EXISTS', `another peer has the address ${address}: choose another name`);
        const doc: WireguardPeerDoc = { org, name: body.name, public_key: body.public_key, host: gw.id, region: gw.region, address, created_at: new Date(ctx.clock.now()).toISOString() };
        try {
          await store.put(WIREGUARD_PEERS, wireguardPeerKey(org, body.name), doc, { expectRevision: 0 });
        } catch (e) {
          if (isStarlingError(e, 'ERR_STORE_CONFLICT')) throw new HttpError(409, 'ERR_WIREGUARD_PEER_EXISTS', `org ${org} has a WireGuard peer ${body.name}`);
          throw e;
        }
        ctx.logger.info('wireguard peer created', { org, peer: body.name, gateway: gw.id, address });
        const created: CreatedPeer = { ...doc, gateway: { public_key: gw.mesh.public_key, endpoint: gw.mesh.endpoint }, network: privateNetOf(address), dns: privateDnsAddress(address) };
        return json(201, created);
      },
    }),
    route({
      method: 'GET',
      path: '/v1/orgs/{org}/wireguard',
      access: 'read',
      summary: "The org's WireGuard peers",
      responses: { '200': '{ peers: [{ org, name, public_key, host, region, address, created_at }] }', '404': 'ERR_ORG_NOT_FOUND' },
      async handler({ params, principal }) {
        const org = await visibleOrg(principal, params.org!);
        return json(200, { peers: (await peersOf(org)).sort((a, b) => a.name.localeCompare(b.name)) });
      },
    }),
    route({
      method: 'DELETE',
      path: '/v1/orgs/{org}/wireguard/{name}',
      access: 'admin',
      summary: 'Take a WireGuard peer off the network: its gateway drops it at once',
      responses: { '200': '{ removed: name }', '403': 'ERR_FORBIDDEN (a token of one app)', '404': 'ERR_ORG_NOT_FOUND, ERR_WIREGUARD_PEER_NOT_FOUND' },
      async handler({ params, principal }) {
        const org = await visibleOrg(principal, params.org!);
        const name = params.name!;
        wholeOrg(principal);
        const key = wireguardPeerKey(org, name);
        if (!appName.safeParse(name).success || !(await store.get(WIREGUARD_PEERS, key))) {
          throw new HttpError(404, 'ERR_WIREGUARD_PEER_NOT_FOUND', `org ${org} has no WireGuard peer ${JSON.stringify(name.slice(0, 64))}`);
        }
        await store.delete(WIREGUARD_PEERS, key);
        ctx.logger.info('wireguard peer removed', { org, peer: name });
        return json(200, { removed: name });
      },
    }),
  ];
}
