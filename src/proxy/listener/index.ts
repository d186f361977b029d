export { ProxyServer, type ProxyOptions } from './server.js';
export { DEFAULT_LIMITS, RESPONSE_IDLE_TIMEOUT_RANGE_MS, type ProxyLimits, type MachineControl } from './context.js';
export { openFilesLimit, warnOnOpenFilesLimit } from './admission.js';
