// The agent's side of the control plane: joining, the synced view (cached on disk), the
// reconciler that turns this host's placements into machines, the state reports, and the routes
// the proxy gets from the view. The agent wires it (agent/agent.ts); nothing here starts a server.
export { openControlLink, type ControlLink, type ControlLinkOptions } from './control-link.js';
export { ControlClient, fileDigest, type ControlClientOptions } from './control-client.js';
export { hostIdentity, joinTokenFingerprint, savePeerKey, type HostIdentity } from './control-join.js';
export { controlRoutes, mergeControlRoutes, type ControlRoutes, type ControlRoutesInput } from './control-routes.js';
export { Reconciler, type PlacedMachine, type ReconcilerOptions } from './reconcile.js';
export { StateReporter, type MachineReport } from './state-report.js';
export { ControlSync, SYNC_BACKOFF_INITIAL_MS, SYNC_BACKOFF_MAX_MS, SYNC_COLLECTIONS, type ControlSyncOptions, type SyncHost, type SyncStatus, type SyncView, type SyncDocuments } from './sync.js';
export type { ControlSection } from './types.js';
