export type { AnnouncerSpec, BgpSpec, PeerSpec, BfdSpec, HealthSpec, DrainSpec } from './types.js';
export {
  Announcer,
  announcerChannel,
  type AnnouncerOptions,
  type AnnouncerStatus,
  type BirdControl,
  type SessionInfo,
  type PrefixReason,
} from './announcer.js';
export { BirdSupervisor, type BirdPaths, type SupervisorOptions } from './supervisor.js';
export { HealthMonitor, httpProbe, type Probe } from './health.js';
export { birdConfig, redactedBirdConfig, isBirdReservedWord } from './bird-config.js';
export { connectBirdControl } from './bird-control.js';
export { BirdClient } from './bird/client.js';
export type { BirdRoute } from './bird/show.js';
