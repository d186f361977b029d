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
