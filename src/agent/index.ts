export { startAgent, type AgentOptions, type RunningAgent } from './agent.js';
export {
  AdminApi,
  GRACEFUL_SHUTDOWN,
  callAdminApi,
  loadOrCreateToken,
  hostPort,
  type AdminApiOptions,
  type AdminHandler,
  type AdminRequest,
  type AdminResponse,
  type AnnouncerControl,
  type DrainReply,
} from './admin-api.js';
export { loadAgentConfig, parseAgentConfig, AgentConfigError, type AgentConfig } from './config.js';
export { ControlSync, SYNC_COLLECTIONS, type SyncView, type SyncStatus, type SyncHost } from './sync.js';
