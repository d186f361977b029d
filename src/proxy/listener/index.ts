export { ProxyServer, type ProxyOptions } from './server.js';
export { DEFAULT_LIMITS, type ProxyLimits, type MachineControl } from './context.js';
