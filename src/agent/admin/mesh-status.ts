import { json, route } from '../../http/index.js';
import type { MeshStatus } from '../../mesh/index.js';
import { LOCAL, type AdminCaller, type AdminRoute } from './admin-api.js';

/** What the route needs of the agent's mesh (agent/mesh-link.ts). */
export interface MeshStatusSource {
  status(): Promise<MeshStatus | undefined>;
}

/**
 * `GET /v1/mesh/status`: this host on the WireGuard mesh — its interface, address and public key,
 * and each peer with its endpoint, last handshake and bytes. `{ mesh: null }` while the host has no
 * place on the mesh yet (the control plane has not answered its registration).
 */
export function meshStatusRoutes(mesh: MeshStatusSource): AdminRoute[] {
  return [
    route<AdminCaller>({
      method: 'GET',
      path: '/v1/mesh/status',
      access: LOCAL,
      summary: 'This host on the WireGuard mesh: interface, address, public key, and each peer with its endpoint, last handshake and bytes',
      responses: { '200': '{ mesh: MeshStatus | null }' },
      handler: async () => json(200, { mesh: (await mesh.status()) ?? null }),
    }),
  ];
}
