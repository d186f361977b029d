/**
 * What `starling deploy --image` uploads: a .tar.gz as given, or a directory packed into one. The
 * packing is deterministic (sorted names, fixed times and owners, gzip without a timestamp), so
 * the same directory gives the same digest and an unchanged app is not uploaded twice.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { StarlingError } from '../../../shared/index.js';

export interface PackedImage {
  /** The .tar.gz to upload. */
  file: string;
  digest: string;
  size: number;
  /** Removes a temporary tarball (a no-op for one the user gave). */
  cleanup(): Promise<void>;
}

export async function packImage(ref: string): Promise<PackedImage> {
  const source = resolve(ref);
  const st = await stat(source).catch((e: unknown) => {
    throw new StarlingError('ERR_IMAGE_NOT_FOUND', `image ${ref} does not exist`, { fault: 'user', cause: e, hint: 'give --image a directory holding the app, or a .tar.gz of it' });
  });
  if (st.isFile()) {
    if (!/\.(tar\.gz|tgz)$/.test(source)) throw new StarlingError('ERR_IMAGE_UNSUPPORTED', `image ${ref} is neither a directory nor a .tar.gz`, { fault: 'user' });
    return { file: source, ...(await hashFile(source)), cleanup: async () => undefined };
  }
  if (!st.isDirectory()) throw new StarlingError('ERR_IMAGE_UNSUPPORTED', `image ${ref} is neither a directory nor a .tar.gz`, { fault: 'user' });
  const dir = await mkdtemp(join(tmpdir(), 'starling-image-'));
  const file = join(dir, 'image.tar.gz');
  const cleanup = (): Promise<void> => rm(dir, { recursive: true, force: true });
  try {
    await run('tar', ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '-C', source, '-cf', '-', '.'], file);
    return { file, ...(await hashFile(file)), cleanup };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

async function hashFile(file: string): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return { digest: `sha256:${hash.digest('hex')}`, size: (await stat(file)).size };
}

/** `tar … | gzip -n > out`: gzip -n leaves the name and time out of the header. */
function run(cmd: string, args: string[], out: string): Promise<void> {
  return new Promise((resolveRun, reject) => {
    const tar = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const gz = spawn('sh', ['-c', 'gzip -n -6 > "$1"', 'gzip', out], { stdio: ['pipe', 'ignore', 'pipe'] });
    tar.stdout.pipe(gz.stdin);
    let err = '';
    tar.stderr.on('data', (d: Buffer) => (err += d.toString()));
    gz.stderr.on('data', (d: Buffer) => (err += d.toString()));
    let left = 2;
    let failed = false;
    const done = (code: number | null): void => {
      if (code !== 0) failed = true;
      if (--left > 0) return;
      if (failed) reject(new StarlingError('ERR_IMAGE_PACK', `packing the image failed: ${err.trim().slice(0, 500)}`, { fault: 'user' }));
      else resolveRun();
    };
    tar.on('error', reject).on('close', done);
    gz.on('error', reject).on('close', done);
  });
}
