/**
 * Schema migrations for the SQLite store, recorded in `schema_migrations` (one row per applied
 * version). Each migration runs in the same transaction as its bookkeeping row, so a crash leaves
 * either both or neither; running `migrate` again applies nothing. Never edit a released
 * migration: add the next version.
 */
import type { DatabaseSync } from 'node:sqlite';
import { transaction } from './sqlite-transaction.js';
import { storeError } from './types.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'documents, change log, meta',
    sql: `
      -- Current value of every document; revision = the change that last wrote it.
      CREATE TABLE documents (
        collection TEXT NOT NULL,
        key        TEXT NOT NULL,
        value      TEXT NOT NULL,
        revision   INTEGER NOT NULL,
        PRIMARY KEY (collection, key)
      ) STRICT, WITHOUT ROWID;

      -- The change feed: one row per revision, contiguous until compaction drops a prefix.
      CREATE TABLE changes (
        revision   INTEGER PRIMARY KEY,
        op         TEXT NOT NULL CHECK (op IN ('put', 'delete')),
        collection TEXT NOT NULL,
        key        TEXT NOT NULL,
        value      TEXT,
        CHECK ((op = 'put') = (value IS NOT NULL))
      ) STRICT;

      -- 'revision': the last committed revision (survives compaction, which may empty the log).
      -- 'compacted_through': changes up to this revision have been dropped.
      CREATE TABLE meta (
        name  TEXT PRIMARY KEY,
        value INTEGER NOT NULL
      ) STRICT, WITHOUT ROWID;
      INSERT INTO meta (name, value) VALUES ('revision', 0), ('compacted_through', 0);
    `,
  },
];

function checkList(migrations: readonly Migration[]): void {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) {
      throw storeError('ERR_STORE_SCHEMA', `migration ${JSON.stringify(m.name)} has version ${m.version}, expected ${i + 1}`);
    }
  });
}

/** Versions already applied to `db`, ascending. */
export function appliedVersions(db: DatabaseSync): number[] {
  const rows = db.prepare('SELECT version FROM schema_migrations ORDER BY version').all() as { version: number }[];
  return rows.map((r) => r.version);
}

/**
 * Brings `db` up to the newest migration; returns the versions it applied (none on a current
 * database). Refuses a database written by a newer Starling rather than guess at its schema.
 */
export function migrate(db: DatabaseSync, migrations: readonly Migration[] = MIGRATIONS): number[] {
  checkList(migrations);
  const run = (): number[] => {
    db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version    INTEGER PRIMARY KEY,
      name       TEXT NOT NULL,
      applied_at TEXT NOT NULL
    ) STRICT`);
    const applied = appliedVersions(db);
    const newest = applied.at(-1) ?? 0;
    if (newest > migrations.length) {
      throw storeError('ERR_STORE_SCHEMA', `the database is at schema version ${newest}, this Starling knows up to ${migrations.length}`, {
        hint: 'run a Starling release at least as new as the one that last wrote this database',
      });
    }
    const done = new Set(applied);
    const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
    const ran: number[] = [];
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      db.exec(m.sql);
      record.run(m.version, m.name, new Date().toISOString());
      ran.push(m.version);
    }
    return ran;
  };
  // IMMEDIATE: take the write lock before reading the version, so two openers cannot both migrate.
  return transaction(db, run, 'immediate');
}
