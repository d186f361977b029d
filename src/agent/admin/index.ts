// The agent's local HTTP APIs: the admin API (drain, BGP status, metrics; token-protected) and
// the fly-shaped Machines API on top of it, with the client the CLI uses for both.
export {
  AdminApi,
  GRACEFUL_SHUTDOWN,
  LOCAL,
  LOCAL_OR_CONTROL,
  MAX_BODY_BYTES,
  callAdminApi,
  hostPort,
  loadOrCreateToken,
  openAdminApi,
  type AdminApiOptions,
  type AdminCallOptions,
  type AdminRequest,
  type AdminCaller,
  type AdminRoute,
  type AnnouncerControl,
  type DrainReply,
} from './admin-api.js';
export { machinesRoutes } from './machines-api.js';
export { portsCheckRoutes, PortsCheckBody } from './ports-check.js';
export { parseCreateMachineRequest } from './machines-request.js';
export { meshStatusRoutes, type MeshStatusSource } from './mesh-status.js';
