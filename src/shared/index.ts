export { StarlingError, isStarlingError, describeError, type Fault } from './errors.js';
export { ERROR_CODES, isErrorCode, statusOf, type ErrorCode, type ErrorCodeInfo } from './error-codes.js';
export { SystemClock, ManualClock, type Clock, type TimerHandle } from './clock.js';
export { Logger, silentLogger, stderrLogger, redact, type Level, type LogSink } from './log.js';
export {
  regions,
  findRegion,
  isKnownRegion,
  distanceKm,
  modelledRttMs,
  RttTable,
  type Region,
} from './regions.js';
export { ConfigIssuesError, formatIssues, fromZod, issuePath, type SchemaIssue } from './schema.js';
export { loadOrCreateTokenFile } from './token-file.js';
export { readConfigText, readToml, tomlSyntaxIssue } from './config-file.js';
export { readRequestBody } from './http-body.js';
export { closeNow, listenOn } from './net-listen.js';
export { runTool, type RunToolOptions } from './run-tool.js';
export { frame, FrameReader } from './length-frames.js';
export { compilePathTemplate } from './path-template.js';
export { ConnectionGate, addressKey, expandIpv6, type ConnectionGateStats, type ConnectionLimits } from './connection-gate.js';
export { RateLimiter, type RateDecision, type RateLimits } from './rate-limit.js';
export {
  UntrustedCertificateError,
  certFingerprint,
  checkPlainHttp,
  formatFingerprint,
  isLoopbackHost,
  normalizeFingerprint,
  trustingFetch,
  type TlsTrust,
} from './tls-trust.js';
export { Backoff, type BackoffOptions } from './backoff.js';
export * from './metrics/index.js';
// The HTTP kit is a part of its own, src/http: it loads node:http (about 50 ms and 9 MiB), so a
// process that needs only shared's basics, such as `starling --help`, does not load it.
export { HOST_PORT_RULE, parseHostPort } from './addresses.js';
export { bits, contains, formatNet, hostBits, parseIp, parsePrefix, type Ip, type Prefix } from './ip.js';
export { closest, editDistance } from './closest.js';
export { SEAL_KEY_BYTES, seal, unseal } from './sealed.js';
