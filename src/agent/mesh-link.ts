/**
 * The agent's side of the mesh: the key pair, the interface once the control plane has given this
 * host its place (HostDoc.mesh, from the registration, or from the cached view at start so a host
 * whose control plane is down keeps its mesh), and the peers following every view's host list.
 * The interface is opened again if the host's address changes (a new private prefix).
 */
import type { HostDoc } from '../contract/index.js';
import { loadOrCreateMeshKeys, Mesh, WireguardGoDevice, type MeshHost, type MeshKeys, type MeshStatus } from '../mesh/index.js';
import { describeError, type Clock, type Logger } from '../shared/index.js';
import type { SyncView } from '../sync/index.js';
import type { MeshSection } from './config-mesh.js';

/** The proxy's listener for other hosts, at this host's mesh address (ProxyServer.listenPeers). */
export interface BackhaulListener {
  close(): void;
}
export type OpenBackhaul = (address: string, port: number) => Promise<BackhaulListener>;

export class MeshLink {
  private mesh: Mesh | undefined;
  private address: string | undefined;
  private openBackhaul: OpenBackhaul | undefined;
  private backhaul: { address: string; listener: BackhaulListener } | undefined;
  private chain: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly cfg: MeshSection,
    readonly keys: MeshKeys,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

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
    this.chain = this.chain.then(() => this.apply(hosts, hostId)).catch((e: unknown) => this.logger.error('mesh not updated', { error: describeError(e) }));
  }

  /**
   * The proxy takes other hosts' requests at this host's mesh address from now on (and at the new
   * one when it changes): agent.ts passes the proxy's listenPeers once the proxy runs.
   */
  serveBackhaul(open: OpenBackhaul): void {
    this.openBackhaul = open;
    this.chain = this.chain.then(() => this.listenBackhaul());
  }

  /** Settles once the views given so far are applied. */
  settled(): Promise<void> {
    return this.chain;
  }

  private async apply(hosts: readonly HostDoc[], hostId: string): Promise<void> {
    if (this.closed) return;
    const self = hosts.find((h) => h.id === hostId)?.mesh;
    // Not placed yet, or placed with another key (this host's key file was replaced): wait for the registration.
    if (!self || self.public_key !== this.keys.publicKey) return;
    if (this.address !== self.address) {
      await this.mesh?.close();
      const device = new WireguardGoDevice({ name: this.cfg.interface, privateKey: this.keys.privateKey, listenPort: this.cfg.listen_port, address: self.address, clock: this.clock, logger: this.logger });
      await device.open();
      this.mesh = new Mesh(device, { id: hostId, address: self.address, publicKey: this.keys.publicKey, interface: this.cfg.interface }, this.logger);
      this.address = self.address;
      this.logger.info('on the mesh', { interface: this.cfg.interface, address: self.address, endpoint: self.endpoint, public_key: self.public_key });
    }
    await this.listenBackhaul();
    const peers: MeshHost[] = hosts.flatMap((h) => (h.mesh ? [{ id: h.id, publicKey: h.mesh.public_key, endpoint: h.mesh.endpoint, address: h.mesh.address, subnet: h.mesh.subnet }] : []));
    await this.mesh!.update(peers);
  }

  /**
   * Listens for the backhaul at the mesh address, once both are known. A failure (the port taken)
   * is logged and tried again at the next view; meanwhile peers cannot reach this host's machines.
   */
  private async listenBackhaul(): Promise<void> {
    const ip = this.address?.split('/')[0];
    if (this.closed || !this.openBackhaul || ip === undefined || this.backhaul?.address === ip) return;
    this.backhaul?.listener.close();
    this.backhaul = undefined;
    const port = this.cfg.backhaul_port;
    try {
      this.backhaul = { address: ip, listener: await this.openBackhaul(ip, port) };
      this.logger.info('backhaul listening on the mesh', { address: `[${ip}]:${port}` });
    } catch (e) {
      this.logger.error('backhaul not listening: other hosts cannot reach this host\'s machines', { address: `[${ip}]:${port}`, error: describeError(e), hint: 'is [mesh] backhaul_port free?' });
    }
  }

  status(): Promise<MeshStatus | undefined> {
    return this.mesh ? this.mesh.status() : Promise.resolve(undefined);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.chain;
    this.backhaul?.listener.close();
    await this.mesh?.close();
  }
}
