/**
 * What the private DNS knows of the platform: the resolver's whole input. The agent builds a
 * DnsView from its cached routing state (sync/) and hands it in through a function, so the part
 * never reaches into the cache itself and a test builds one by hand.
 */

/** One machine, as the `.internal` names see it. */
export interface DnsInstance {
  /** The machine id (`<id>.vm.<app>.internal`). */
  id: string;
  app: string;
  /** The org that owns the app: the only org whose machines ever see this instance. */
  org: string;
  region: string;
  /** Its process group (`<group>.process.<app>.internal`); `app` when the app defines none. */
  group: string;
  /** Its private IPv6 address on the mesh. Anything that is not an IPv6 literal is never answered. */
  address: string;
  /** Whether it runs now: most names answer started machines only, as fly's do. */
  started: boolean;
}

/** An app, so that one with no machine still exists (`<app>.internal` is NODATA, not NXDOMAIN). */
export interface DnsApp {
  name: string;
  org: string;
}

/** An app's private service address (fly's Flycast): `<app>.flycast`. */
export interface DnsService {
  app: string;
  org: string;
  address: string;
}

export interface DnsView {
  instances: readonly DnsInstance[];
  apps: readonly DnsApp[];
  /** Absent: none. */
  services?: readonly DnsService[];
}

/** Who asks: the org of the asking machine (the only org it may see) and its region (for nearest). */
export interface DnsAsker {
  org: string;
  region: string;
}

/**
 * Seconds every `.internal` answer (and, through the SOA's minimum, every negative answer) may be
 * cached. Short, as fly's: machines start, stop and move all the time, and a resolver that keeps a
 * stale address for minutes sends traffic to a machine that is gone. 5 s bounds that staleness
 * while still sparing the server a burst of identical look-ups.
 */
export const INTERNAL_TTL_S = 5;
