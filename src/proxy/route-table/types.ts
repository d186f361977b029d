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

export interface AppSpec {
  name: string;
  hostnames: string[];
  primary_region?: string | undefined;
  /** Plain-HTTP requests get a 301 to the same URL on https (ACME HTTP-01 answers excepted). */
  force_https?: boolean | undefined;
  /** Headers set on every response of the app's machines; null removes the machine's field. */
  response_headers?: Record<string, string | null> | undefined;
  service: ServiceSpec;
  machines: MachineSpec[];
}

export interface RoutesSpec {
  apps: AppSpec[];
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
