/**
 * Apps' private service addresses on this host (fly's Flycast; docs/private-network.md, "Private
 * services"): every host on the mesh has every one of them on its mesh interface (`/128`, local,
 * never routed into the mesh: host number 0), and its proxy listens at each on port 80 for that
 * app. So a machine, or a laptop through its gateway, that connects to `<app>.flycast` reaches its
 * own host's proxy, which routes the request as a public one: nearest healthy machine, limits,
 * autostart. Who may connect is each machine's firewall's business (runtime sandbox-firewall.ts:
 * its own org's addresses) and the gateway's for laptops (mesh/client-filter.ts).
 *
 * Applied with each view the mesh applies (mesh-link.ts), only when the list or the interface
 * changed; what fails (an address refused, a port taken) is logged and tried again at the next.
 */
import type { PrivateIpDoc } from '../contract/index.js';
import { isServiceAddress, type MeshDevice } from '../mesh/index.js';
import { describeError, type Logger } from '../shared/index.js';
import type { SyncView } from '../sync/index.js';

/** fly's Flycast takes an app's HTTP service on port 80 of its private address; so does ours. */
export const PRIVATE_HTTP_PORT = 80;

export interface PrivateService {
  app: string;
  address: string;
}

/** A listener to close (mesh-link.ts's MeshListener). */
interface Listener {
  close(): void | Promise<void>;
}

/** Opens the proxy's listener for `app` at `address` (agent.ts: ProxyServer.listenPrivate). */
export type OpenPrivate = (address: string, port: number, app: string) => Promise<Listener>;

/** The private service addresses of a view, sorted; anything not of the plan's form is left out. */
export function privateServicesOf(view: SyncView): PrivateService[] {
  return ([...(view.documents.get('private_ips')?.values() ?? [])] as PrivateIpDoc[])
    .filter((p) => p.type === 'private_v6' && isServiceAddress(p.address))
    .map((p) => ({ app: p.app, address: p.address }))
    .sort((a, b) => a.address.localeCompare(b.address));
}

export class PrivateServices {
  private open: OpenPrivate | undefined;
  private applied: { device: MeshDevice; key: string } | undefined;
  private readonly listeners = new Map<string, { app: string; listener: Listener }>();

  constructor(private readonly logger: Logger) {}

  /** From now on the proxy listens at each address (agent.ts, once the proxy runs). */
  serve(open: OpenPrivate): void {
    this.open = open;
    this.applied = undefined;
  }

  async apply(device: MeshDevice, services: readonly PrivateService[]): Promise<void> {
    const key = JSON.stringify([services, this.open !== undefined]);
    if (this.applied?.device === device && this.applied.key === key) return;
    try {
      const { added, removed } = await device.syncServiceAddresses(services.map((s) => s.address));
      if (added.length + removed.length > 0) this.logger.info('private service addresses changed', { added, removed });
    } catch (e) {
      this.logger.error('private service addresses not set: tried again with the next change', { error: describeError(e) });
      return;
    }
    const wanted = new Map(services.map((s) => [s.address, s.app]));
    for (const [address, l] of this.listeners) {
      if (wanted.get(address) === l.app && this.applied?.device === device) continue;
      await l.listener.close();
      this.listeners.delete(address);
    }
    let complete = true;
    for (const s of services) {
      if (!this.open || this.listeners.has(s.address)) continue;
      try {
        this.listeners.set(s.address, { app: s.app, listener: await this.open(s.address, PRIVATE_HTTP_PORT, s.app) });
      } catch (e) {
        complete = false;
        this.logger.error('private service not served', { app: s.app, address: s.address, error: describeError(e) });
      }
    }
    this.applied = complete ? { device, key } : undefined;
  }

  async close(): Promise<void> {
    for (const l of this.listeners.values()) await l.listener.close();
    this.listeners.clear();
  }
}
