/**
 * The mesh on one host: its device, and its peers kept equal to the control plane's host list.
 * `update` is called with every view the feed brings (and the cached one at start, so a host whose
 * control plane is down keeps the mesh it had); updates are applied one at a time, the newest wins,
 * and a device that refused one is retried with the next view or by `retry`.
 */
import { describeError, type Logger } from '../shared/index.js';
import type { WireguardGoDevice } from './device.js';
import { desiredPeers, planPeers, type MeshHost } from './plan.js';

export interface MeshStatus {
  interface: string;
  address: string;
  publicKey: string;
  peers: { host: string; endpoint: string | undefined; lastHandshakeMs: number; rxBytes: number; txBytes: number }[];
}

export class Mesh {
  private want: readonly MeshHost[] | undefined;
  private running: Promise<void> | undefined;
  private byKey = new Map<string, string>();
  /** Changes applied (each a set on the device): for tests and metrics. */
  applied = 0;

  constructor(
    private readonly device: WireguardGoDevice,
    private readonly self: { id: string; address: string; publicKey: string; interface: string },
    private readonly logger: Logger,
  ) {}

  /** The hosts the control plane lists now (this host among them or not). */
  update(hosts: readonly MeshHost[]): Promise<void> {
    this.want = hosts;
    this.running ??= this.drain().finally(() => (this.running = undefined));
    return this.running;
  }

  private async drain(): Promise<void> {
    while (this.want !== undefined) {
      const hosts = this.want;
      this.want = undefined;
      try {
        const desired = desiredPeers(hosts, this.self.id);
        this.byKey = new Map(hosts.map((h) => [h.publicKey, h.id]));
        const op = planPeers((await this.device.get()).peers, desired);
        if (!op) continue;
        await this.device.set(op);
        this.applied++;
        const names = (keys: readonly string[]): string[] => keys.map((k) => this.byKey.get(k) ?? k);
        this.logger.info('mesh peers changed', { added_or_changed: names((op.put ?? []).map((p) => p.publicKey)), removed: op.remove?.length ?? 0 });
      } catch (e) {
        this.logger.error('mesh peers not applied: retried with the next change', { error: describeError(e) });
      }
    }
  }

  async status(): Promise<MeshStatus> {
    const state = await this.device.get();
    return {
      interface: this.self.interface,
      address: this.self.address,
      publicKey: this.self.publicKey,
      peers: [...state.peers.values()].map((p) => ({ host: this.byKey.get(p.publicKey) ?? '?', endpoint: p.endpoint, lastHandshakeMs: p.lastHandshakeMs, rxBytes: p.rxBytes, txBytes: p.txBytes })),
    };
  }

  close(): Promise<void> {
    return this.device.close();
  }
}
