/**
 * The quick-start form as a one-layer OCI image: deterministic (the same files give the same
 * digest, whatever their times, owners or group/other bits, from a directory or a .tar.gz made by
 * GNU tar), a valid image to skopeo (which checks every digest while copying an OCI layout), and
 * unpacked by the image store into the source's files at the root.
 */
import assert from 'node:assert/strict';
import { chmodSync, chownSync, cpSync, createReadStream, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { HOST_BASE_LABEL, ImageStore, oneLayerImage } from '../../src/images/index.js';
import { isStarlingError } from '../../src/shared/index.js';
import { run, sha256 } from '../helpers/layers.js';

const work = mkdtempSync(join(tmpdir(), 'starling-one-layer-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** An app directory: a script, a private file, a subdirectory, a symlink. */
function app(dir: string): string {
  mkdirSync(join(dir, 'lib/deep'), { recursive: true });
  writeFileSync(join(dir, 'server.sh'), '#!/bin/sh\necho hi\n');
  chmodSync(join(dir, 'server.sh'), 0o700);
  writeFileSync(join(dir, 'lib/deep/data.json'), '{"a":1}');
  chmodSync(join(dir, 'lib/deep/data.json'), 0o600);
  writeFileSync(join(dir, 'README'), 'readme');
  symlinkSync('lib/deep/data.json', join(dir, 'data'));
  return dir;
}

describe('oneLayerImage', () => {
  it('gives the same digest for the same files, from a directory twice, a touched copy, and a .tar.gz', async () => {
    const src = app(join(work, 'src'));
    const first = await oneLayerImage(src, join(work, 'out-1'));
    const again = await oneLayerImage(src, join(work, 'out-2'));
    assert.equal(again.digest, first.digest);
    assert.deepEqual(again.manifest, first.manifest);
    assert.deepEqual(readFileSync(again.layer.file), readFileSync(first.layer.file));

    const copy = join(work, 'copy');
    cpSync(src, copy, { recursive: true, verbatimSymlinks: true });
    utimesSync(join(copy, 'README'), 12345, 12345);
    chownSync(join(copy, 'lib/deep/data.json'), 1000, 1000);
    chmodSync(join(copy, 'README'), 0o664); // group write is normalised away
    assert.equal((await oneLayerImage(copy, join(work, 'out-3'))).digest, first.digest);

    const tgz = join(work, 'app.tar.gz');
    await run('tar', ['-czf', tgz, '-C', src, '.']);
    assert.equal((await oneLayerImage(tgz, join(work, 'out-4'))).digest, first.digest);

    writeFileSync(join(copy, 'README'), 'changed');
    assert.notEqual((await oneLayerImage(copy, join(work, 'out-5'))).digest, first.digest);
  });

  it('is an OCI image with the host-base label whose digests hold (skopeo copies it), and unpacks to the source', async () => {
    const src = app(join(work, 'src-2'));
    const img = await oneLayerImage(src, join(work, 'out-6'));
    const manifest = JSON.parse(img.manifest.toString()) as { mediaType: string; config: { digest: string; size: number }; layers: { mediaType: string; digest: string; size: number }[] };
    assert.equal(manifest.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.deepEqual(manifest.config, { mediaType: 'application/vnd.oci.image.config.v1+json', digest: img.config.digest, size: img.config.bytes.length });
    assert.deepEqual(manifest.layers, [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: img.layer.digest, size: img.layer.size }]);
    assert.equal(img.digest, sha256(img.manifest));
    assert.equal(img.layer.digest, sha256(readFileSync(img.layer.file)));
    assert.equal(img.layer.diffId, sha256(gunzipSync(readFileSync(img.layer.file))));
    const config = JSON.parse(img.config.bytes.toString()) as { os: string; architecture: string; config: { Labels: Record<string, string> }; rootfs: { type: string; diff_ids: string[] } };
    assert.deepEqual([config.os, config.architecture, config.config.Labels], ['linux', 'amd64', { [HOST_BASE_LABEL]: 'host' }]);
    assert.deepEqual(config.rootfs, { type: 'layers', diff_ids: [img.layer.diffId] });

    // An OCI layout of it, copied by skopeo (which verifies each blob against its digest).
    const layout = join(work, 'layout');
    mkdirSync(join(layout, 'blobs/sha256'), { recursive: true });
    writeFileSync(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    writeFileSync(join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: manifest.mediaType, digest: img.digest, size: img.manifest.length }] }));
    writeFileSync(join(layout, 'blobs/sha256', img.digest.slice(7)), img.manifest);
    writeFileSync(join(layout, 'blobs/sha256', img.config.digest.slice(7)), img.config.bytes);
    cpSync(img.layer.file, join(layout, 'blobs/sha256', img.layer.digest.slice(7)));
    await run('skopeo', ['copy', `oci:${layout}`, `dir:${join(work, 'skopeo-dir')}`]);
    const inspected = JSON.parse(await run('skopeo', ['inspect', '--config', `oci:${layout}`])) as { config: { Labels: Record<string, string> } };
    assert.equal(inspected.config.Labels[HOST_BASE_LABEL], 'host');

    const store = new ImageStore(join(work, 'images'));
    await store.putBlob(img.layer.digest, createReadStream(img.layer.file), { size: img.layer.size });
    const root = await store.rootfs(img.digest, manifest.layers, { uidShift: 0 });
    assert.equal(readFileSync(join(root, 'lib/deep/data.json'), 'utf8'), '{"a":1}');
    assert.equal(readlinkSync(join(root, 'data')), 'lib/deep/data.json');
    assert.equal(lstatSync(join(root, 'server.sh')).mode & 0o777, 0o755);
    assert.equal(lstatSync(join(root, 'lib/deep/data.json')).mode & 0o777, 0o644);
    assert.equal(lstatSync(join(root, 'README')).mtimeMs, 0);
  });

  it('refuses what is neither a directory nor a .tar.gz, and a tarball with unsafe entries', async () => {
    writeFileSync(join(work, 'app.zip'), 'PK');
    await assert.rejects(oneLayerImage(join(work, 'app.zip'), join(work, 'out-7')), (e: unknown) => isStarlingError(e, 'ERR_IMAGE_UNSUPPORTED'));
    await assert.rejects(oneLayerImage(join(work, 'absent'), join(work, 'out-7')), (e: unknown) => isStarlingError(e, 'ERR_IMAGE_NOT_FOUND'));
    const evil = join(work, 'evil');
    mkdirSync(evil);
    writeFileSync(join(evil, 'x'), 'x');
    await run('tar', ['-czf', join(work, 'evil.tar.gz'), '-C', evil, '--transform', 's,^\\./x,../../x,', '-P', './x']);
    await assert.rejects(oneLayerImage(join(work, 'evil.tar.gz'), join(work, 'out-8')), (e: unknown) => isStarlingError(e, 'ERR_IMAGE_UNSAFE'));
  });
});
