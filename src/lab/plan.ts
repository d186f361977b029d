import { StarlingError } from '../shared/index.js';
import { assertLabId, cityRouterId, clientNamespace, controlNamespace, labNamespacePrefix, popHostNamespace, popHostRouterId, routerNamespace } from './lab-names.js';
import { MAX_IFNAME, type FabricSpec, type LinkSpec, type NamespaceSpec } from './fabric-types.js';
import { clientSubnet6, CONTROL_NET6, firstAddress6, formatIpv4, linkSubnet6, parseIpv4, parseIpv4Prefix } from './lab-addresses.js';
import type { Topology } from './topology.js';

export { assertLabId, cityRouterId, clientNamespace, controlNamespace, labNamespacePrefix, popHostNamespace, popHostRouterId, routerNamespace } from './lab-names.js';

/**
 * Turns a topology into a concrete lab: every namespace, veth, address, route and BGP session,
 * named and numbered deterministically, so the same topology and lab id always give the same plan
 * (docs/lab-topology.md, "Naming and addressing"). Pure: the fabric builder makes `fabric`, the
 * router configs come from router-config.ts, and the PoP hosts' agents peer as `popHosts` says.
 */

export interface PlanCity {
  code: string;
  name: string;
  lat: number;
  lon: number;
  /** Position in the topology: it numbers the city's router id and client subnet. */
  index: number;
  asn: number;
  popHosts: number;
  clients: boolean;
}

interface SessionEnds {
  /** BIRD protocol name on the router: `r_<city>` for a router, `p_<city><n>` for a PoP host. */
  protocol: string;
  /** The IPv6 session's, beside it over the same link: `r6_<city>`, `p6_<city><n>`. */
  protocol6: string;
  /** The router's interface towards the neighbour. */
  ifname: string;
  subnet: string;
  localAddress: string;
  remoteAddress: string;
  subnet6: string;
  localAddress6: string;
  remoteAddress6: string;
  localAsn: number;
  remoteAsn: number;
}

export type RouterNeighbour =
  | (SessionEnds & { kind: 'router'; city: string; cost: number })
  | (SessionEnds & { kind: 'pop'; city: string; host: string });

export interface RouterPlan {
  city: string;
  ns: string;
  asn: number;
  routerId: string;
  /** Every interface of the router with its addresses (CIDR); BIRD's `protocol direct` covers them. */
  interfaces: Array<{ ifname: string; address: string; address6: string }>;
  neighbours: RouterNeighbour[];
}

export interface PopHostPlan {
  /** `<city><n>`, e.g. `lhr1`. */
  id: string;
  /** The city code, which is also the PoP's region code. */
  city: string;
  /** 1-based number of the host within its PoP. */
  index: number;
  ns: string;
  routerId: string;
  ifname: string;
  /** The host's address on its link (no prefix length; the link is a /30). */
  address: string;
  /** The city router's address on that link: the host's BGP peer and default gateway. */
  routerAddress: string;
  /** The host's and the router's IPv6 addresses on the link (its /64): the IPv6 session's ends. */
  address6: string;
  routerAddress6: string;
  routerAsn: number;
  popAsn: number;
  anycast: string;
  serviceAddress: string;
  anycast6: string;
  serviceAddress6: string;
}

export interface ClientPlan {
  city: string;
  ns: string;
  ifname: string;
  address: string;
  gateway: string;
  address6: string;
  gateway6: string;
}

/**
 * The control plane's namespace: one /24 (10.128.255.0/24) on the first city's router, which takes
 * .1 (interface `ctl`) and announces the subnet lab-wide through `protocol direct`, so every PoP
 * host's agent reaches the control plane at `address`.
 */
export interface ControlPlan {
  city: string;
  ns: string;
  /** The interface in the control namespace (towards the router). */
  ifname: string;
  /** The router's interface towards the control namespace. */
  routerIfname: string;
  address: string;
  gateway: string;
  address6: string;
  gateway6: string;
  port: number;
  /** `https://address:port`: the agents' `[control] url` (TLS with the control plane's self-signed certificate). */
  url: string;
}

export interface LabPlan {
  lab: string;
  topology: string;
  anycast: string;
  /** The anycast prefix's .1: on every PoP host's loopback; what clients connect to. */
  serviceAddress: string;
  /** The IPv6 anycast prefix, announced beside `anycast`, and its ::1 (on every PoP host's loopback too). */
  anycast6: string;
  serviceAddress6: string;
  popAsn: number;
  cities: PlanCity[];
  routers: RouterPlan[];
  popHosts: PopHostPlan[];
  clients: ClientPlan[];
  control: ControlPlan;
  fabric: FabricSpec;
}

/** Router↔router and router↔PoP-host links: consecutive /30s from here. */
const LINK_BASE = parseIpv4('10.64.0.0')!;
const LINK_BLOCKS = 2 ** 14;
/** The control plane's subnet (inside the lab's 10.128.0.0/16; client subnets use 10.128.0-15.0/24). */
const CONTROL_NET = '10.128.255';
export const CONTROL_PORT = 9300;

export function planLab(topology: Topology, o: { lab: string }): LabPlan {
  const { lab } = o;
  assertLabId(lab);
  const anycast = parseIpv4Prefix(topology.anycast)!;
  const serviceAddress = formatIpv4(anycast.network + 1);
  const serviceAddress6 = firstAddress6(topology.anycast6);
  const cities: PlanCity[] = topology.cities.map((c, index) => ({
    code: c.code,
    name: c.name,
    lat: c.lat,
    lon: c.lon,
    index,
    asn: c.asn,
    popHosts: c.pop_hosts,
    clients: c.clients,
  }));
  const byCode = new Map(cities.map((c) => [c.code, c]));
  const routers: RouterPlan[] = cities.map((c) => ({
    city: c.code,
    ns: routerNamespace(lab, c.code),
    asn: c.asn,
    routerId: cityRouterId(c.index),
    interfaces: [],
    neighbours: [],
  }));
  const links: LinkSpec[] = [];

  let block = 0;
  /** The next link's /30 and, with the same number, its /64 (lab-addresses.ts). */
  const nextBlock = (): { subnet: string; low: string; high: string; v6: ReturnType<typeof linkSubnet6> } => {
    if (block >= LINK_BLOCKS) throw new StarlingError('ERR_LAB_PLAN', 'the lab ran out of /30 link subnets in 10.64.0.0/16');
    const v6 = linkSubnet6(block);
    const net = LINK_BASE + 4 * block++;
    return { subnet: `${formatIpv4(net)}/30`, low: formatIpv4(net + 1), high: formatIpv4(net + 2), v6 };
  };
  const routerOf = (code: string): RouterPlan => routers[byCode.get(code)!.index]!;

  // Router↔router links in file order; the `a` side takes the lower address.
  for (const l of topology.links) {
    const { subnet, low, high, v6 } = nextBlock();
    const [ra, rb] = [routerOf(l.a), routerOf(l.b)];
    const ends = [
      { r: ra, peer: rb, local: low, remote: high, local6: v6.low, remote6: v6.high },
      { r: rb, peer: ra, local: high, remote: low, local6: v6.high, remote6: v6.low },
    ];
    for (const { r, peer, local, remote, local6, remote6 } of ends) {
      const ifname = `r-${peer.city}`;
      r.interfaces.push({ ifname, address: `${local}/30`, address6: `${local6}/64` });
      r.neighbours.push({
        kind: 'router', city: peer.city, cost: l.cost, protocol: `r_${peer.city}`, protocol6: `r6_${peer.city}`, ifname,
        subnet, localAddress: local, remoteAddress: remote, subnet6: v6.subnet, localAddress6: local6, remoteAddress6: remote6, localAsn: r.asn, remoteAsn: peer.asn,
      });
    }
    links.push({ a: { ns: ra.ns, ifname: `r-${l.b}`, address: `${low}/30`, address6: `${v6.low}/64` }, b: { ns: rb.ns, ifname: `r-${l.a}`, address: `${high}/30`, address6: `${v6.high}/64` } });
  }

  // Then each PoP host, city by city: the router takes .1 of the /30, the host .2.
  const popHosts: PopHostPlan[] = [];
  for (const c of cities) {
    const r = routers[c.index]!;
    for (let n = 1; n <= c.popHosts; n++) {
      const { subnet, low, high, v6 } = nextBlock();
      const id = `${c.code}${n}`;
      const host: PopHostPlan = {
        id,
        city: c.code,
        index: n,
        ns: popHostNamespace(lab, c.code, n),
        routerId: popHostRouterId(c.index, n),
        ifname: `r-${c.code}`,
        address: high,
        routerAddress: low,
        address6: v6.high,
        routerAddress6: v6.low,
        routerAsn: c.asn,
        popAsn: topology.pop_asn,
        anycast: topology.anycast,
        serviceAddress,
        anycast6: topology.anycast6,
        serviceAddress6,
      };
      popHosts.push(host);
      r.interfaces.push({ ifname: `p-${id}`, address: `${low}/30`, address6: `${v6.low}/64` });
      r.neighbours.push({
        kind: 'pop', city: c.code, host: id, protocol: `p_${id}`, protocol6: `p6_${id}`, ifname: `p-${id}`,
        subnet, localAddress: low, remoteAddress: high, subnet6: v6.subnet, localAddress6: v6.low, remoteAddress6: v6.high, localAsn: c.asn, remoteAsn: topology.pop_asn,
      });
      links.push({ a: { ns: r.ns, ifname: `p-${id}`, address: `${low}/30`, address6: `${v6.low}/64` }, b: { ns: host.ns, ifname: host.ifname, address: `${high}/30`, address6: `${v6.high}/64` } });
    }
  }

  // Client links: one /24 per city, numbered by the city's index.
  const clients: ClientPlan[] = [];
  for (const c of cities.filter((x) => x.clients)) {
    const r = routers[c.index]!;
    const gateway = `10.128.${c.index}.1`;
    const v6 = clientSubnet6(c.index);
    const client: ClientPlan = { city: c.code, ns: clientNamespace(lab, c.code), ifname: `r-${c.code}`, address: `10.128.${c.index}.2`, gateway, address6: v6.client, gateway6: v6.router };
    clients.push(client);
    r.interfaces.push({ ifname: `c-${c.code}`, address: `${gateway}/24`, address6: `${v6.router}/64` });
    links.push({ a: { ns: r.ns, ifname: `c-${c.code}`, address: `${gateway}/24`, address6: `${v6.router}/64` }, b: { ns: client.ns, ifname: client.ifname, address: `${client.address}/24`, address6: `${v6.client}/64` } });
  }

  // The control plane's namespace hangs off the first city's router.
  const first = routers[0]!;
  const control: ControlPlan = {
    city: first.city,
    ns: controlNamespace(lab),
    ifname: `r-${first.city}`,
    routerIfname: 'ctl',
    address: `${CONTROL_NET}.2`,
    gateway: `${CONTROL_NET}.1`,
    address6: CONTROL_NET6.client,
    gateway6: CONTROL_NET6.router,
    port: CONTROL_PORT,
    url: `https://${CONTROL_NET}.2:${CONTROL_PORT}`,
  };
  first.interfaces.push({ ifname: control.routerIfname, address: `${control.gateway}/24`, address6: `${control.gateway6}/64` });
  links.push({
    a: { ns: first.ns, ifname: control.routerIfname, address: `${control.gateway}/24`, address6: `${control.gateway6}/64` },
    b: { ns: control.ns, ifname: control.ifname, address: `${control.address}/24`, address6: `${control.address6}/64` },
  });

  // A default route per family wherever IPv4 has one: the routers learn the rest over BGP.
  const defaults = (via: string, via6: string): NamespaceSpec['routes'] => [{ to: 'default', via }, { to: 'default', via: via6 }];
  const namespaces: NamespaceSpec[] = [
    ...routers.map((r) => ({ name: r.ns, loopback: [], forwarding: true, routes: [] })),
    ...popHosts.map((h) => ({ name: h.ns, loopback: [`${serviceAddress}/32`, `${serviceAddress6}/128`], forwarding: true, routes: defaults(h.routerAddress, h.routerAddress6) })),
    ...clients.map((c) => ({ name: c.ns, loopback: [], forwarding: false, routes: defaults(c.gateway, c.gateway6) })),
    { name: control.ns, loopback: [], forwarding: false, routes: defaults(control.gateway, control.gateway6) },
  ];
  const fabric: FabricSpec = { lab, namespaces, links };
  assertFabric(fabric);
  return { lab, topology: topology.name, anycast: topology.anycast, serviceAddress, anycast6: topology.anycast6, serviceAddress6, popAsn: topology.pop_asn, cities, routers, popHosts, clients, control, fabric };
}

/**
 * What the fabric builder relies on: interface names fit Linux's limit and are unique within their
 * namespace, every link end lies in a planned namespace, and no address is used twice. A failure
 * here is a bug in the planner (the topology schema bounds every name), hence a system fault.
 */
export function assertFabric(fabric: FabricSpec): void {
  const problems: string[] = [];
  const names = new Set(fabric.namespaces.map((n) => n.name));
  if (names.size !== fabric.namespaces.length) problems.push('a namespace is planned twice');
  const ifnames = new Set<string>();
  const addresses = new Set<string>();
  for (const end of fabric.links.flatMap((l) => [l.a, l.b])) {
    if (!end.ns.startsWith(labNamespacePrefix(fabric.lab))) problems.push(`namespace ${end.ns} lacks the lab prefix`);
    if (!names.has(end.ns)) problems.push(`a link ends in ${end.ns}, which is not planned`);
    if (end.ifname.length > MAX_IFNAME) problems.push(`interface name ${end.ifname} is longer than ${MAX_IFNAME} characters`);
    const key = `${end.ns} ${end.ifname}`;
    if (ifnames.has(key)) problems.push(`interface ${end.ifname} appears twice in ${end.ns}`);
    ifnames.add(key);
    for (const ip of [end.address, end.address6].flatMap((a) => (a === undefined ? [] : [a.split('/')[0] ?? '']))) {
      if (addresses.has(ip)) problems.push(`address ${ip} is used twice`);
      addresses.add(ip);
    }
  }
  if (problems.length > 0) throw new StarlingError('ERR_LAB_PLAN', `invalid lab plan: ${problems.join('; ')}`);
}
