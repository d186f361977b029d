/**
 * The quick-start form as an OCI image: a directory or a `.tar.gz` becomes one tar+gzip layer
 * holding its files at the layer root, with a config labelled `dev.starling.base=host` (such an
 * image runs as today: the layer read-only at /app, the host's /usr).
 *
 * Deterministic, so the same app gives the same digest on every machine: entries in sorted order
 * (each directory before what it holds), mtime 0, owners 0 with no names, modes normalised as
 * src/runtime/images.ts normalises its cache (readable by all; no group/other write, setuid or
 * setgid) plus u+rw (node-tar's portable mode), no build time in the config. A `.tar.gz` is
 * first unpacked with the same checks as any layer (owners dropped), so its names are safe too.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, cp, lstat, mkdir, mkdtemp, readdir, rename, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { create } from 'tar';
import { StarlingError } from '../shared/index.js';
import { quickStartMode } from './tar-safety.js';
import { imageOfLayer, type LayerImage } from './layer-image.js';
import { MEDIA_TYPES } from './manifest.js';
import { fsError, removeTree, unpackLayer } from './unpack.js';

/** Builds the image; its layer is written to `<outDir>/layer.tar.gz` (replacing one there). */
export async function oneLayerImage(source: string, outDir: string): Promise<LayerImage> {
  const from = resolve(source);
  const st = await stat(from).catch((e: unknown) => {
    throw new StarlingError('ERR_IMAGE_NOT_FOUND', `image ${source} does not exist`, { fault: 'user', cause: e, hint: 'give a directory holding the app or a .tar.gz of it' });
  });
  const tarball = st.isFile() && /\.(tar\.gz|tgz)$/.test(from);
  if (!st.isDirectory() && !tarball) {
    throw new StarlingError('ERR_IMAGE_UNSUPPORTED', `image ${source} is neither a directory nor a .tar.gz`, { fault: 'user' });
  }
  await mkdir(outDir, { recursive: true });
  const work = await mkdtemp(join(outDir, '.one-layer-'));
  try {
    const root = join(work, 'root');
    if (tarball) {
      await mkdir(root);
      await unpackLayer(from, MEDIA_TYPES.ociLayerGzip, root, { uidShift: 0, dropOwners: true });
    } else {
      await cp(from, root, { recursive: true, verbatimSymlinks: true, errorOnExist: true });
    }
    const paths = await normalise(root);
    if (paths.length === 0) throw new StarlingError('ERR_IMAGE_UNSUPPORTED', `image ${source} is empty`, { fault: 'user' });
    const partial = join(work, 'layer.tar.gz');
    const diff = createHash('sha256');
    const packed = createHash('sha256');
    let size = 0;
    const tarStream = create({ cwd: root, portable: true, mtime: new Date(0), noDirRecurse: true, gzip: false }, paths);
    await pipeline(
      tarStream as unknown as NodeJS.ReadableStream,
      tee((c) => diff.update(c)),
      createGzip({ level: 9 }),
      tee((c) => {
        packed.update(c);
        size += c.length;
      }),
      createWriteStream(partial, { flags: 'wx', mode: 0o644 }),
    );
    const file = join(outDir, 'layer.tar.gz');
    await rename(partial, file);
    const layer = { file, digest: `sha256:${packed.digest('hex')}`, diffId: `sha256:${diff.digest('hex')}`, size };
    return imageOfLayer(layer);
  } catch (e) {
    throw fsError(e, `the image of ${source}`);
  } finally {
    await removeTree(work);
  }
}

/** Fixes the copy's modes and lists its entries in layer order: sorted, parents first. */
async function normalise(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await readdir(join(root, rel))).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      const full = join(root, path);
      const st = await lstat(full);
      if (st.isSymbolicLink()) {
        out.push(path);
        continue;
      }
      if (!st.isDirectory() && !st.isFile()) {
        throw new StarlingError('ERR_IMAGE_UNSUPPORTED', `image entry ${path} is not a file, directory or symlink`, { fault: 'user' });
      }
      const want = quickStartMode(st.mode, st.isDirectory());
      if (want !== (st.mode & 0o7777)) await chmod(full, want);
      out.push(path);
      if (st.isDirectory()) await walk(path);
    }
  };
  await walk('');
  return out;
}

function tee(see: (chunk: Buffer) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback) {
      see(chunk);
      done(null, chunk);
    },
  });
}

