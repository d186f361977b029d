export {
  DEFAULT_LIMITS,
  RESPONSE_IDLE_TIMEOUT_RANGE_MS,
  requestIdFactory,
  type AcmeHttpAnswers,
  type LiveState,
  type MachineControl,
  type ProxyConfig,
  type ProxyContext,
  type ProxyLimits,
  type TunnelAcceptor,
} from './context.js';
export { isPeerRequest } from './peer.js';
export { Exchange } from './exchange.js';
export type { Downstream } from './downstream.js';
export { WaitQueue, type Waiter } from './queue.js';
export { Autoscaler } from './autoscaler.js';
export { admit, LocalAnswer } from './admit.js';
export { chooseMachine, type ChooseRequest, type Choice, type NoneReason } from './choose.js';
export { parseReplay, formatReplaySrc, type ReplayDirective, type ReplayParse } from './replay.js';
export type { ImageRoot, StaticRoots } from './statics.js';
export { machineToStart, machinesToStop, allOverSoftLimit, peerToWake } from './autoscale.js';
export { buildLocalResponse, buildRequestHead, buildResponseHead, edgeOwnsRequestField, RESPONSE_DROP, type ResponseInfo } from './headers.js';
