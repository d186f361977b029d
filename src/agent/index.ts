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
export { loadAgentConfig, parseAgentConfig, AgentConfigError, type AgentConfig, type ControlSection } from './config.js';
export { controlRoutes, mergeControlRoutes, type ControlRoutes, type ControlRoutesInput } from './control-routes.js';
export { Reconciler, type PlacedMachine, type ReconcilerOptions } from './reconcile.js';
export { StateReporter, type MachineReport } from './state-report.js';
export { type ControlLink } from './control-link.js';
export { ControlSync, SYNC_COLLECTIONS, type SyncView, type SyncStatus, type SyncHost } from './sync.js';
