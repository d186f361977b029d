/**
 * The mesh on one host: its device, and its peers kept equal to the control plane's host list.
 * `update` is called with every view the feed brings (and the cached one at start, so a host whose
 * control plane is down keeps the mesh it had); updates are applied one at a time, the newest wins,
 * and a device that refused one is retried with the next view or by `retry`.
 *
 * Two hosts that add each other at the same moment — the usual case, the feed reaches every host
 * at once — would both start a handshake at once (a persistent keepalive makes wireguard-go send
 * one as soon as the peer is set); the handshakes cross, both responses are rejected, and neither
 * side has a session until WireGuard retries after 5 s (bench:mesh measured it). So of each pair
 * only the host with the lower public key starts at once: the other adds the peer without its
 * keepalive for HOLD_MS — it answers the first host's handshake meanwhile — then sets it, which
 * starts a handshake only if none has completed (the first host's was dropped because it came
 * before this one knew it).
 */
import { describeError, type Clock, type Logger, type TimerHandle } from '../shared/index.js';
import type { MeshDevice } from './link-tools.js';
import { desiredPeers, planPeers, type MeshClient, type MeshHost } from './plan.js';

export interface MeshStatus {
  interface: string;
  /** Which WireGuard runs it: the kernel's or wireguard-go. */
  wireguard: 'kernel' | 'wireguard-go';
  address: string;
  publicKey: string;
  peers: { host: string; endpoint: string | undefined; lastHandshakeMs: number; rxBytes: number; txBytes: number }[];
}

/** How long the host with the higher key leaves a new peer's handshake to the other (see above). */
export const HOLD_MS = 500;

export class Mesh {
  private want: { hosts: readonly MeshHost[]; clients: readonly MeshClient[] } | undefined;
  private last: { hosts: readonly MeshHost[]; clients: readonly MeshClient[] } = { hosts: [], clients: [] };
  /** New peers whose handshake is left to them for now, with the timer that ends it. */
  private readonly held = new Map<string, TimerHandle>();
  private running: Promise<void> | undefined;
  private byKey = new Map<string, string>();
  /** Changes applied (each a set on the device): for tests and metrics. */
  applied = 0;

  constructor(
    private readonly device: MeshDevice,
    private readonly self: { id: string; address: string; publicKey: string; interface: string },
    private readonly logger: Logger,
    /** Without one, every peer is set with its keepalive at once (no holding back). */
    private readonly clock?: Clock,
  ) {}

  /**
   * The hosts the control plane lists now (this host among them or not), and the clients it is
   * the gateway of.
   */
  update(hosts: readonly MeshHost[], clients: readonly MeshClient[] = []): Promise<void> {
    this.want = { hosts, clients };
    this.last = this.want;
    this.running ??= this.drain().finally(() => (this.running = undefined));
    return this.running;
  }

  private async drain(): Promise<void> {
    while (this.want !== undefined) {
      const { hosts, clients } = this.want;
      this.want = undefined;
      try {
        const current = (await this.device.get()).peers;
        this.hold(hosts, current);
        const desired = desiredPeers(hosts, this.self.id, new Set(this.held.keys()), clients);
        this.byKey = new Map([...clients.map((c): [string, string] => [c.publicKey, c.label]), ...hosts.map((h): [string, string] => [h.publicKey, h.id])]);
        const op = planPeers(current, desired);
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

  /** Peers new to the device whose key is lower than this host's: their handshake is theirs to start, for HOLD_MS. */
  private hold(hosts: readonly MeshHost[], current: ReadonlyMap<string, unknown>): void {
    const clock = this.clock;
    if (!clock) return;
    for (const h of hosts) {
      if (h.id === this.self.id || current.has(h.publicKey) || this.held.has(h.publicKey) || h.publicKey > this.self.publicKey) continue;
      const key = h.publicKey;
      this.held.set(
        key,
        clock.setTimeout(() => {
          this.held.delete(key);
          void this.update(this.last.hosts, this.last.clients);
        }, HOLD_MS),
      );
    }
  }

  async status(): Promise<MeshStatus> {
    const state = await this.device.get();
    return {
      interface: this.self.interface,
      wireguard: this.device.kind,
      address: this.self.address,
      publicKey: this.self.publicKey,
      peers: [...state.peers.values()].map((p) => ({ host: this.byKey.get(p.publicKey) ?? '?', endpoint: p.endpoint, lastHandshakeMs: p.lastHandshakeMs, rxBytes: p.rxBytes, txBytes: p.txBytes })),
    };
  }

  close(): Promise<void> {
    for (const t of this.held.values()) t.cancel();
    this.held.clear();
    return this.device.close();
  }
}
