/**
 * The agent's `.internal` DNS (private-dns/, docs/private-dns.md), for this host's machines on the
 * private network: served at `<prefix>::3` (fly's fdaa::3) on the mesh interface, udp and tcp 53,
 * once the host has its place on the mesh.
 *
 * What it knows comes from the synced view (the cached one while the control plane is down): every
 * placed machine of every host on the mesh, at the address the plan gives it (mesh/addressing.ts),
 * started when its last reported state says so. Who asks is told by the source address: one of
 * this host's machines or WireGuard clients (its org and region); anything else is refused. Names
 * outside `.internal` go to `[mesh] dns_upstream`: by default the host's own resolver (the first
 * `nameserver` of /etc/resolv.conf that is an IP address), which the machines cannot reach.
 * Only machines that are started and pass their checks are answered (fly's rule), from their
 * last reported state.
 */
import { readFileSync } from 'node:fs';
import { DEFAULT_ORG, groupOf, isAppMachine, type AppDoc, type HostDoc, type MachineDoc, type MachineStateDoc, type PrivateIpDoc, type WireguardPeerDoc } from '../contract/index.js';
import { machineAddress } from '../mesh/index.js';
import { startPrivateDns, type DnsAsker, type DnsInstance, type DnsView, type PrivateDns, type Upstream } from '../private-dns/index.js';
import { parseIp, type Clock, type Logger } from '../shared/index.js';
import { parseHostPort } from './addresses.js';
import type { SyncView } from '../sync/index.js';

export interface PrivateDnsDirectory {
  dns: DnsView;
  /** This host's machines by their private address (parseIp's value, so any spelling matches). */
  askers: Map<bigint, DnsAsker>;
}

const docs = <T>(view: SyncView, collection: string): T[] => [...(view.documents.get(collection)?.values() ?? [])] as T[];

/** The DNS's view of the platform and this host's askers, from a synced view (pure). */
export function privateDnsDirectory(view: SyncView, hostId: string): PrivateDnsDirectory {
  const hosts = new Map(docs<HostDoc>(view, 'hosts').map((h) => [h.id, h]));
  const apps = docs<AppDoc>(view, 'apps').map((a) => ({ name: a.name, org: a.org ?? DEFAULT_ORG }));
  const orgOf = new Map(apps.map((a) => [a.name, a.org]));
  const started = new Set(docs<MachineStateDoc>(view, 'machine_states').filter((s) => s.state === 'started' && s.healthy).map((s) => `${s.app}.${s.id}`));
  const instances: DnsInstance[] = [];
  const askers = new Map<bigint, DnsAsker>();
  for (const m of docs<MachineDoc>(view, 'machines')) {
    const mesh = hosts.get(m.host)?.mesh;
    const org = orgOf.get(m.app);
    if (!mesh || org === undefined || !isAppMachine(m)) continue;
    const address = machineAddress(mesh.address, org, m.id);
    instances.push({ id: m.id, app: m.app, org, region: m.region, group: groupOf(m), address, started: started.has(`${m.app}.${m.id}`) });
    if (m.host === hostId) askers.set(parseIp(address)!.value, { org, region: m.region });
  }
  // This host's WireGuard clients (laptops) ask as members of their org, from the gateway's region.
  for (const p of docs<WireguardPeerDoc>(view, 'wireguard_peers')) {
    const ip = p.host === hostId ? parseIp(p.address) : undefined;
    if (ip) askers.set(ip.value, { org: p.org, region: p.region });
  }
  const services = docs<PrivateIpDoc>(view, 'private_ips').map((p) => ({ app: p.app, org: p.org, address: p.address }));
  return { dns: { instances, apps, services }, askers };
}

/** The first `nameserver` of a resolv.conf that is an IP address, at port 53. */
export function upstreamOf(resolvConf: string): Upstream | undefined {
  for (const line of resolvConf.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m && parseIp(m[1]!)) return { host: m[1]!, port: 53 };
  }
  return undefined;
}

export class PrivateDnsLink {
  private view: SyncView | undefined;
  private hostId = '';
  private cached: { revision: number; dir: PrivateDnsDirectory } | undefined;

  /** `upstream`: [mesh] dns_upstream — `resolv.conf`, `off` or `IP:PORT`. */
  constructor(
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly upstream = 'resolv.conf',
  ) {}

  /** A view came (agent.ts, with the mesh's). */
  onView(view: SyncView, hostId: string): void {
    this.view = view;
    this.hostId = hostId;
  }

  private directory(): PrivateDnsDirectory {
    const v = this.view;
    if (!v) return { dns: { instances: [], apps: [] }, askers: new Map() };
    if (this.cached?.revision !== v.revision) this.cached = { revision: v.revision, dir: privateDnsDirectory(v, this.hostId) };
    return this.cached.dir;
  }

  private upstreamNow(): Upstream | undefined {
    if (this.upstream === 'off') return undefined;
    if (this.upstream !== 'resolv.conf') {
      const at = parseHostPort(this.upstream)!; // config-mesh.ts checked it
      return { host: at.host, port: at.port };
    }
    let resolv = '';
    try {
      resolv = readFileSync('/etc/resolv.conf', 'utf8');
    } catch {
      /* no resolver: names outside .internal are refused */
    }
    const found = upstreamOf(resolv);
    if (!found) this.logger.warn('private DNS: no nameserver in /etc/resolv.conf is an IP address, so names outside .internal are refused', { hint: 'set [mesh] dns_upstream = "IP:PORT"' });
    return found;
  }

  /** Serves at `address` (the mesh interface has it): what MeshLink.serve opens. */
  async open(address: string): Promise<PrivateDns> {
    const upstream = this.upstreamNow();
    return startPrivateDns({
      listen: { host: address, port: 53 },
      view: () => this.directory().dns,
      askerOf: (remote) => {
        const ip = parseIp(remote);
        return ip ? this.directory().askers.get(ip.value) : undefined;
      },
      upstream,
      clock: this.clock,
      logger: this.logger.child({ component: 'private-dns' }),
    });
  }
}
