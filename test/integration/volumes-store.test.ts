/**
 * A host's volumes on its disk (src/volumes), for real: an ext4 image of the size asked, loop-mounted;
 * its files kept across an unmount (a reboot, an agent restart) and a grow; a full volume fails
 * writes with ENOSPC and nothing outside it; removal leaves nothing. Needs root (mount, loop devices).
 */
import assert from 'node:assert/strict';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { VolumeStore } from '../../src/volumes/index.js';
import { canMakeNamespaces } from '../helpers/netns.js';

const skip = canMakeNamespaces() ? false : 'needs root (loop-mounted filesystems)';
const dir = mkdtempSync(join(tmpdir(), 'starling-volumes-'));
const store = new VolumeStore({ dataDir: dir });
const vol = { app: 'db', id: 'vol_0123456789abcd', size_gb: 1 };

after(async () => {
  if (!skip) await store.remove(vol.app, vol.id).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

describe('volumes on a host', { skip, timeout: 120_000 }, () => {
  it('a volume is an ext4 filesystem of its size, mounted where machines bind it', async () => {
    const s = await store.ensure(vol);
    assert.equal(s.path, join(dir, 'volumes', 'db', vol.id));
    assert.ok(store.mounted(s.path));
    const fs = readFileSync('/proc/self/mounts', 'utf8').split('\n').find((l) => l.split(' ')[1] === s.path)!;
    assert.match(fs, /^\/dev\/loop\d+ \S+ ext4 rw,nosuid,nodev/);
    assert.equal(s.size_gb, 1);
    assert.ok(s.total_bytes > 0.9e9 && s.total_bytes <= 1e9, `about 1 GB: ${s.total_bytes}`);
    writeFileSync(join(s.path, 'kept.txt'), 'written before the reboot\n');
    assert.equal((await store.ensure(vol)).path, s.path, 'ensure again changes nothing');
    assert.equal(readFileSync('/proc/self/mounts', 'utf8').split('\n').filter((l) => l.split(' ')[1] === s.path).length, 1, 'mounted once');
  });

  it('unmounted (a reboot, the agent restarted): mounted again with its files', async () => {
    execFileSync('umount', [store.path(vol.app, vol.id)]);
    assert.equal(store.mounted(store.path(vol.app, vol.id)), false);
    const s = await store.ensure(vol);
    assert.ok(store.mounted(s.path));
    assert.equal(readFileSync(join(s.path, 'kept.txt'), 'utf8'), 'written before the reboot\n');
  });

  it('full: a write fails with ENOSPC inside the volume, and the host\'s disk outside takes more', () => {
    const file = join(store.path(vol.app, vol.id), 'filler');
    const fd = openSync(file, 'w');
    const chunk = Buffer.alloc(8 << 20, 7);
    let written = 0;
    let code: string | undefined;
    try {
      for (;;) {
        written += writeSync(fd, chunk);
        if (written > 2e9) break; // far past the size: the limit is not there
      }
    } catch (e) {
      code = (e as NodeJS.ErrnoException).code;
    } finally {
      closeSync(fd);
    }
    assert.equal(code, 'ENOSPC', `stopped after ${written} bytes`);
    assert.ok(written < 1e9, `${written} bytes fit in a 1 GB volume`);
    writeFileSync(join(dir, 'outside.txt'), 'the host is fine');
    assert.equal(readFileSync(join(dir, 'outside.txt'), 'utf8'), 'the host is fine');
    rmSync(file);
  });

  it('grown while mounted: the filesystem takes the new size, the files stay', async () => {
    const s = await store.ensure({ ...vol, size_gb: 2 });
    assert.equal(s.size_gb, 2);
    assert.ok(s.total_bytes > 1.8e9, `about 2 GB: ${s.total_bytes}`);
    assert.equal(readFileSync(join(s.path, 'kept.txt'), 'utf8'), 'written before the reboot\n');
    assert.deepEqual(store.present(), [{ app: 'db', id: vol.id }]);
  });

  it('removed: unmounted, the image and mount point gone', async () => {
    await store.remove(vol.app, vol.id);
    assert.equal(store.mounted(store.path(vol.app, vol.id)), false);
    assert.equal(existsSync(store.image(vol.app, vol.id)), false);
    assert.equal(existsSync(store.path(vol.app, vol.id)), false);
    assert.deepEqual(store.present(), []);
  });
});
