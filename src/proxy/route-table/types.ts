/**
 * The routes file, as written by a person (or pushed by the agent later): apps → hostnames →
 * service → machines. `schema.ts` validates it; `table.ts` compiles it into the lookup structure
 * the request path uses.
 */
export type ConcurrencyType = 'connections' | 'requests';

/** fly's machine state names; only `started` machines receive traffic. */
export const MACHINE_STATES = [
  'created',
  'starting',
  'started',
  'stopping',
  'stopped',
  'suspending',
  'suspended',
  'restarting',
  'replacing',
  'destroying',
  'destroyed',
  'replaced',
  'failed',
] as const;
export type MachineState = (typeof MACHINE_STATES)[number];

export interface MachineSpec {
  id: string;
  region: string;
  /** IP address the machine listens on (IPv4 or IPv6). */
  address: string;
  /** Overrides the service's internal_port for this machine (several machines on one address). */
  port?: number | undefined;
  state: MachineState;
  healthy: boolean;
  /**
   * The address is another host's proxy, which holds the machine (the agent's routes for machines
   * on other hosts): requests go there marked for this machine id (see core/peer.ts).
   */
  peer?: boolean | undefined;
}

export interface ServiceSpec {
  internal_port: number;
  concurrency: {
    type: ConcurrencyType;
    soft_limit: number;
    /** No hard limit when absent. */
    hard_limit?: number | undefined;
  };
  /** A request that finds no started machine with room starts a stopped one (fly's autostart). */
  auto_start_machines?: boolean | undefined;
  /** Stop (or suspend) machines that the load does not need (fly's autostop). */
  auto_stop_machines?: 'off' | 'stop' | 'suspend' | undefined;
  /** Autostop keeps at least this many machines started in the primary region. */
  min_machines_running?: number | undefined;
}

export interface StaticSpec {
  /** Absolute path in the machine's image. */
  guest_path: string;
  /** Absolute URL path; a request under it is looked up under guest_path. */
  url_prefix: string;
  /** Served for a request naming a directory. */
  index_document?: string | undefined;
}

export interface AppSpec {
  name: string;
  hostnames: string[];
  primary_region?: string | undefined;
  /** Plain-HTTP requests get a 301 to the same URL on https (ACME HTTP-01 answers excepted). */
  force_https?: boolean | undefined;
  /** Headers set on every response of the app's machines; null removes the machine's field. */
  response_headers?: Record<string, string | null> | undefined;
  /** HTTP/2 clients' streams reach the machines over HTTP/2 cleartext (gRPC); this host's machines only. */
  h2_backend?: boolean | undefined;
  /** Seconds a response, upgraded connection or kept-alive HTTP/1 connection of the app may carry no bytes (fly's idle_timeout). */
  idle_timeout?: number | undefined;
  /** fly's `[[statics]]`: served from the image of this host's machines (docs/routes-file.md). */
  statics?: StaticSpec[] | undefined;
  service: ServiceSpec;
  machines: MachineSpec[];
}

/** What the edge does on a TCP port before the bytes go to the machine (fly's handlers). */
export type TcpHandler = 'tls' | 'pg_tls' | 'proxy_proto';

/** Public ports of a TCP service: one (start = end) or a range, with the same handlers. */
export interface TcpPortSpec {
  start_port: number;
  end_port: number;
  /** Empty: raw bytes both ways. `tls`: TLS ends at the edge. `pg_tls`: PostgreSQL's SSLRequest, then TLS ends at the edge. `proxy_proto`: a PROXY header first. */
  handlers: TcpHandler[];
  /** The PROXY protocol version sent with `proxy_proto` (default v1, as fly). */
  proxy_proto_version?: 'v1' | 'v2' | undefined;
  /** ALPN protocols the edge offers with `tls` (none: no ALPN). */
  alpn?: string[] | undefined;
}

/**
 * A raw TCP service of an app (fly's `[[services]]` without the `http` handler): connections to its
 * public ports on the proxy's address go to the nearest machine's `internal_port`, chosen as HTTP
 * requests are (concurrency counts connections), machines on other hosts through their proxy.
 */
export interface TcpServiceSpec {
  app: string;
  /** `udp`: datagrams (udp/udp-edge.ts), no handlers; default `tcp`. */
  protocol?: 'tcp' | 'udp' | undefined;
  primary_region?: string | undefined;
  ports: TcpPortSpec[];
  service: ServiceSpec;
  machines: MachineSpec[];
}

export interface RoutesSpec {
  apps: AppSpec[];
  /** Raw TCP services; a public port belongs to one of them. */
  tcp_services?: TcpServiceSpec[] | undefined;
  /** Measured RTTs in ms, `rtt.fra.iad = 92`; symmetric; overrides the catalog's model. */
  rtt?: Record<string, Record<string, number>> | undefined;
}

/**
 * An app's own response headers (fly's `http_options.response.headers`), compiled: `set` replaces
 * the machine's fields of those names, `drop` (which holds the set names too) removes them.
 */
export interface AppHeaders {
  readonly set: readonly (readonly [string, string])[];
  readonly drop: ReadonlySet<string>;
}
