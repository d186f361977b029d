/**
 * The agent's side of the mesh: the key pair, the interface once the control plane has given this
 * host its place (HostDoc.mesh, from the registration, or from the cached view at start so a host
 * whose control plane is down keeps its mesh), and the peers following every view's host list.
 * The interface is opened again if the host's address changes (a new private prefix).
 */
import type { HostDoc } from '../contract/index.js';
import { loadOrCreateMeshKeys, Mesh, privateDnsAddress, WireguardGoDevice, type MeshHost, type MeshKeys, type MeshStatus } from '../mesh/index.js';
import { describeError, type Clock, type Logger } from '../shared/index.js';
import type { SyncView } from '../sync/index.js';
import type { MeshSection } from './config-mesh.js';

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
   * Serves `name` at this host's mesh address from now on (and at the new one when it changes):
   * agent.ts passes the proxy's peer listener (the backhaul) and the private DNS once they can run.
   */
  serve(name: string, open: OpenOnMesh): void {
    this.services.push({ name, open });
    this.chain = this.chain.then(() => this.openServices());
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
      // The private DNS's address (fdaa::3) is on the interface too: local, never routed into the mesh.
      const dns = `${privateDnsAddress(self.address)}/128`;
      const device = new WireguardGoDevice({ name: this.cfg.interface, privateKey: this.keys.privateKey, listenPort: this.cfg.listen_port, address: self.address, extraAddresses: [dns], clock: this.clock, logger: this.logger });
      await device.open();
      this.mesh = new Mesh(device, { id: hostId, address: self.address, publicKey: this.keys.publicKey, interface: this.cfg.interface }, this.logger, this.clock);
      this.address = self.address;
      this.logger.info('on the mesh', { interface: this.cfg.interface, address: self.address, endpoint: self.endpoint, public_key: self.public_key });
    }
    await this.openServices();
    const peers: MeshHost[] = hosts.flatMap((h) => (h.mesh ? [{ id: h.id, publicKey: h.mesh.public_key, endpoint: h.mesh.endpoint, address: h.mesh.address, subnet: h.mesh.subnet }] : []));
    await this.mesh!.update(peers);
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
    await this.mesh?.close();
  }
}
