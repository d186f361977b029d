/**
 * The embedded state store: one SQLite file, owned by one control-plane process.
 *
 * SQLite is Node's own `node:sqlite` (DatabaseSync), not the better-sqlite3 addon: Starling runs on
 * Node 24 (from the npm registry where the host's Node is older), and a native addon is built for
 * one Node ABI. better-sqlite3 would have to be compiled by node-gyp against Node 24's headers on
 * every setup and every CI run (its prebuilt binaries are downloaded from outside the npm registry,
 * which an offline or locked-down host cannot reach), and rebuilt whenever Node changes; node:sqlite
 * ships inside the node binary, so there is nothing to build, nothing to get out of step, and no
 * dependency to update. What it costs: node:sqlite is younger (Stability 1.2, release candidate,
 * since Node 24.15: no ExperimentalWarning; earlier 24.x print one) and smaller — no `.pluck()`,
 * no `db.transaction()` (./sqlite-transaction.ts is ours), and errors carry SQLite's numeric
 * `errcode` instead of a 'SQLITE_BUSY' code. The SQL, the pragmas and the file format are SQLite's
 * own and unchanged: a database written by the better-sqlite3 store opens as it was.
 *
 * Durability: WAL with synchronous=FULL. NORMAL would already survive `kill -9` (a commit is in the
 * WAL, in the OS page cache, before `put` returns), but it may lose the last commits on a power cut
 * or kernel crash. Agents persist the revision they have seen; if the store came back *behind*
 * them, it would hand the same revisions out again for different changes and the agents would
 * skip them silently. FULL fsyncs the WAL on every commit; control-plane writes are few, so that is
 * cheap insurance.
 *
 * Single writer: watchers are woken from this process's commit path, so a second process writing
 * the same file would be invisible to them. locking_mode=EXCLUSIVE holds the file lock for the
 * life of the connection and makes a second opener fail fast (ERR_STORE_LOCKED).
 */
import { chmodSync, closeSync, existsSync, openSync } from 'node:fs';
import { DatabaseSync, type SQLOutputValue } from 'node:sqlite';
import { isStarlingError } from '../../shared/index.js';
import { ChangeFeed, type FeedPage } from './feed.js';
import { migrate } from './migrations.js';
import { transaction } from './sqlite-transaction.js';
import {
  checkCollection,
  checkKey,
  checkLimit,
  checkOps,
  checkPrefix,
  checkSince,
  conflict,
  storeError,
  type Change,
  type Entry,
  type FeedOptions,
  type Op,
  type Snapshot,
  type StateStore,
  type Unsubscribe,
  type WriteOptions,
} from './types.js';

export interface SqliteStoreOptions {
  /** The database file (created if missing); ':memory:' for a throwaway store. */
  path: string;
}

/** What node:sqlite returns for a row (a null-prototype object); the interfaces below are what each SELECT reads. */
type Row = Record<string, SQLOutputValue>;
interface DocRow extends Row {
  collection: string;
  key: string;
  value: string;
  revision: number;
}
interface ChangeRow extends Row {
  revision: number;
  op: 'put' | 'delete';
  collection: string;
  key: string;
  value: string | null;
}

const toEntry = (r: DocRow): Entry => ({ collection: r.collection, key: r.key, value: JSON.parse(r.value), revision: r.revision });
const toChange = ({ revision, op, collection, key, value }: ChangeRow): Change =>
  op === 'put' ? { op, revision, collection, key, value: JSON.parse(value as string) } : { op, revision, collection, key };

/** SQLite's primary result codes for "someone else holds the lock" (node:sqlite's `errcode` may be an extended code). */
const SQLITE_BUSY = 5;
const SQLITE_LOCKED = 6;

/** Errors from SQLite itself (disk full, I/O, corruption) become ERR_STORE_IO; ours pass through. */
function wrap(e: unknown, what: string): unknown {
  if (isStarlingError(e)) return e;
  const errcode = (e as { errcode?: unknown }).errcode;
  const primary = typeof errcode === 'number' ? errcode & 0xff : undefined;
  if (primary === SQLITE_BUSY || primary === SQLITE_LOCKED) {
    return storeError('ERR_STORE_LOCKED', `${what}: the database is in use by another process`, {
      cause: e,
      hint: 'only one control plane may use a state file: stop the other one or point this one at another file',
    });
  }
  return storeError('ERR_STORE_IO', `${what}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
}

export class SqliteStore implements StateStore {
  readonly path: string;
  private readonly db: DatabaseSync;
  private head: number;
  private compactedThrough: number;
  private closed = false;
  private readonly feed = new ChangeFeed((since, limit, collections) => this.run('watch', () => this.readLog(since, limit, collections)));
  private readonly sql: ReturnType<SqliteStore['prepare']>;

  constructor(opts: SqliteStoreOptions) {
    this.path = opts.path;
    let db: DatabaseSync | undefined;
    try {
      privateFiles(opts.path, true);
      db = new DatabaseSync(opts.path, { timeout: 1000 });
      db.exec('PRAGMA locking_mode = EXCLUSIVE');
      db.exec('PRAGMA journal_mode = WAL');
      db.exec('PRAGMA synchronous = FULL');
      migrate(db);
      privateFiles(opts.path, false);
    } catch (e) {
      db?.close();
      throw wrap(e, `opening the state store ${opts.path}`);
    }
    this.db = db;
    this.sql = this.prepare();
    this.head = this.meta('revision');
    this.compactedThrough = this.meta('compacted_through');
  }

  private prepare() {
    const db = this.db;
    const inCollections = 'collection IN (SELECT value FROM json_each(?))';
    return {
      meta: db.prepare('SELECT value FROM meta WHERE name = ?'),
      setMeta: db.prepare('UPDATE meta SET value = ? WHERE name = ?'),
      get: db.prepare('SELECT collection, key, value, revision FROM documents WHERE collection = ? AND key = ?'),
      list: db.prepare('SELECT collection, key, value, revision FROM documents WHERE collection = ? ORDER BY key'),
      listRange: db.prepare('SELECT collection, key, value, revision FROM documents WHERE collection = ? AND key >= ? AND key < ? ORDER BY key'),
      all: db.prepare('SELECT collection, key, value, revision FROM documents ORDER BY collection, key'),
      allIn: db.prepare(`SELECT collection, key, value, revision FROM documents WHERE ${inCollections} ORDER BY collection, key`),
      upsert: db.prepare(`INSERT INTO documents (collection, key, value, revision) VALUES (?, ?, ?, ?)
        ON CONFLICT (collection, key) DO UPDATE SET value = excluded.value, revision = excluded.revision`),
      remove: db.prepare('DELETE FROM documents WHERE collection = ? AND key = ?'),
      log: db.prepare('INSERT INTO changes (revision, op, collection, key, value) VALUES (?, ?, ?, ?, ?)'),
      changes: db.prepare('SELECT revision, op, collection, key, value FROM changes WHERE revision > ? ORDER BY revision LIMIT ?'),
      changesIn: db.prepare(`SELECT revision, op, collection, key, value FROM changes WHERE revision > ? AND ${inCollections} ORDER BY revision LIMIT ?`),
      compact: db.prepare('DELETE FROM changes WHERE revision <= ?'),
    };
  }

  private meta(name: 'revision' | 'compacted_through'): number {
    return (this.sql.meta.get(name) as { value: number }).value;
  }

  async get(collection: string, key: string): Promise<Entry | undefined> {
    checkKey(collection, key);
    const row = this.run('get', () => this.sql.get.get(collection, key) as DocRow | undefined);
    return row && toEntry(row);
  }

  async list(collection: string, opts: { prefix?: string } = {}): Promise<Entry[]> {
    checkCollection(collection);
    const prefix = opts.prefix ?? '';
    checkPrefix(prefix);
    // Keys are ASCII and compare bytewise, so the keys starting with `prefix` are [prefix, successor).
    const successor = prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
    const rows = this.run('list', () =>
      (prefix === '' ? this.sql.list.all(collection) : this.sql.listRange.all(collection, prefix, successor)) as DocRow[],
    );
    return rows.map(toEntry);
  }

  async put(collection: string, key: string, value: unknown, opts: WriteOptions = {}): Promise<number> {
    const [revision] = this.apply([{ op: 'put', collection, key, value, ...opts }]);
    return revision as number;
  }

  async delete(collection: string, key: string, opts: WriteOptions = {}): Promise<number | undefined> {
    return this.apply([{ op: 'delete', collection, key, ...opts }])[0];
  }

  async transaction(ops: readonly Op[]): Promise<(number | undefined)[]> {
    return this.apply(ops);
  }

  async changes(sinceRevision: number, opts: FeedOptions & { limit?: number } = {}): Promise<Change[]> {
    checkLimit(opts.limit);
    return this.run('changes', () => this.readLog(sinceRevision, opts.limit ?? -1, opts.collections).changes);
  }

  watch(
    sinceRevision: number,
    onChange: (change: Change) => void | Promise<void>,
    onError?: (err: Error) => void,
    opts?: FeedOptions,
  ): Unsubscribe {
    return this.feed.watch(sinceRevision, onChange, onError, opts);
  }

  async revision(): Promise<number> {
    return this.run('revision', () => this.head);
  }

  async snapshot(opts: FeedOptions = {}): Promise<Snapshot> {
    const names = opts.collections ? [...opts.collections] : undefined;
    names?.forEach(checkCollection);
    // Synchronous, single connection: no commit can land between these two reads.
    return this.run('snapshot', () => ({
      revision: this.head,
      entries: (names ? this.sql.allIn.all(JSON.stringify(names)) : this.sql.all.all()).map((r) => toEntry(r as DocRow)),
    }));
  }

  async compact(keepAfterRevision: number): Promise<void> {
    this.run('compact', () => {
      checkSince(keepAfterRevision, this.head, 0);
      if (keepAfterRevision <= this.compactedThrough) return;
      transaction(this.db, () => {
        this.sql.compact.run(keepAfterRevision);
        this.sql.setMeta.run(keepAfterRevision, 'compacted_through');
      });
      this.compactedThrough = keepAfterRevision;
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.feed.close();
    this.db.close();
  }

  private run<T>(what: string, fn: () => T): T {
    if (this.closed) throw storeError('ERR_STORE_CLOSED', 'the state store was closed');
    try {
      return fn();
    } catch (e) {
      throw wrap(e, `state store ${what}`);
    }
  }

  private readLog(since: number, limit: number, collections: readonly string[] | undefined): FeedPage {
    checkSince(since, this.head, this.compactedThrough);
    const rows = (collections ? this.sql.changesIn.all(since, JSON.stringify(collections), limit) : this.sql.changes.all(since, limit)) as ChangeRow[];
    const full = limit >= 0 && rows.length >= limit;
    return { changes: rows.map(toChange), through: full ? (rows.at(-1)?.revision ?? since) : this.head };
  }

  /** All ops or none: one SQLite transaction; a throw inside it rolls everything back. */
  private apply(ops: readonly Op[]): (number | undefined)[] {
    const texts = checkOps(ops);
    const { revision, results } = this.run('write', () =>
      transaction(this.db, () => {
        let revision = this.head;
        const results = ops.map((o, i): number | undefined => {
          const current = (this.sql.get.get(o.collection, o.key) as DocRow | undefined)?.revision ?? 0;
          if (o.expectRevision !== undefined && o.expectRevision !== current) throw conflict(o.collection, o.key, o.expectRevision, current);
          if (o.op === 'delete' && current === 0) return undefined;
          revision += 1;
          const text = texts[i] as string; // one per op
          if (o.op === 'put') this.sql.upsert.run(o.collection, o.key, text, revision);
          else this.sql.remove.run(o.collection, o.key);
          this.sql.log.run(revision, o.op, o.collection, o.key, o.op === 'put' ? text : null);
          return revision;
        });
        if (revision !== this.head) this.sql.setMeta.run(revision, 'revision');
        return { revision, results };
      }),
    );
    // Only after COMMIT returned: watchers must never see a change that could still roll back.
    if (revision !== this.head) {
      this.head = revision;
      this.feed.notify();
    }
    return results;
  }
}

/**
 * The state holds sealed secrets, token hashes and host credentials: the database and its WAL and
 * shared-memory files are 0600 whatever the umask or an earlier release left (SQLite gives the
 * -wal and -shm files the main file's mode, so it is made 0600 before SQLite creates anything).
 * `create` only before SQLite opens it: once it has, no other descriptor of the file may be opened
 * and closed in this process, as closing one drops the process's POSIX locks on it (SQLite's
 * exclusive lock among them).
 */
function privateFiles(path: string, create: boolean): void {
  if (path === ':memory:' || path === '') return;
  if (create && !existsSync(path)) {
    try {
      closeSync(openSync(path, 'wx', 0o600));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  for (const f of [path, `${path}-wal`, `${path}-shm`, `${path}-journal`]) {
    try {
      chmodSync(f, 0o600);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
}
