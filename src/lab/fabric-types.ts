/**
 * The contract between the lab's topology planner (pure: topology → plan) and its fabric builder
 * (I/O: namespaces, veths, addresses, routes). A `FabricSpec` names everything the builder makes,
 * so the builder can record it in a state file before making it and `lab down` can remove exactly
 * that — and nothing else — even after a crash.
 */

/** One network namespace. `name` is the full name under /run/netns (already prefixed per lab). */
export interface NamespaceSpec {
  name: string;
  /** Addresses (CIDR) put on `lo` in this namespace, e.g. the anycast address on a PoP host. */
  loopback: string[];
  /** Whether it forwards packets (routers and PoP hosts do; clients do not). */
  forwarding: boolean;
  /**
   * Static routes: `{ to: 'default' | CIDR, via: IP }` added after the links are up. The gateway's
   * family is the route's: `default` via an IPv6 gateway is the IPv6 default route (::/0).
   */
  routes: Array<{ to: string; via: string }>;
}

/** One end of a veth pair. */
export interface LinkEnd {
  ns: string;
  /** Interface name inside `ns`: at most 15 characters (Linux IFNAMSIZ - 1), unique within `ns`. */
  ifname: string;
  /** IPv4 address with prefix length, e.g. `10.64.0.1/30`. */
  address: string;
  /**
   * IPv6 address with prefix length, e.g. `2001:db8:64::1/64`; absent on an IPv4-only link. It is
   * added with `nodad` (and DAD is off in every lab namespace): usable at once, no 1-2 s tentative.
   */
  address6?: string | undefined;
}

/** A veth pair joining two namespaces. */
export interface LinkSpec {
  a: LinkEnd;
  b: LinkEnd;
}

export interface FabricSpec {
  /** Lab name: the prefix every namespace name starts with, so labs and test runs never collide. */
  lab: string;
  namespaces: NamespaceSpec[];
  links: LinkSpec[];
}

/** Linux's limit on interface names (IFNAMSIZ is 16, including the terminating NUL). */
export const MAX_IFNAME = 15;
