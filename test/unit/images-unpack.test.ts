/**
 * The I/O-free checks of layer unpacking (src/images/tar-safety.ts), on header objects: path
 * normalisation and `..` escapes, whiteout names, entry types refused, owner shifting and its
 * bounds, the modes kept, and the layer media types.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ancestors, entryPath, hostId, keptMode, layerCompression, planEntry, quickStartMode } from '../../src/images/index.js';
import { type ErrorCode, isStarlingError } from '../../src/shared/index.js';

const refusedWith = (code: ErrorCode, why: RegExp) => (e: unknown) => isStarlingError(e, code) && why.test(e.message);

describe('entryPath', () => {
  it('strips a leading / and ./, and resolves .. that stays inside', () => {
    assert.equal(entryPath('/etc/passwd'), 'etc/passwd');
    assert.equal(entryPath('./usr/bin/'), 'usr/bin');
    assert.equal(entryPath('a//b/./c'), 'a/b/c');
    assert.equal(entryPath('a/../b'), 'b');
    assert.equal(entryPath('./'), '');
  });

  it('refuses .. that leaves the root, and NUL bytes, naming the entry', () => {
    for (const p of ['..', '../etc/passwd', 'a/../../b', '/../x', './a/b/../../../c']) {
      assert.throws(() => entryPath(p), refusedWith('ERR_IMAGE_UNSAFE', /leave the root/), p);
      assert.throws(() => entryPath(p), (e: Error) => e.message.includes(JSON.stringify(p)));
    }
    assert.throws(() => entryPath('a\0b'), refusedWith('ERR_IMAGE_UNSAFE', /NUL/));
  });

  it('lists the directories a path walks through, top first', () => {
    assert.deepEqual(ancestors('a/b/c'), ['a', 'a/b']);
    assert.deepEqual(ancestors('top'), []);
  });
});

describe('planEntry', () => {
  it('turns .wh.<name> into a whiteout of its sibling and .wh..wh..opq into an opaque dir', () => {
    assert.deepEqual(planEntry({ path: 'etc/data/.wh.a', type: 'File' }, 0), { op: 'whiteout', path: 'etc/data/a' });
    assert.deepEqual(planEntry({ path: './.wh.gone', type: 'File' }, 0), { op: 'whiteout', path: 'gone' });
    assert.deepEqual(planEntry({ path: 'var/cache/.wh..wh..opq', type: 'File' }, 0), { op: 'opaque', dir: 'var/cache' });
    assert.deepEqual(planEntry({ path: '.wh..wh..opq', type: 'File' }, 0), { op: 'opaque', dir: '' });
    assert.deepEqual(planEntry({ path: '.wh..wh.aufs', type: 'File' }, 0), { op: 'skip', path: '.wh..wh.aufs' });
    for (const p of ['a/.wh.', 'a/.wh..', '.wh..']) {
      assert.throws(() => planEntry({ path: p, type: 'File' }, 0), refusedWith('ERR_IMAGE_UNSAFE', /whiteout/), p);
    }
  });

  it('shifts owners and drops setuid/setgid, keeping the sticky bit', () => {
    assert.deepEqual(planEntry({ path: 'bin/su', type: 'File', mode: 0o4755, uid: 0, gid: 0 }, 100000), { op: 'file', path: 'bin/su', mode: 0o755, uid: 100000, gid: 100000 });
    assert.deepEqual(planEntry({ path: 'tmp/', type: 'Directory', mode: 0o1777, uid: 1000, gid: 50 }, 65536), { op: 'dir', path: 'tmp', mode: 0o1777, uid: 66536, gid: 65586 });
    assert.deepEqual(planEntry({ path: 'usr/bin/wall', type: 'File', mode: 0o2755, uid: 0, gid: 5 }, 0), { op: 'file', path: 'usr/bin/wall', mode: 0o755, uid: 0, gid: 5 });
  });

  it('keeps symlink targets verbatim, absolute ones too, and checks hard link targets', () => {
    assert.deepEqual(planEntry({ path: 'bin', type: 'SymbolicLink', linkpath: 'usr/bin' }, 7), { op: 'symlink', path: 'bin', target: 'usr/bin', uid: 7, gid: 7 });
    assert.deepEqual(planEntry({ path: 'etc/mtab', type: 'SymbolicLink', linkpath: '/proc/self/mounts' }, 0).op, 'symlink');
    assert.equal((planEntry({ path: 'x', type: 'SymbolicLink', linkpath: '../../../etc' }, 0) as { target: string }).target, '../../../etc');
    assert.deepEqual(planEntry({ path: 'usr/bin/b', type: 'Link', linkpath: '/usr/bin/a' }, 0), { op: 'hardlink', path: 'usr/bin/b', target: 'usr/bin/a' });
    assert.throws(() => planEntry({ path: 'h', type: 'Link', linkpath: '../../etc/shadow' }, 0), refusedWith('ERR_IMAGE_UNSAFE', /leave the root/));
    assert.throws(() => planEntry({ path: 'h', type: 'Link', linkpath: '/' }, 0), refusedWith('ERR_IMAGE_UNSAFE', /root/));
  });

  it('refuses device nodes and FIFOs, saying which, and unknown types', () => {
    assert.throws(() => planEntry({ path: 'dev/sda', type: 'BlockDevice' }, 0), refusedWith('ERR_IMAGE_UNSAFE', /"dev\/sda".*block device/));
    assert.throws(() => planEntry({ path: 'dev/mem', type: 'CharacterDevice' }, 0), refusedWith('ERR_IMAGE_UNSAFE', /character device/));
    assert.throws(() => planEntry({ path: 'run/p', type: 'FIFO' }, 0), refusedWith('ERR_IMAGE_UNSAFE', /FIFO/));
    assert.throws(() => planEntry({ path: 's', type: 'SparseFile' }, 0), refusedWith('ERR_IMAGE_UNPACK', /SparseFile/));
  });

  it('refuses ids outside one 65536-uid block', () => {
    assert.equal(hostId('f', 'uid', 65535, 1 << 20), 65535 + (1 << 20));
    assert.equal(hostId('f', 'uid', undefined, 9), 9);
    assert.throws(() => planEntry({ path: 'f', type: 'File', uid: 65536 }, 0), refusedWith('ERR_IMAGE_UNSAFE', /uid 65536/));
    assert.throws(() => planEntry({ path: 'f', type: 'File', gid: 4294967294 }, 0), refusedWith('ERR_IMAGE_UNSAFE', /gid/));
  });

  it('refuses non-directories at the root itself', () => {
    assert.throws(() => planEntry({ path: './', type: 'File' }, 0), refusedWith('ERR_IMAGE_UNSAFE', /root/));
    assert.deepEqual(planEntry({ path: './', type: 'Directory', mode: 0o755 }, 0).op, 'dir');
  });
});

describe('modes and media types', () => {
  it('keeps permission bits and sticky, never setuid or setgid', () => {
    assert.equal(keptMode(0o6755), 0o755);
    assert.equal(keptMode(0o1777), 0o1777);
    assert.equal(keptMode(0o600), 0o600);
  });

  it('normalises quick-start modes as the runtime cache does', () => {
    assert.equal(quickStartMode(0o700, true), 0o755);
    assert.equal(quickStartMode(0o600, false), 0o644);
    assert.equal(quickStartMode(0o4777, false), 0o755);
    assert.equal(quickStartMode(0o640, false), 0o644);
  });

  it('knows OCI and Docker layer compressions and refuses the rest', () => {
    assert.equal(layerCompression('application/vnd.oci.image.layer.v1.tar'), 'none');
    assert.equal(layerCompression('application/vnd.oci.image.layer.v1.tar+gzip'), 'gzip');
    assert.equal(layerCompression('application/vnd.oci.image.layer.v1.tar+zstd'), 'zstd');
    assert.equal(layerCompression('application/vnd.docker.image.rootfs.diff.tar.gzip'), 'gzip');
    assert.throws(() => layerCompression('application/vnd.oci.image.config.v1+json'), refusedWith('ERR_IMAGE_MEDIA_TYPE', /config/));
  });
});
