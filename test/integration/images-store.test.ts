/**
 * The host image store on real layers: crafted tars (node-tar headers), an image built by buildah
 * and exported as an OCI layout (gzip and zstd).
 * Whiteouts and opaque dirs, owners shifted into the app's uid block, every unsafe entry refused
 * with nothing left in the store, size and disk limits (a small tmpfs), digests, and gc.
 * The one-layer quick-start image has its own file (images-one-layer.test.ts).
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { type Descriptor, ImageStore } from '../../src/images/index.js';
import { type ErrorCode, isStarlingError } from '../../src/shared/index.js';
import { buildahImage, gz, putLayer, putOciLayout, run, sha256, TAR, TAR_GZIP, TAR_ZSTD, tarOf, zst } from '../helpers/layers.js';

const work = mkdtempSync(join(tmpdir(), 'starling-images-'));
const mounts: string[] = [];
after(async () => {
  for (const m of mounts) await run('umount', [m]).catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
});

let now = 1_800_000_000_000; // moved by the gc test
const clock = { now: () => now };
let stores = 0;
const newStore = (): ImageStore => new ImageStore(join(work, `store-${++stores}`), { clock });
const manifestFor = (name: string): string => sha256(`manifest of ${name}`);
const rejectsWith = (code: ErrorCode, why: RegExp) => (e: unknown) => isStarlingError(e, code) && why.test(e.message);
const ls = (dir: string): string[] => readdirSync(dir).sort();

describe('image store: unpacking', () => {
  it('applies layers in order: whiteouts, an opaque dir (whatever its place in the layer), links, modes, shifted owners', async () => {
    const store = newStore();
    const shift = 200_000;
    const lower = await putLayer(store, gz(tarOf([
      { path: 'etc/data/a', body: 'a' },
      { path: 'etc/data/b', body: 'b', uid: 1000, gid: 1001, mode: 0o640 },
      { path: 'var/cache/old1', body: 'x' },
      { path: 'var/cache/sub/old2', body: 'x' },
      { path: 'gone.txt', body: 'g' },
      { path: 'bin/su', body: '#!', mode: 0o4755 },
      { path: 'tmp/', mode: 0o1777 },
      { path: 'ro/', mode: 0o555 },
      { path: 'ro/inside', body: 'in a read-only dir' },
      { path: 'etc/mtab', type: 'SymbolicLink', linkpath: '/proc/self/mounts' },
      { path: 'keep.txt', body: 'kept' },
      { path: 'keep2', type: 'Link', linkpath: 'keep.txt' },
    ])));
    const upper = await putLayer(store, gz(tarOf([
      { path: '.wh.gone.txt' },
      { path: 'etc/data/.wh.a' },
      { path: 'var/cache/' },
      { path: 'var/cache/sub/' },
      { path: 'var/cache/sub/new2', body: 'n' },
      { path: 'var/cache/.wh..wh..opq' },
      { path: 'var/cache/new', body: 'n' },
    ])));
    const root = await store.rootfs(manifestFor('layers'), [lower, upper], { uidShift: shift });
    assert.equal(root, join(store.dir, 'rootfs', `${manifestFor('layers').slice(7)}-${shift}`));
    assert.deepEqual(ls(root), ['bin', 'etc', 'keep.txt', 'keep2', 'ro', 'tmp', 'var']);
    assert.deepEqual(ls(join(root, 'etc/data')), ['b']);
    assert.deepEqual(ls(join(root, 'var/cache')), ['new', 'sub']);
    assert.deepEqual(ls(join(root, 'var/cache/sub')), ['new2']);
    const b = lstatSync(join(root, 'etc/data/b'));
    assert.deepEqual([b.uid, b.gid, b.mode & 0o7777], [shift + 1000, shift + 1001, 0o640]);
    assert.equal(lstatSync(root).uid, shift);
    assert.equal(lstatSync(join(root, 'etc')).uid, shift, 'implicit parents belong to the image root');
    assert.equal(lstatSync(join(root, 'bin/su')).mode & 0o7777, 0o755, 'setuid dropped');
    assert.equal(lstatSync(join(root, 'tmp')).mode & 0o7777, 0o1777, 'sticky kept');
    assert.equal(lstatSync(join(root, 'ro')).mode & 0o7777, 0o555);
    assert.equal(readlinkSync(join(root, 'etc/mtab')), '/proc/self/mounts');
    assert.equal(lstatSync(join(root, 'etc/mtab')).uid, shift);
    assert.equal(lstatSync(join(root, 'keep2')).ino, lstatSync(join(root, 'keep.txt')).ino);
    assert.equal(lstatSync(join(root, 'keep.txt')).mtimeMs, 1_700_000_000_000);
    assert.deepEqual(ls(join(store.dir, '.tmp')), []);
  });

  it('unpacks a real image built by buildah, exported gzip and zstd, its whiteouts applied', async () => {
    const root = join(work, 'buildah');
    const buildah = await buildahImage(root, 'localhost/starling-test:1');
    await buildah('push', 'localhost/starling-test:1', `oci:${join(root, 'oci-gzip')}`);
    await buildah('push', '--compression-format', 'zstd', 'localhost/starling-test:1', `oci:${join(root, 'oci-zstd')}`);
    const store = newStore();
    const shift = 65536 * 3;
    for (const [layout, mediaType] of [['oci-gzip', 'application/vnd.oci.image.layer.v1.tar+gzip'], ['oci-zstd', TAR_ZSTD]] as const) {
      const image = await putOciLayout(store, join(root, layout));
      assert.ok(image.layers.length >= 3, `${layout}: one layer per step`);
      assert.ok(image.layers.every((l) => l.mediaType === mediaType), `${layout}: ${image.layers.map((l) => l.mediaType).join(', ')}`);
      const rootfs = await store.rootfs(image.manifest, image.layers, { uidShift: shift });
      assert.ok(lstatSync(join(rootfs, 'bin/busybox')).mode & 0o100);
      assert.equal(existsSync(join(rootfs, 'gone')), false, `${layout}: .wh.gone applied`);
      assert.deepEqual(ls(join(rootfs, 'etc/data')), ['c']);
      assert.equal(readFileSync(join(rootfs, 'etc/data/c'), 'utf8'), 'c\n');
      assert.equal(lstatSync(join(rootfs, 'home/app')).uid, shift + 1000);
      assert.equal(lstatSync(join(rootfs, 'bin/busybox')).uid, shift);
      const record = JSON.parse(readFileSync(join(store.dir, 'meta', `${image.manifest.slice(7)}.json`), 'utf8')) as { blobs: string[] };
      assert.deepEqual(record.blobs.sort(), [image.manifest, image.config, ...image.layers.map((l) => l.digest)].sort(), 'the config is kept with the image');
    }
  });

  it("unpacks an uncompressed and a zstd layer by their media types, and Docker's empty layer", async () => {
    const store = newStore();
    const plain = await putLayer(store, tarOf([{ path: 'plain', body: 'p' }]), TAR);
    const z = await putLayer(store, zst(tarOf([{ path: 'z/std', body: 'z' }])), TAR_ZSTD);
    const empty = await putLayer(store, gz(Buffer.alloc(1024))); // what `docker build` writes for ENV
    const root = await store.rootfs(manifestFor('plain+zstd'), [plain, empty, z, await putLayer(store, Buffer.alloc(0), TAR)], { uidShift: 0 });
    assert.equal(readFileSync(join(root, 'z/std'), 'utf8'), 'z');
    assert.equal(readFileSync(join(root, 'plain'), 'utf8'), 'p');
  });

  it('shares one unpack between concurrent calls for the same image and uid block', async () => {
    const store = newStore();
    const l = await putLayer(store, gz(tarOf([{ path: 'big', body: Buffer.alloc(4 << 20, 7) }])));
    const a = store.rootfs(manifestFor('shared'), [l], { uidShift: 0 });
    const b = store.rootfs(manifestFor('shared'), [l], { uidShift: 0 });
    assert.equal(a, b);
    assert.equal(await a, await b);
    assert.equal(lstatSync(join(await a, 'big')).size, 4 << 20);
  });
});

describe('image store: refusals leave nothing behind', () => {
  const outside = join(work, 'outside');
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret'), 'host file');
  const cases: [string, Parameters<typeof tarOf>[0][], ErrorCode, RegExp][] = [
    ['.. out of the root', [[{ path: '../escape', body: 'x' }]], 'ERR_IMAGE_UNSAFE', /"\.\.\/escape".*leave the root/],
    ['a path through a symlink of the same layer', [[{ path: 'link', type: 'SymbolicLink', linkpath: outside }, { path: 'link/pwned', body: 'x' }]], 'ERR_IMAGE_UNSAFE', /"link\/pwned".*parent link is a symlink/],
    ['a path through a symlink of a lower layer', [[{ path: 'etc', type: 'SymbolicLink', linkpath: outside }], [{ path: 'etc/passwd', body: 'x' }]], 'ERR_IMAGE_UNSAFE', /parent etc is a symlink/],
    ['a dir made, then a symlink over it, then a path through it', [[{ path: 'd/' }, { path: 'd', type: 'SymbolicLink', linkpath: outside }, { path: 'd/pwned', body: 'x' }]], 'ERR_IMAGE_UNSAFE', /parent d is a symlink/],
    ['a whiteout through a symlink', [[{ path: 'l', type: 'SymbolicLink', linkpath: outside }], [{ path: 'l/.wh.secret' }]], 'ERR_IMAGE_UNSAFE', /parent l is a symlink/],
    ['a hard link out of the root', [[{ path: 'h', type: 'Link', linkpath: '../../etc/passwd' }]], 'ERR_IMAGE_UNSAFE', /leave the root/],
    ['a hard link through a symlink', [[{ path: 'l', type: 'SymbolicLink', linkpath: outside }, { path: 'h', type: 'Link', linkpath: 'l/secret' }]], 'ERR_IMAGE_UNSAFE', /"h".*parent l is a symlink/],
    ['a character device', [[{ path: 'dev/mem', type: 'CharacterDevice' }]], 'ERR_IMAGE_UNSAFE', /character device/],
    ['a block device', [[{ path: 'dev/sda', type: 'BlockDevice' }]], 'ERR_IMAGE_UNSAFE', /block device/],
    ['a FIFO', [[{ path: 'run/fifo', type: 'FIFO' }]], 'ERR_IMAGE_UNSAFE', /FIFO/],
    ['a uid outside the block', [[{ path: 'f', body: 'x', uid: 70_000 }]], 'ERR_IMAGE_UNSAFE', /uid 70000/],
  ];
  for (const [what, layers, code, why] of cases) {
    it(`refuses ${what}`, async () => {
      const store = newStore();
      const descs: Descriptor[] = [];
      for (const entries of layers) descs.push(await putLayer(store, gz(tarOf([{ path: 'first', body: 'ok' }, ...entries]))));
      await assert.rejects(store.rootfs(manifestFor(what), descs, { uidShift: 100_000 }), rejectsWith(code, why));
      assert.deepEqual(ls(join(store.dir, 'rootfs')), []);
      assert.deepEqual(ls(join(store.dir, 'meta')), []);
      assert.deepEqual(ls(join(store.dir, '.tmp')), []);
      assert.deepEqual(ls(outside), ['secret']);
      assert.equal(readFileSync(join(outside, 'secret'), 'utf8'), 'host file');
    });
  }

  it('never prunes through a symlink that replaced a merged directory in the same layer', async () => {
    const store = newStore();
    const lower = await putLayer(store, gz(tarOf([{ path: 'd/x', body: 'lower' }])));
    const upper = await putLayer(store, gz(tarOf([{ path: 'd/' }, { path: 'd', type: 'SymbolicLink', linkpath: outside }, { path: '.wh.d' }])));
    const root = await store.rootfs(manifestFor('merged then symlink'), [lower, upper], { uidShift: 0 });
    assert.equal(readlinkSync(join(root, 'd')), outside, 'a whiteout hides lower layers only: the symlink of this layer stays');
    assert.deepEqual(ls(outside), ['secret']);
  });

  it('refuses corrupt archives (ERR_IMAGE_UNPACK) and layers missing from the store (ERR_IMAGE_NOT_FOUND)', async () => {
    const store = newStore();
    const good = gz(tarOf([{ path: 'f', body: Buffer.alloc(100_000, 1) }]));
    const badSum = tarOf([{ path: 'f', body: 'x' }]);
    badSum[0] = badSum[0]! ^ 0xff; // the header's checksum no longer matches
    const corrupt: [Buffer, string][] = [
      [good.subarray(0, good.length - 40), TAR_GZIP],
      [gz(Buffer.from('not a tar at all, just text'.repeat(40))), TAR_GZIP],
      [gz(badSum), TAR_GZIP],
      [Buffer.from('plain text, not gzip'), TAR_GZIP],
      [good, TAR_ZSTD],
    ];
    for (const [bytes, mediaType] of corrupt) {
      const l = await putLayer(store, bytes, mediaType);
      await assert.rejects(store.rootfs(sha256(bytes), [l], { uidShift: 0 }), rejectsWith('ERR_IMAGE_UNPACK', /does not decompress|not a valid tar/));
    }
    await assert.rejects(store.rootfs('sha256:abc', [], { uidShift: 0 }), rejectsWith('ERR_IMAGE_DIGEST', /not sha256/));
    await assert.rejects(store.rootfs(manifestFor('x'), [], { uidShift: 0xffff0000 }), rejectsWith('ERR_IMAGE_UNPACK', /uid shift/));
    const missing = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256('absent'), size: 6 };
    await assert.rejects(store.rootfs(manifestFor('missing'), [missing], { uidShift: 0 }), rejectsWith('ERR_IMAGE_NOT_FOUND', /not in the image store/));
    assert.deepEqual(ls(join(store.dir, 'rootfs')), []);
    assert.deepEqual(ls(join(store.dir, '.tmp')), []);
  });

  it('stops at maxBytes of unpacked content, counted over all layers', async () => {
    const store = newStore();
    const a = await putLayer(store, gz(tarOf([{ path: 'a', body: Buffer.alloc(600_000) }])));
    const b = await putLayer(store, gz(tarOf([{ path: 'b', body: Buffer.alloc(600_000) }])));
    assert.ok(await store.rootfs(manifestFor('a'), [a], { uidShift: 0, maxBytes: 1_000_000 }));
    await assert.rejects(store.rootfs(manifestFor('ab'), [a, b], { uidShift: 0, maxBytes: 1_000_000 }), rejectsWith('ERR_IMAGE_TOO_LARGE', /more than 1000000 bytes.*"b"/));
    assert.deepEqual(ls(join(store.dir, 'rootfs')), [`${manifestFor('a').slice(7)}-0`]);
    assert.deepEqual(ls(join(store.dir, '.tmp')), []);
  });
});

describe('image store: blobs', () => {
  it('keeps a blob only when its digest and size match', async () => {
    const store = newStore();
    const body = Buffer.from('layer bytes');
    await assert.rejects(store.putBlob(sha256('other bytes'), Readable.from([body])), rejectsWith('ERR_IMAGE_DIGEST', /arrived with the digest/));
    await assert.rejects(store.putBlob(sha256(body), Readable.from([body]), { size: 5 }), rejectsWith('ERR_IMAGE_DIGEST', /its descriptor says 5/));
    await assert.rejects(store.putBlob(sha256(body), Readable.from([body]), { size: 50 }), rejectsWith('ERR_IMAGE_DIGEST', /is 11 bytes/));
    await assert.rejects(store.putBlob(sha256(body), Readable.from([body]), { maxBytes: 4 }), rejectsWith('ERR_IMAGE_TOO_LARGE', /larger than 4/));
    await assert.rejects(store.putBlob('sha256:abc', Readable.from([body])), rejectsWith('ERR_IMAGE_DIGEST', /not sha256/));
    assert.equal(await store.hasBlob(sha256(body)), false);
    assert.deepEqual(ls(join(store.dir, 'blobs/sha256')), []);
    assert.deepEqual(ls(join(store.dir, '.tmp')), []);
    const path = await store.putBlob(sha256(body), (async function* () { yield body.subarray(0, 3); yield body.subarray(3); })(), { size: body.length });
    assert.equal(path, store.blobPath(sha256(body)));
    assert.deepEqual(readFileSync(path), body);
  });

  it('reports a full disk as ERR_IMAGE_DISK_FULL and keeps nothing half-written', async () => {
    const dir = join(work, 'small');
    mkdirSync(dir);
    await run('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir]);
    mounts.push(dir);
    const store = new ImageStore(join(dir, 'images'), { clock });
    const big = Buffer.alloc(2 << 20, 3);
    await assert.rejects(store.putBlob(sha256(big), Readable.from([big])), rejectsWith('ERR_IMAGE_DISK_FULL', /no space left/));
    assert.deepEqual(ls(join(store.dir, 'blobs/sha256')), []);
    const bomb = await putLayer(store, gz(tarOf([{ path: 'zeros', body: big }]))); // small packed, 2 MiB unpacked
    await assert.rejects(store.rootfs(manifestFor('bomb'), [bomb], { uidShift: 0 }), rejectsWith('ERR_IMAGE_DISK_FULL', /no space left/));
    assert.deepEqual(ls(join(store.dir, 'rootfs')), []);
    assert.deepEqual(ls(join(store.dir, '.tmp')), []);
  });

  it('cleanTmp removes what a crash left, read-only directories included', async () => {
    const store = newStore();
    await store.cleanTmp();
    mkdirSync(join(store.dir, '.tmp/rootfs-crashed/root/ro/deep'), { recursive: true });
    writeFileSync(join(store.dir, '.tmp/rootfs-crashed/root/ro/deep/f'), 'x');
    chmodSync(join(store.dir, '.tmp/rootfs-crashed/root/ro'), 0o500);
    writeFileSync(join(store.dir, '.tmp/blob-half'), 'half');
    await store.cleanTmp();
    assert.deepEqual(ls(join(store.dir, '.tmp')), []);
  });
});

describe('image store: gc', () => {
  it('removes images unused for long and the blobs only they used; never one in use, nor a fresh blob', async () => {
    const store = newStore();
    const HOUR = 3_600_000;
    const shared = await putLayer(store, gz(tarOf([{ path: 'shared', body: 'base' }])));
    const own = async (name: string): Promise<Descriptor> => putLayer(store, gz(tarOf([{ path: name, body: name }])));
    const [a, b, c] = [manifestFor('gc a'), manifestFor('gc b'), manifestFor('gc c')];
    const layersOf = { [a]: [shared, await own('a')], [b]: [shared, await own('b')], [c]: [await own('c')] };
    for (const m of [a, b, c]) {
      await store.putBlob(m, Readable.from([Buffer.from(`manifest of ${m === a ? 'gc a' : m === b ? 'gc b' : 'gc c'}`)]));
      await store.rootfs(m, layersOf[m]!, { uidShift: 0 });
    }
    const ro = await store.rootfs(c, layersOf[c]!, { uidShift: 65536 }); // a second uid block of c
    chmodSync(join(ro, 'c'), 0o444);
    chmodSync(ro, 0o555); // read-only dirs do not stop the removal
    now += 2 * HOUR;
    assert.equal(await store.touch(a), true);
    assert.equal(await store.touch(sha256('never unpacked')), false);
    const fresh = await putLayer(store, gz(tarOf([{ path: 'pulled', body: 'not yet unpacked' }])));
    const blobCount = ls(join(store.dir, 'blobs/sha256')).length;
    writeFileSync(join(store.dir, 'meta', 'notes.txt'), 'not a record'); // ignored, then collected

    const first = await store.gc({ olderThanMs: HOUR, inUse: new Set([b]) });
    assert.deepEqual(first.removed.sort(), [`blobs/sha256/${c.slice(7)}`, `blobs/sha256/${layersOf[c]![0]!.digest.slice(7)}`, `rootfs/${c.slice(7)}-0`, `rootfs/${c.slice(7)}-65536`].sort());
    assert.ok(first.freedBytes >= 2 * 'c'.length + layersOf[c]![0]!.size, String(first.freedBytes));
    assert.deepEqual(ls(join(store.dir, 'rootfs')), [`${a.slice(7)}-0`, `${b.slice(7)}-0`].sort());
    assert.equal(ls(join(store.dir, 'blobs/sha256')).length, blobCount - 2);
    assert.ok(await store.hasBlob(shared.digest));
    assert.ok(await store.hasBlob(fresh.digest), 'a blob younger than the cutoff stays');

    const later = await store.gc({ olderThanMs: HOUR, inUse: new Set(), now: now + 2 * HOUR });
    assert.ok(later.removed.includes(`rootfs/${a.slice(7)}-0`) && later.removed.includes(`rootfs/${b.slice(7)}-0`));
    assert.deepEqual(ls(join(store.dir, 'rootfs')), []);
    assert.deepEqual(ls(join(store.dir, 'blobs/sha256')), []);
    assert.deepEqual(ls(join(store.dir, 'meta')), []);
    assert.deepEqual(ls(join(store.dir, '.tmp')), []);
    // Collected images come back on the next use, once their blobs are pulled again.
    await assert.rejects(store.rootfs(a, layersOf[a]!, { uidShift: 0 }), rejectsWith('ERR_IMAGE_NOT_FOUND', /not in the image store/));
  });
});
