// The control plane: its HTTP API server, the config it boots from, and the parts it is made of.
export { startControlPlane, MAX_BODY_BYTES, DEFAULT_CONTROL_LIMITS, type ControlLimits, type ControlPlane, type ControlPlaneOptions } from './server.js';
export { loadOrCreateControlTls, type ControlTls } from './tls.js';
export { startControlFromConfig, type RunningControl } from './start.js';
export { controlRouter, type ApiResponse, type Route } from './api/http.js';
export { controlRoutes, openApiDocument, API_VERSION } from './api/openapi.js';
export { loadControlConfig, parseControlConfig, loadOrCreateControlToken, ControlConfigError, type ControlConfig } from './api/control-config.js';
export * from './store/index.js';
