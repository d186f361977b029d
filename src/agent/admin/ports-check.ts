import { z } from 'zod';
import { json, route } from '../../http/index.js';
import type { PortProblem } from '../../proxy/index.js';
import { LOCAL_OR_CONTROL, type AdminCaller, type AdminRoute } from './admin-api.js';

/**
 * `POST /v1/ports/check`: could this host's edge serve these public ports? The control plane asks
 * every host before it takes a deploy whose release adds TCP or UDP services (control/api
 * host-ports.ts), so a port another program holds on one host fails the deploy before anything is
 * replaced, naming the host, the port and the reason. Ports the proxy serves already are fine.
 */
const MAX_PORTS = 2048;
const ports = z.array(z.number().int().min(1, 'must be a port number from 1 to 65535').max(65535, 'must be a port number from 1 to 65535')).max(MAX_PORTS, `at most ${MAX_PORTS} ports`).default([]);
export const PortsCheckBody = z.strictObject({ tcp: ports, udp: ports });

/** What the route needs of the proxy (ProxyServer.probePorts). */
export interface PortProber {
  probePorts(tcp: readonly number[], udp: readonly number[]): Promise<PortProblem[]>;
}

export function portsCheckRoutes(proxy: PortProber): AdminRoute[] {
  return [
    route<AdminCaller, typeof PortsCheckBody>({
      method: 'POST',
      path: '/v1/ports/check',
      access: LOCAL_OR_CONTROL,
      summary: "Whether this host's edge can listen on these public TCP and UDP ports (nothing stays bound); ports it serves already are fine",
      requestSchema: PortsCheckBody,
      responses: { '200': '{ problems: [{ protocol, port, error }] }' },
      handler: async ({ body }) => json(200, { problems: await proxy.probePorts(body.tcp, body.udp) }),
    }),
  ];
}
