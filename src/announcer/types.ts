/**
 * The announcer's part of the agent's static config (`agent.toml`, sections [bgp], [health],
 * [drain]), after schema validation and defaults. See src/agent/config.ts for the file itself.
 */
export interface BfdSpec {
  enabled: boolean;
  /** Desired min rx/tx interval. */
  interval_ms: number;
  /** Missed packets before the session is down. */
  multiplier: number;
}

export interface PeerSpec {
  /** BIRD protocol name: [a-z][a-z0-9_]*, unique. */
  name: string;
  /** IPv4 or IPv6 address; the family decides which prefixes go to this peer. */
  address: string;
  asn: number;
  /** TCP MD5 signature (RFC 2385). Never logged. */
  password?: string | undefined;
  /** eBGP multihop TTL; direct (1 hop) when absent. */
  multihop?: number | undefined;
  /** Local address to use for the session (optional). */
  source_address?: string | undefined;
  hold_time: number;
  keepalive_time: number;
  bfd: BfdSpec;
}

export interface BgpSpec {
  asn: number;
  router_id: string;
  /** The anycast prefixes (IPv4 and IPv6 CIDR), announced while healthy. */
  prefixes: string[];
  peers: PeerSpec[];
  /** How many times the local AS is prepended while draining. */
  drain_prepend: number;
  /** The bird binary. */
  bird: string;
}

export interface HealthSpec {
  /** What is probed: an HTTP URL answering 2xx while the proxy can serve. */
  url: string;
  interval_ms: number;
  timeout_ms: number;
  /** Consecutive successes before announcing. */
  rise: number;
  /** Consecutive failures before withdrawing. */
  fall: number;
  /**
   * Minimum time from a withdrawal to the next announcement: a flapping check cannot flap the route
   * faster than this. Withdrawal itself is never delayed (traffic must leave a host that cannot serve).
   */
  damping_ms: number;
}

export interface DrainSpec {
  /** How long routes stay announced with GRACEFUL_SHUTDOWN + prepend before they are withdrawn. */
  delay_ms: number;
}

export interface AnnouncerSpec {
  bgp: BgpSpec;
  health: HealthSpec;
  drain: DrainSpec;
  /** Directory for bird.conf, the control socket and the pid file (unique per agent). */
  state_dir: string;
}
