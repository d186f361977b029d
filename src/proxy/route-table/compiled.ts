/**
 * The routes as the request path reads them, compiled from the routes file's shapes (types.ts) by
 * table.ts (HTTP apps) and tcp-table.ts (TCP services).
 */
import type { AppHeaders, ConcurrencyType, MachineState } from './types.js';

/**
 * Live load of one machine. Kept outside the route objects, keyed by app/machine id, so that a
 * routes reload (which builds new route objects) does not forget requests already in flight.
 */
export interface LoadCell {
  inflight: number;
}

/** One `[[statics]]` mapping: GETs under `urlPrefix` (no trailing `/`, unless it is `/`) are served from `guestPath` in the machine's image. */
export interface StaticMount {
  readonly urlPrefix: string;
  readonly guestPath: string;
  readonly indexDocument: string | undefined;
}

export interface MachineRoute {
  /** `app/id`: unique across the table. */
  readonly key: string;
  readonly id: string;
  readonly app: AppRoute;
  readonly region: string;
  readonly address: string;
  readonly port: number;
  readonly state: MachineState;
  readonly healthy: boolean;
  /** Started and healthy: may receive traffic. */
  readonly usable: boolean;
  /** Reached through another host's proxy (MachineSpec.peer). */
  readonly peer: boolean;
  readonly load: LoadCell;
}

export interface AppRoute {
  readonly name: string;
  readonly hostnames: readonly string[];
  readonly primaryRegion: string | undefined;
  readonly forceHttps: boolean;
  /** The app's own response headers (compiled once per routes update); undefined: none. */
  readonly responseHeaders: AppHeaders | undefined;
  /** HTTP/2 clients' streams go to the machines over h2c (h2/backend.ts; fly's h2_backend). */
  readonly h2Backend: boolean;
  /** fly's idle_timeout, ms: undefined keeps the proxy's own limits (and no idle limit on upgrades). */
  readonly idleTimeoutMs: number | undefined;
  /** fly's `[[statics]]` (core/statics.ts), longest prefix first; empty: none. */
  readonly statics: readonly StaticMount[];
  readonly autoStart: boolean;
  readonly autoStop: 'off' | 'stop' | 'suspend';
  readonly minMachinesRunning: number;
  readonly concurrencyType: ConcurrencyType;
  readonly softLimit: number;
  /** Infinity when the app set no hard limit. */
  readonly hardLimit: number;
  readonly machines: readonly MachineRoute[];
  readonly byRegion: ReadonlyMap<string, readonly MachineRoute[]>;
  readonly byId: ReadonlyMap<string, MachineRoute>;
  /** Regions holding machines of this app, nearest-first from a given edge region (cached). */
  regionsFrom(edge: string): readonly string[];
}

