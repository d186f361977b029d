/**
 * The host image store as the agent wires it (src/agent/images.ts): a quick-start image is
 * prepared as its unpacked layer; a stored image's root filesystem is unpacked per uid shift; the
 * hourly collection removes an image no machine has used for `image_gc_after` — its unpacked trees
 * and its blobs — and never one a machine uses, however old.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { openHostImages } from '../../src/agent/images.js';
import { layerImage } from '../../src/images/index.js';
import { ManualClock, silentLogger } from '../../src/shared/index.js';
import { waitFor } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'starling-agent-images-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const HOUR = 3600_000;

/** A quick-start image of one file, its blobs put in the store; its manifest digest. */
async function image(images: Awaited<ReturnType<typeof openHostImages>>, name: string): Promise<{ digest: string; blobs: string[] }> {
  const src = join(dir, `src-${name}`);
  mkdirSync(src, { recursive: true });
  writeFileSync(join(src, 'server.mjs'), `// ${name}\n`);
  const tgz = join(dir, `${name}.tar.gz`);
  execFileSync('tar', ['-czf', tgz, '-C', src, '.']);
  const img = await layerImage(tgz);
  await images.store.putBlob(img.layer.digest, createReadStream(tgz), { size: img.layer.size });
  await images.store.putBlob(img.config.digest, Readable.from([img.config.bytes]));
  await images.store.putBlob(img.digest, Readable.from([img.manifest]));
  return { digest: img.digest, blobs: [img.digest, img.config.digest, img.layer.digest] };
}

describe('the host image store in the agent', () => {
  it('prepares quick-start images, unpacks per shift, and collects only what no machine uses', async () => {
    const clock = new ManualClock();
    const images = await openHostImages({ dataDir: dir, maxImageBytes: 1 << 30, gcAfterMs: 2 * HOUR, clock, logger: silentLogger });
    const used = await image(images, 'used');
    const idle = await image(images, 'idle');
    const prepared = await images.prepare(used.digest);
    assert.equal(prepared.base, 'host');
    assert.equal(readFileSync(join(prepared.dir, 'server.mjs'), 'utf8'), '// used\n');
    const idleRoot = await images.rootfs(idle.digest, 0x70000000);
    assert.match(idleRoot, /-1879048192$/, 'one tree per uid shift');
    images.startGc(() => [used.digest]);
    clock.advance(3 * HOUR);
    await waitFor(() => !existsSync(idleRoot), 'the idle image to be collected', 10_000, 20);
    for (const b of idle.blobs) await waitFor(async () => !(await images.store.hasBlob(b)), `blob ${b} of the idle image to go`, 10_000, 20);
    assert.ok(existsSync(prepared.dir), 'the image a machine uses stays, however old');
    for (const b of used.blobs) assert.ok(await images.store.hasBlob(b), `blob ${b} of the used image stays`);
    images.stop();
  });

  it('an image that is not in the store is an error that says the reconciler pulls first', async () => {
    const images = await openHostImages({ dataDir: join(dir, 'other'), maxImageBytes: 1 << 30, gcAfterMs: HOUR, clock: new ManualClock(), logger: silentLogger });
    await assert.rejects(images.prepare(`sha256:${'0'.repeat(64)}`), (e: Error & { code?: string }) => e.code === 'ERR_IMAGE_NOT_FOUND');
  });
});
