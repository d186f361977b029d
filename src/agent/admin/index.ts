// The agent's local HTTP APIs: the admin API (drain, BGP status, metrics; token-protected) and
// the fly-shaped Machines API on top of it, with the client the CLI uses for both.
export {
  AdminApi,
  AdminApiError,
  GRACEFUL_SHUTDOWN,
  MAX_BODY_BYTES,
  callAdminApi,
  error,
  hostPort,
  json,
  loadOrCreateToken,
  openAdminApi,
  type AdminApiOptions,
  type AdminCallOptions,
  type AdminHandler,
  type AdminRequest,
  type AdminResponse,
  type AnnouncerControl,
  type DrainReply,
} from './admin-api.js';
export { registerMachinesApi } from './machines-api.js';
export { parseCreateMachineRequest } from './machines-request.js';
