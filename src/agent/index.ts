// One host's agent: its config (agent.toml) and the wiring of its parts — the proxy, the announcer,
// the machines (runtime), the control-plane link (sync) and the local admin and Machines APIs.
export { startAgent, type AgentOptions, type RunningAgent } from './agent.js';
export {
  AdminApi,
  GRACEFUL_SHUTDOWN,
  callAdminApi,
  openAdminApi,
  loadOrCreateToken,
  hostPort,
  parseCreateMachineRequest,
  type AdminApiOptions,
  type AdminCallOptions,
  machinesRoutes,
  type AdminCaller,
  type AdminRequest,
  type AdminRoute,
  type AnnouncerControl,
  type DrainReply,
} from './admin/index.js';
export { machineControl, mergeMachineRoutes } from './machine-routes.js';
export { loadAgentConfig, parseAgentConfig, AgentConfigError, type AgentConfig, type ControlSection, type MeshSection } from './config.js';
export { MeshLink } from './mesh-link.js';
export { PrivateDnsLink, privateDnsDirectory, upstreamOf, type PrivateDnsDirectory } from './private-dns-link.js';
