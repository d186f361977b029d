/**
 * The agent's side of the mesh: the key pair, the interface once the control plane has given this
 * host its place (HostDoc.mesh, from the registration, or from the cached view at start so a host
 * whose control plane is down keeps its mesh), and the peers following every view's host list
 * and the WireGuard peers (laptops, `starling wireguard create`) this host is the gateway of, with
 * the filter that keeps those to their org (mesh/client-filter.ts). The interface is opened again
 * if the host's address changes (a new private prefix).
 */
import { existsSync } from 'node:fs';
import type { HostDoc, WireguardPeerDoc } from '../contract/index.js';
import {
  applyClientFilter,
  KernelWireguardDevice,
  kernelWireguardAvailable,
  loadOrCreateMeshKeys,
  removeClientFilter,
  Mesh,
  privateDnsAddress,
  WireguardGoDevice,
  type MeshClient,
  type MeshDevice,
  type MeshHost,
  type MeshKeys,
  type MeshStatus,
} from '../mesh/index.js';
import { describeError, StarlingError, type Clock, type Logger } from '../shared/index.js';
import type { SyncView } from '../sync/index.js';
import type { MeshSection } from './config-mesh.js';
import { PrivateServices, privateServicesOf, type OpenPrivate, type PrivateService } from './private-services.js';

/** Something served at this host's mesh address: the proxy's peer listener, the private DNS. */
export interface MeshListener {
  close(): void | Promise<void>;
}
/** Opens the service for this host's mesh address (no prefix length). */
export type OpenOnMesh = (hostAddress: string) => Promise<MeshListener>;

interface MeshService {
  name: string;
  open: OpenOnMesh;
  /** The host address it is open for, and its listener. */
  at?: { address: string; listener: MeshListener } | undefined;
}

export class MeshLink {
  private mesh: Mesh | undefined;
  private address: string | undefined;
  private readonly services: MeshService[] = [];
  /** What the filter table was last set to (its clients, and a key of them and the subnet). */
  private filtered: { key: string; clients: readonly MeshClient[] } | undefined;
  private device: MeshDevice | undefined;
  private lastServices: readonly PrivateService[] = [];
  private readonly privateServices: PrivateServices;
  private chain: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly cfg: MeshSection,
    readonly keys: MeshKeys,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {
    this.privateServices = new PrivateServices(logger);
  }

  static async open(cfg: MeshSection, clock: Clock, logger: Logger): Promise<MeshLink> {
    const log = logger.child({ component: 'mesh' });
    return new MeshLink(cfg, await loadOrCreateMeshKeys(cfg.key_file, log), clock, log);
  }

  /** What the host registers: its public key and endpoint. */
  get registration(): { public_key: string; endpoint: string; backhaul_port: number } {
    return { public_key: this.keys.publicKey, endpoint: this.cfg.endpoint, backhaul_port: this.cfg.backhaul_port };
  }

  /** A view came (serialised: one at a time, in order). */
  onView(view: SyncView, hostId: string): void {
    const hosts = [...(view.documents.get('hosts')?.values() ?? [])] as HostDoc[];
    const clients = ([...(view.documents.get('wireguard_peers')?.values() ?? [])] as WireguardPeerDoc[])
      .filter((p) => p.host === hostId)
      .map((p): MeshClient => ({ label: `${p.org}/${p.name}`, publicKey: p.public_key, address: p.address }));
    const services = privateServicesOf(view);
    this.chain = this.chain.then(() => this.apply(hosts, clients, services, hostId)).catch((e: unknown) => this.logger.error('mesh not updated', { error: describeError(e) }));
  }

  /**
   * Serves `name` at this host's mesh address from now on (and at the new one when it changes):
   * agent.ts passes the proxy's peer listener (the backhaul) and the private DNS once they can run.
   */
  serve(name: string, open: OpenOnMesh): void {
    this.services.push({ name, open });
    this.chain = this.chain.then(() => this.openServices());
  }

  /**
   * The kernel's WireGuard where it is there (or asked for), else wireguard-go: `[mesh] wireguard`.
   * An interface an earlier run left (a crashed agent's) is adopted by the kind that runs it.
   */
  private async makeDevice(address: string, extraAddresses: string[]): Promise<MeshDevice> {
    const o = { name: this.cfg.interface, privateKey: this.keys.privateKey, listenPort: this.cfg.listen_port, address, extraAddresses, logger: this.logger };
    const userspace = new WireguardGoDevice({ ...o, clock: this.clock });
    const want = this.cfg.wireguard;
    if (want === 'wireguard-go' || (want === 'auto' && existsSync(userspace.socketPath))) return userspace;
    if (await kernelWireguardAvailable()) return new KernelWireguardDevice(o);
    if (want === 'kernel') throw new StarlingError('ERR_MESH_DEVICE', 'this kernel makes no WireGuard links ([mesh] wireguard = "kernel")', { hint: 'load the wireguard module (modprobe wireguard), or set wireguard = "auto" to use wireguard-go' });
    return userspace;
  }

  /** Settles once the views given so far are applied. */
  settled(): Promise<void> {
    return this.chain;
  }

  /** Serves apps' private service addresses (agent.ts: the proxy's listenPrivate), from the next view on. */
  servePrivate(open: OpenPrivate): void {
    this.privateServices.serve(open);
    this.chain = this.chain.then(async () => {
      if (this.device && !this.closed) await this.privateServices.apply(this.device, this.lastServices);
    });
  }

  private async apply(hosts: readonly HostDoc[], clients: readonly MeshClient[], services: readonly PrivateService[], hostId: string): Promise<void> {
    if (this.closed) return;
    const self = hosts.find((h) => h.id === hostId)?.mesh;
    // Not placed yet, or placed with another key (this host's key file was replaced): wait for the registration.
    if (!self || self.public_key !== this.keys.publicKey) return;
    if (this.address !== self.address) {
      await this.mesh?.close();
      // The private DNS's address (fdaa::3) is on the interface too: local, never routed into the mesh.
      const dns = `${privateDnsAddress(self.address)}/128`;
      const device = await this.makeDevice(self.address, [dns]);
      await device.open();
      this.device = device;
      this.mesh = new Mesh(device, { id: hostId, address: self.address, publicKey: this.keys.publicKey, interface: this.cfg.interface }, this.logger, this.clock);
      this.address = self.address;
      this.logger.info('on the mesh', { interface: this.cfg.interface, wireguard: device.kind, address: self.address, endpoint: self.endpoint, public_key: self.public_key });
    }
    await this.openServices();
    const peers: MeshHost[] = hosts.flatMap((h) => (h.mesh ? [{ id: h.id, publicKey: h.mesh.public_key, endpoint: h.mesh.endpoint, address: h.mesh.address, subnet: h.mesh.subnet }] : []));
    await this.updatePeers(peers, clients, self.subnet);
    this.lastServices = services;
    if (this.device) await this.privateServices.apply(this.device, services);
  }

  /**
   * Hosts and clients onto the device, a client only once the filter (mesh/client-filter.ts)
   * knows it. The filter drops whatever it does not know from this host's /32, so a client
   * removed from it before the device is closed either way; it is set at the first view (an
   * adopted device may still have clients of an earlier run) and whenever the clients change. A
   * filter that cannot be set keeps new clients off the device.
   */
  private async updatePeers(hosts: readonly MeshHost[], clients: readonly MeshClient[], subnet: string): Promise<void> {
    const key = JSON.stringify([subnet, clients.map((c) => [c.publicKey, c.address]).sort()]);
    let allowed = clients;
    if (key !== this.filtered?.key) {
      try {
        await applyClientFilter(this.cfg.interface, subnet, clients);
        this.filtered = { key, clients };
      } catch (e) {
        const known = new Set((this.filtered?.clients ?? []).map((c) => `${c.publicKey} ${c.address}`));
        allowed = clients.filter((c) => known.has(`${c.publicKey} ${c.address}`));
        if (clients.length > 0) this.logger.error('WireGuard clients\' filter not set: new clients are kept off the mesh, retried with the next change', { error: describeError(e) });
        else {
          // No clients: nothing to let through, and the device drops any left from an earlier run. Said once, not at every view.
          this.logger.warn('WireGuard clients\' filter not set (this host has no clients now)', { error: describeError(e) });
          this.filtered = { key, clients: [] };
        }
      }
    }
    await this.mesh!.update(hosts, allowed);
  }

  /**
   * Opens each service at the mesh address once it is known, again when it changes. A failure (a
   * port taken) is logged and tried again at the next view.
   */
  private async openServices(): Promise<void> {
    const ip = this.address?.split('/')[0];
    if (this.closed || ip === undefined) return;
    for (const s of this.services) {
      if (s.at?.address === ip) continue;
      await s.at?.listener.close();
      s.at = undefined;
      try {
        s.at = { address: ip, listener: await s.open(ip) };
        this.logger.info(`${s.name} serving on the mesh`, { host_address: ip });
      } catch (e) {
        this.logger.error(`${s.name} not serving on the mesh`, { host_address: ip, error: describeError(e) });
      }
    }
  }

  status(): Promise<MeshStatus | undefined> {
    return this.mesh ? this.mesh.status() : Promise.resolve(undefined);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.chain;
    for (const s of this.services) await s.at?.listener.close();
    await this.privateServices.close();
    await this.mesh?.close();
    if (this.filtered) await removeClientFilter(this.cfg.interface);
  }
}
