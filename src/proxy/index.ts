export { ProxyServer, DEFAULT_LIMITS, type ProxyOptions, type ProxyLimits } from './listener/index.js';
export { AdminServer } from './admin.js';
export * from './routes/index.js';
export { chooseMachine, parseReplay, formatReplaySrc, type Choice, type ChooseRequest } from './router/index.js';
export * as http1 from './http1/index.js';
export { startStandalone, type StandaloneOptions, type RunningProxy } from './standalone.js';
export { runPrimary, runWorker, sumMetrics } from './workers.js';
