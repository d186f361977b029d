/**
 * The control plane's state store: one interface (`StateStore`), an embedded SQLite implementation
 * (the default), and an in-memory one for tests and embedding. Every implementation passes
 * test/conformance/state-store.ts.
 */
export type { Change, Entry, FeedOptions, Op, Snapshot, StateStore, Unsubscribe, WriteOptions } from './types.js';
export { COLLECTION_RE, KEY_RE, MAX_KEY_LENGTH, MAX_TRANSACTION_OPS, MAX_VALUE_BYTES } from './types.js';
export { storeChannel } from './feed.js';
export { MemoryStore } from './memory.js';
export { SqliteStore, type SqliteStoreOptions } from './sqlite.js';
export { MIGRATIONS, migrate, appliedVersions, type Migration } from './migrations.js';

import { MemoryStore } from './memory.js';
import { SqliteStore } from './sqlite.js';
import type { StateStore } from './types.js';

/**
 * The stores by kind: one row each (NATS JetStream joins as a row). `path` is the SQLite file;
 * the memory store keeps nothing.
 */
export const STORES = {
  sqlite: (o: { path: string }): StateStore => new SqliteStore({ path: o.path }),
  memory: (): StateStore => new MemoryStore(),
} as const satisfies Record<string, (o: { path: string }) => StateStore>;

export type StoreKind = keyof typeof STORES;

export function openStore(kind: StoreKind, o: { path: string }): StateStore {
  return STORES[kind](o);
}
