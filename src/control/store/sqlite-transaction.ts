/**
 * better-sqlite3's `db.transaction(fn)`, for node:sqlite (which has none): BEGIN, run `fn`
 * synchronously, COMMIT; any throw, from `fn` or from COMMIT itself, rolls back and is rethrown.
 * Not nestable (the store never nests): a call inside an open transaction is refused.
 */
import type { DatabaseSync } from 'node:sqlite';

export function transaction<T>(db: DatabaseSync, fn: () => T, mode: 'deferred' | 'immediate' = 'deferred'): T {
  if (db.isTransaction) throw new Error('transaction: a transaction is already open on this connection');
  db.exec(mode === 'immediate' ? 'BEGIN IMMEDIATE' : 'BEGIN');
  try {
    const result = fn();
    db.exec('COMMIT');
    return result;
  } catch (e) {
    // COMMIT may have failed (SQLITE_BUSY, I/O) with the transaction still open, or SQLite may
    // have rolled it back already on its own (SQLITE_FULL and the like): roll back only if open.
    if (db.isTransaction) db.exec('ROLLBACK');
    throw e;
  }
}
