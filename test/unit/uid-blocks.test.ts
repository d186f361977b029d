/**
 * The per-app host uid blocks of the sandbox driver: an app keeps its block across driver restarts
 * (its volumes' owner), apps never share one, the file is private and replaced atomically.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { BLOCK_SIZE, DEFAULT_UID_BASE, UidBlocks } from '../../src/runtime/drivers/sandbox-userns.js';
import { isStarlingError } from '../../src/shared/index.js';

describe('uid blocks', () => {
  const dir = mkdtempSync(join(tmpdir(), 'starling-uid-blocks-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('gives each app its own 65536-uid block from the base, and the same one after a restart', () => {
    const file = join(dir, 'uid-blocks.json');
    const blocks = new UidBlocks(file, DEFAULT_UID_BASE);
    const web = blocks.firstUid('web');
    const db = blocks.firstUid('db');
    assert.equal(web, 0x70000000);
    assert.equal(db, 0x70000000 + BLOCK_SIZE);
    assert.equal(blocks.firstUid('web'), web);
    const again = new UidBlocks(file, DEFAULT_UID_BASE); // the next agent on this data dir
    assert.equal(again.firstUid('db'), db);
    assert.equal(again.firstUid('web'), web);
    assert.equal(again.firstUid('cache'), 0x70000000 + 2 * BLOCK_SIZE);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(dir), ['uid-blocks.json'], 'no temporary file left');
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')).apps, { web, db, cache: 0x70000000 + 2 * BLOCK_SIZE });
  });

  it('a changed base applies to new apps only: existing apps keep their uids, none overlap', () => {
    const file = join(dir, 'rebased.json');
    assert.equal(new UidBlocks(file, 0x10000).firstUid('old'), 0x10000);
    const moved = new UidBlocks(file, 0x10000);
    assert.equal(moved.firstUid('old'), 0x10000);
    assert.equal(moved.firstUid('new'), 0x20000);
  });

  it('refuses a base that is 0, unaligned or leaves no room, and says when the range is used up', () => {
    for (const base of [0, 100, 0x70000001, 0xffff0000]) {
      assert.throws(() => new UidBlocks(join(dir, 'x.json'), base), (e: unknown) => isStarlingError(e, 'ERR_SANDBOX_CONFIG'), String(base));
    }
    const full = new UidBlocks(join(dir, 'full.json'), 0xfffe0000); // room for one block below 2^32-1
    full.firstUid('one');
    assert.throws(() => full.firstUid('two'), (e: unknown) => isStarlingError(e, 'ERR_SANDBOX_UIDS_FULL'));
  });

  it('a damaged file is an error, never a silent reallocation (volumes would change owner)', () => {
    const file = join(dir, 'damaged.json');
    writeFileSync(file, '{ "version": 1, "apps": ');
    assert.throws(() => new UidBlocks(file, DEFAULT_UID_BASE).firstUid('web'), (e: unknown) => isStarlingError(e, 'ERR_SANDBOX_UIDS'));
  });
});
