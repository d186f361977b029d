export {
  ProxyServer,
  DEFAULT_LIMITS,
  RESPONSE_IDLE_TIMEOUT_RANGE_MS,
  openFilesLimit,
  warnOnOpenFilesLimit,
  type ProxyOptions,
  type ProxyLimits,
  type MachineControl,
} from './listener/index.js';
export { AdminServer } from './admin.js';
export * from './routes/index.js';
export { chooseMachine, parseReplay, formatReplaySrc, type Choice, type ChooseRequest } from './router/index.js';
export * as http1 from './http1/index.js';
export { startStandalone, type EdgeLimits, type StandaloneOptions, type RunningProxy, type TlsOptions, type AcmeOptions } from './standalone.js';
export { runPrimary, runWorker, sumMetrics } from './workers.js';
export { type TlsContexts } from './tls/front-door.js';
export { readClientHello, type ClientHelloResult } from './tls/client-hello.js';
export { DEFAULT_H2_LIMITS, type H2Limits } from './h2/server.js';
export { StoreTlsContexts, type DefaultCert } from './tls/store-contexts.js';
export { machineToStart, machinesToStop, allOverSoftLimit } from './router/autoscale.js';
