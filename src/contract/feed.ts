/**
 * The change feed between the control plane and the agents (docs/control-api.md, "The feed"): a
 * snapshot, then long polls from its revision, each answer a batch of these changes.
 */

/** What agents may read. `secrets` (and every credential) is never on the feed. */
export const FEED_COLLECTIONS = ['apps', 'releases', 'machines', 'machine_states', 'hosts', 'deploys', 'hostnames', 'certificates', 'challenges', 'wireguard_peers', 'private_ips', 'volumes', 'volume_states', 'volume_snapshots'] as const;
export type FeedCollection = (typeof FEED_COLLECTIONS)[number];

/**
 * The collections an agent keeps in its view (deploys are the CLI's business). `certificates`
 * carry their private keys to hosts only (contract/certificates.ts).
 */
export const SYNC_COLLECTIONS = ['apps', 'releases', 'machines', 'machine_states', 'hosts', 'hostnames', 'certificates', 'challenges', 'wireguard_peers', 'private_ips', 'volumes', 'volume_states', 'volume_snapshots'] as const satisfies readonly FeedCollection[];

export interface FeedChange {
  revision: number;
  collection: string;
  key: string;
  op: 'put' | 'delete';
  value: unknown;
}

export const DEFAULT_WATCH_TIMEOUT_S = 25;
export const MAX_WATCH_TIMEOUT_S = 60;
