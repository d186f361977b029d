/**
 * The TCP (and UDP) services of the routes, compiled: public port → the service that owns it, and
 * (app, internal port) → the same service, which is how a peer proxy's tunnel names it.
 *
 * A service compiles to an AppRoute of its own (its concurrency, autostart and machines, so
 * chooseMachine and the autoscaler work on it unchanged) whose machines share the load cells of
 * the app's HTTP routes (`app/id`): a machine's load is its HTTP requests and its TCP connections
 * together, so autostop never stops a machine that holds connections, and a soft limit counts
 * everything the machine is doing.
 */
import type { AppRoute } from './compiled.js';
import type { AppSpec, TcpPortSpec, TcpServiceSpec } from './types.js';

export interface TcpRoute {
  /** The app's service: `name` is the app's name, `machines` its machines at `internal_port`. */
  readonly service: AppRoute;
  readonly internalPort: number;
  readonly ports: readonly TcpPortSpec[];
  readonly protocol: 'tcp' | 'udp';
}

export interface TcpPortRoute {
  readonly route: TcpRoute;
  readonly port: TcpPortSpec;
}

export class TcpTable {
  readonly byPort = new Map<number, TcpPortRoute>();
  /** UDP services by public port (udp/udp-edge.ts). */
  readonly udpByPort = new Map<number, TcpPortRoute>();
  readonly routes: TcpRoute[] = [];
  private readonly byService = new Map<string, TcpRoute>();

  constructor(specs: readonly TcpServiceSpec[], compile: (spec: AppSpec) => AppRoute) {
    for (const s of specs) {
      const service = compile({
        name: s.app,
        hostnames: [],
        primary_region: s.primary_region,
        service: s.service,
        // A machine's own port override is its HTTP port: a TCP service's port is the service's.
        machines: s.machines.map((m) => (m.peer ? m : { ...m, port: undefined })),
      });
      const protocol = s.protocol ?? 'tcp';
      const route: TcpRoute = { service, internalPort: s.service.internal_port, ports: s.ports, protocol };
      this.routes.push(route);
      this.byService.set(`${protocol}/${s.app}/${s.service.internal_port}`, route);
      const byPort = protocol === 'udp' ? this.udpByPort : this.byPort;
      for (const port of s.ports) {
        // The schema (and the control plane) refuse a port claimed twice; the first one wins here.
        for (let p = port.start_port; p <= port.end_port; p++) if (!byPort.has(p)) byPort.set(p, { route, port });
      }
    }
  }

  /** The service a peer's tunnel names. */
  service(app: string, internalPort: number, protocol: 'tcp' | 'udp' = 'tcp'): TcpRoute | undefined {
    return this.byService.get(`${protocol}/${app}/${internalPort}`);
  }
}
