/**
 * State stores: the shared conformance suite against MemoryStore and SqliteStore, plus what only the
 * SQLite store has — a file that survives close, reopen and `kill -9`, an exclusive owner,
 * versioned migrations, and a database written by an earlier release (on better-sqlite3).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import { appliedVersions, MemoryStore, migrate, MIGRATIONS, SqliteStore } from '../../src/control/store/index.js';
import { rejectsWith, storeConformance } from '../conformance/state-store.js';
import { repoRoot } from '../helpers/paths.js';

const dir = mkdtempSync(join(tmpdir(), 'starling-store-'));
let files = 0;
const dbPath = (): string => join(dir, `state-${++files}.db`);
after(() => rmSync(dir, { recursive: true, force: true }));

storeConformance('MemoryStore', async () => ({ store: new MemoryStore() }));
storeConformance('SqliteStore', async () => ({ store: new SqliteStore({ path: dbPath() }) }));

/** A child process that opens the built store and commits releases until it is killed. */
const CHILD = `
const [, storeUrl, path] = process.argv;
const { SqliteStore } = await import(storeUrl);
const store = new SqliteStore({ path });
let app = await store.put('apps', 'web', { release: 0 }, { expectRevision: 0 });
for (let n = 1; ; n++) {
  [, app] = await store.transaction([
    { op: 'put', collection: 'releases', key: 'web/v' + n, value: { n, image: 'sha256:' + 'a'.repeat(64) }, expectRevision: 0 },
    { op: 'put', collection: 'apps', key: 'web', value: { release: n }, expectRevision: app },
  ]);
  process.stdout.write('committed ' + n + '\\n');
  if (n % 10 === 0) await new Promise((resolve) => setImmediate(resolve));
}
`;

describe('SqliteStore', () => {
  it('keeps documents, revisions and compaction across close and reopen', async () => {
    const path = dbPath();
    const a = new SqliteStore({ path });
    await a.transaction([
      { op: 'put', collection: 'apps', key: 'web', value: { primary_region: 'ams' } },
      { op: 'put', collection: 'releases', key: 'web/v1', value: { image: 'sha256:aa' } },
    ]);
    await a.put('machines', 'm1', { state: 'started' });
    await a.delete('machines', 'm1');
    await a.compact(1);
    const before = { snapshot: await a.snapshot(), log: await a.changes(1) };
    await a.close();

    const b = new SqliteStore({ path });
    assert.deepEqual({ snapshot: await b.snapshot(), log: await b.changes(1) }, before);
    assert.equal(await b.revision(), 4);
    await assert.rejects(b.changes(0), rejectsWith('ERR_STORE_COMPACTED'));
    assert.equal(await b.put('apps', 'api', {}), 5, 'numbering continues where it stopped');
    await b.close();
    const raw = new DatabaseSync(path, { readOnly: true });
    assert.equal(raw.prepare('PRAGMA journal_mode').get()?.journal_mode, 'wal');
    raw.close();
  });

  it('allows one owner per file: a second store fails fast with ERR_STORE_LOCKED', async () => {
    const path = dbPath();
    const owner = new SqliteStore({ path });
    assert.throws(() => new SqliteStore({ path }), rejectsWith('ERR_STORE_LOCKED', 'user'));
    await owner.close();
    const next = new SqliteStore({ path });
    await next.close();
  });

  it('loses nothing committed when its process is killed with SIGKILL mid-write', async () => {
    const path = dbPath();
    const storeUrl = new URL('../../src/control/store/index.js', import.meta.url).href;
    const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD, storeUrl, path], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    // 'close', not 'exit': every line the child wrote before dying has been read by then.
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('close', (_code, signal) => resolve(signal)));
    const committed = (): number => Math.max(0, ...[...out.matchAll(/^committed (\d+)$/gm)].map((m) => Number(m[1])));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (committed() >= 300) resolve();
      });
      child.on('exit', () => reject(new Error(`the writer exited early: ${err}`)));
    });
    // While it is alive, the child owns the file.
    assert.throws(() => new SqliteStore({ path }), rejectsWith('ERR_STORE_LOCKED'));
    child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');
    const acknowledged = committed();

    const store = new SqliteStore({ path });
    try {
      const app = await store.get('apps', 'web');
      const release = (app?.value as { release: number }).release;
      assert.ok(release >= acknowledged, `every acknowledged commit survived: ${release} >= ${acknowledged}`);
      const releases = await store.list('releases', { prefix: 'web/' });
      assert.equal(releases.length, release, 'transactions are whole: one release per app update');
      assert.equal(await store.revision(), 1 + 2 * release);
      const log = await store.changes(0);
      assert.deepEqual(log.map((c) => c.revision), Array.from({ length: 1 + 2 * release }, (_, i) => i + 1));
    } finally {
      await store.close();
    }
  });

  it('runs each migration once; reopening and re-running apply nothing', async () => {
    const path = dbPath();
    await new SqliteStore({ path }).close();
    const raw = new DatabaseSync(path);
    const rows = (): unknown[] => raw.prepare('SELECT version, name, applied_at FROM schema_migrations').all();
    assert.deepEqual(appliedVersions(raw), [1]);
    const first = rows();
    raw.close();

    await new SqliteStore({ path }).close();
    const again = new DatabaseSync(path);
    assert.deepEqual(again.prepare('SELECT version, name, applied_at FROM schema_migrations').all(), first, 'reopen applied nothing');
    assert.deepEqual(migrate(again), []);
    const next = [...MIGRATIONS, { version: 2, name: 'test: an index', sql: 'CREATE INDEX changes_by_collection ON changes (collection, revision)' }];
    assert.deepEqual(migrate(again, next), [2]);
    assert.deepEqual(migrate(again, next), []);
    assert.deepEqual(appliedVersions(again), [1, 2]);
    assert.throws(() => migrate(again, [{ version: 3, name: 'out of order', sql: '' }]), rejectsWith('ERR_STORE_SCHEMA'));
    again.close();

    // A database from a newer Starling (it knows version 2, this build only 1) is refused, untouched.
    assert.throws(() => new SqliteStore({ path }), rejectsWith('ERR_STORE_SCHEMA'));
    const check = new DatabaseSync(path, { readOnly: true });
    assert.deepEqual(appliedVersions(check), [1, 2]);
    check.close();
  });

  it('opens a database written by the better-sqlite3 store (schema 1) as it was, and carries on', async () => {
    // test/fixtures/state-store/better-sqlite3-v1.db: written by Starling's store on better-sqlite3
    // 12.11 (SQLite 3.53.2): two puts in one transaction, a put and a delete, a put with non-ASCII
    // text, then compact(2).
    const path = dbPath();
    copyFileSync(join(repoRoot(), 'test', 'fixtures', 'state-store', 'better-sqlite3-v1.db'), path);
    const store = new SqliteStore({ path });
    try {
      assert.equal(await store.revision(), 5);
      assert.deepEqual(await store.snapshot(), {
        revision: 5,
        entries: [
          { collection: 'apps', key: 'api', value: { name: 'api', tags: ['x', 'é', null] }, revision: 5 },
          { collection: 'apps', key: 'web', value: { name: 'web', primary_region: 'ams' }, revision: 1 },
          { collection: 'releases', key: 'web/v1', value: { image: 'sha256:' + 'a'.repeat(64), n: 1 }, revision: 2 },
        ],
      });
      assert.deepEqual(await store.changes(2), [
        { op: 'put', revision: 3, collection: 'machines', key: 'm1', value: { state: 'started', region: 'ams' } },
        { op: 'delete', revision: 4, collection: 'machines', key: 'm1' },
        { op: 'put', revision: 5, collection: 'apps', key: 'api', value: { name: 'api', tags: ['x', 'é', null] } },
      ]);
      await assert.rejects(store.changes(1), rejectsWith('ERR_STORE_COMPACTED'));
      assert.equal(await store.put('apps', 'web', { name: 'web', primary_region: 'fra' }, { expectRevision: 1 }), 6);
    } finally {
      await store.close();
    }
    const raw = new DatabaseSync(path, { readOnly: true });
    assert.deepEqual(appliedVersions(raw), [1], 'no migration ran: the schema is the same');
    raw.close();
  });
});
