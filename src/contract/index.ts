// What the agent and the control plane both speak: the documents and the feed between them, the
// names and their rules, durations and addresses, and an app's config with the machine config a
// release becomes. It imports nothing of either side (shared/ only), so loading the agent never
// loads the control plane.
export {
  APP_NAME_RE, APP_NAME_RULE, DEFAULT_ORG, DEFAULT_PROCESS_GROUP, DIGEST_RE, HEADER_NAME_RE, HOST_ID_RE, MACHINE_ID_RE, ORG_NAME_RE, PROCESS_GROUP_RE, PROCESS_GROUP_RULE,
  PROXY_RESPONSE_FIELDS, RESERVED_RESPONSE_FIELDS, SECRET_NAME_RE,
} from './names.js';
export {
  MACHINE_ROLES,
  DESIRED_MACHINE_STATES,
  MACHINE_STATE_NAMES,
  isAppMachine,
  machineKey,
  type DesiredMachineState,
  type MachineOverrides,
  releaseKey,
  type AppDoc,
  type HostDoc,
  type HostMeshDoc,
  type MachineDoc,
  type MachineRole,
  type MachineStateDoc,
  type MachineCheckDoc,
  type MachineDetailsDoc,
  type MachineEventDoc,
  type MachineExitDoc,
  type MachineLogLineDoc,
  LIVE_TAIL_LINES,
  MAX_GONE_MACHINES,
  MAX_MACHINE_EVENTS,
  MAX_TAIL_LINE_CHARS,
  MAX_TAIL_LINES,
  type MachineStateName,
  type ReleaseDoc,
  type ReleaseStatus,
  type WireguardPeerDoc,
  wireguardPeerKey,
  type PrivateIpDoc,
  privateIpKey,
  type VolumeDoc,
  type VolumeSnapshotDoc,
  SNAPSHOT_ID_RE,
  type VolumeStateDoc,
  type VolumeStateName,
  VOLUME_STATES,
  VOLUME_ID_RE,
  VOLUME_NAME_RE,
  volumeKey,
} from './documents.js';
export { DEFAULT_WATCH_TIMEOUT_S, FEED_COLLECTIONS, MAX_WATCH_TIMEOUT_S, SYNC_COLLECTIONS, type FeedChange, type FeedCollection } from './feed.js';
export {
  KEYED_COLLECTIONS,
  certificateKey,
  challengeKey,
  hostnameFromStoreKey,
  hostnameStoreKey,
  type AcmeChallengeName,
  type CertificateDoc,
  type CertificateSourceName,
  type CertificateState,
  type CertificateView,
  type DnsRecord,
  type ChallengeDoc,
  type HostnameDoc,
} from './certificates.js';
export { DURATION_RULE, parseDuration } from './duration.js';
export { APPS_DOMAIN_RE, DEFAULT_APPS_DOMAIN, DEFAULT_MAX_IMAGE_BYTES } from './platform.js';
export { FRAME, FrameDecoder, MAX_FRAME_PAYLOAD, PING_INTERVAL_MS, encodeFrame, type Frame, type FrameType } from './exec-frames.js';
// Host:port lives in shared (no zod), so the CLI kit can check HOST:PORT flags without loading the
// app config schema; it is the contract's rule all the same.
export { HOST_PORT_RULE, parseHostPort } from '../shared/index.js';
export {
  AppConfigError,
  DEFAULT_RELEASE_COMMAND_TIMEOUT_MS,
  loadAppConfig,
  maxUnavailableCount,
  parseAppConfig,
  parseAppConfigDocument,
  releaseAppConfig,
  type AppConfig,
  type BuildConfig,
  type CheckConfig,
  type ConfigIssue,
  type DeployStrategy,
  type Handler,
  type KillSignal,
  type ProcessGroupConfig,
  type RestartConfig,
  type ServiceConfig,
  type FileConfig,
  type VmConfig,
} from './app-config.js';
export { groupNames, groupOf, processGroup, serves } from './process-groups.js';
export { idleTimeoutSeconds } from './http-options.js';
export { MAX_STATICS, staticMapping, staticPrefixKey, staticsList, type StaticMapping } from './statics.js';
export { defaultGroupOf } from './app-config-groups.js';
export { parseSizeMb } from './app-config-schema.js';
export { formatCommandWords, splitCommandWords } from './command-words.js';
export { filesFor, httpServiceOf, tcpServicesOf, machineConfigFor, withOverrides, type ImageCommand, type ImageDefaults, type ReleaseMachineConfig } from './machine-config.js';
export {
  LEASE_NONCE_HEADERS,
  LEASE_TTL_DEFAULT_S,
  LEASE_TTL_MAX_S,
  LeaseBody,
  STOP_SIGNALS,
  StopMachineBody,
  WAIT_MAX_S,
  leaseHeldMessage,
  leaseNonceOf,
  leaseView,
  machineObject,
  waitTimeoutQuery,
  type Lease,
  type MachineObject,
  type MachineObjectSource,
} from './machines-api.js';
