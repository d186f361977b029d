/**
 * Images, for now: a directory or a `.tar.gz` holding the app, content-addressed by sha256 and
 * cached per host under `cacheDir/<hex>`. A cache entry appears by rename(2) of a complete copy, so
 * an existing entry is always whole; concurrent preparations of one image race harmlessly.
 *
 * Digests: of a tarball, its bytes (what `sha256sum` prints); of a directory, a deterministic walk —
 * for each entry in sorted order its relative path, type, permission bits and content hash (or link
 * target). Timestamps and owners are left out: they differ between copies of the same app.
 *
 * Modes: machines run as unprivileged host uids (the sandbox's user namespace) and read the image
 * through a bind mount, so a cached image must be readable by others: after unpacking or copying,
 * every file gets o+r (and o+x where its owner has x), every directory o+rx, and no entry keeps
 * group/other write, setuid or setgid. The cache directory itself is 0711 (walkable, not
 * listable). A directory image's digest is that of the normalized copy.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, cp, lstat, mkdir, mkdtemp, readdir, readlink, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { StarlingError } from '../shared/index.js';

export interface PreparedImage {
  /** The unpacked image, read-only by convention (drivers mount it read-only). */
  dir: string;
  /** `sha256:<hex>`. */
  digest: string;
  /** What was asked for, as given. */
  ref: string;
}

export async function prepareImage(ref: string, cacheDir: string): Promise<PreparedImage> {
  const source = resolve(ref);
  const st = await stat(source).catch((e: unknown) => {
    throw new StarlingError('ERR_IMAGE_NOT_FOUND', `image ${ref} does not exist`, {
      fault: 'user',
      cause: e,
      hint: 'give a directory holding the app or a .tar.gz of it',
    });
  });
  if (await mkdir(cacheDir, { recursive: true })) await chmod(cacheDir, 0o711);
  if (st.isDirectory()) return fromDirectory(ref, source, cacheDir);
  if (st.isFile() && /\.(tar\.gz|tgz)$/.test(source)) return fromTarball(ref, source, cacheDir);
  throw new StarlingError('ERR_IMAGE_UNSUPPORTED', `image ${ref} is neither a directory nor a .tar.gz`, { fault: 'user' });
}

async function fromTarball(ref: string, tarball: string, cacheDir: string): Promise<PreparedImage> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(tarball), hash);
  const hex = hash.digest('hex');
  const dir = join(cacheDir, hex);
  if (await exists(dir)) return { dir, digest: `sha256:${hex}`, ref };
  const tmp = await mkdtemp(join(cacheDir, '.unpack-'));
  try {
    const root = join(tmp, 'image');
    await mkdir(root);
    // GNU tar strips leading "/" and refuses ".." members; owners are not carried over.
    await run('tar', ['-xzf', tarball, '-C', root, '--no-same-owner'], ref);
    await readableByAll(root);
    await publish(root, dir);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return { dir, digest: `sha256:${hex}`, ref };
}

async function fromDirectory(ref: string, source: string, cacheDir: string): Promise<PreparedImage> {
  const hex = await treeDigest(source);
  const cached = join(cacheDir, hex);
  if (await exists(cached)) return { dir: cached, digest: `sha256:${hex}`, ref };
  const tmp = await mkdtemp(join(cacheDir, '.copy-'));
  try {
    const root = join(tmp, 'image');
    await cp(source, root, { recursive: true, verbatimSymlinks: true, errorOnExist: true });
    await readableByAll(root);
    // The copy is what gets cached, so name it by its own digest: if the source changed while it
    // was copied, the entry still matches its name.
    const copied = await treeDigest(root);
    const dir = join(cacheDir, copied);
    if (!(await exists(dir))) await publish(root, dir);
    return { dir, digest: `sha256:${copied}`, ref };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** sha256 over the sorted walk of `root` (entries below it; the root's own metadata is not part). */
export async function treeDigest(root: string): Promise<string> {
  const hash = createHash('sha256');
  const walk = async (rel: string): Promise<void> => {
    const names = (await readdir(join(root, rel))).sort();
    for (const name of names) {
      const path = rel ? `${rel}/${name}` : name;
      const full = join(root, path);
      const st = await lstat(full);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isDirectory()) {
        hash.update(`d ${mode} ${path}\0`);
        await walk(path);
      } else if (st.isFile()) {
        const file = createHash('sha256');
        await pipeline(createReadStream(full), file);
        hash.update(`f ${mode} ${path}\0${file.digest('hex')}\n`);
      } else if (st.isSymbolicLink()) {
        hash.update(`l ${path}\0${await readlink(full)}\n`);
      } else {
        throw new StarlingError('ERR_IMAGE_UNSUPPORTED', `image entry ${path} is not a file, directory or symlink`, { fault: 'user' });
      }
    }
  };
  await walk('');
  return hash.digest('hex');
}

/** The modes a cached image has (see the top); symlinks have none of their own. */
async function readableByAll(root: string): Promise<void> {
  const fix = async (path: string, isDir: boolean, mode: number): Promise<void> => {
    const keep = mode & 0o1755; // drops setuid, setgid and group/other write
    const want = isDir ? keep | 0o555 : keep | 0o444 | (mode & 0o100 ? 0o111 : 0);
    if (want !== (mode & 0o7777)) await chmod(path, want);
  };
  const walk = async (dir: string): Promise<void> => {
    for (const name of await readdir(dir)) {
      const p = join(dir, name);
      const st = await lstat(p);
      if (st.isSymbolicLink()) continue;
      await fix(p, st.isDirectory(), st.mode);
      if (st.isDirectory()) await walk(p);
    }
  };
  await chmod(root, 0o755);
  await walk(root);
}

/** Atomic publish: rename a complete tree into place; losing a race to an identical tree is fine. */
async function publish(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if ((code === 'ENOTEMPTY' || code === 'EEXIST') && (await exists(to))) return;
    throw new StarlingError('ERR_IMAGE_CACHE', `cannot publish image into ${to}: ${(e as Error).message}`, { cause: e });
  }
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

function run(cmd: string, args: string[], ref: string): Promise<void> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d.slice(0, 4000)));
    child.on('error', (e) => reject(new StarlingError('ERR_IMAGE_UNPACK', `cannot run ${cmd}: ${e.message}`, { cause: e, hint: 'install GNU tar' })));
    child.on('close', (code) => {
      if (code === 0) resolveRun();
      else reject(new StarlingError('ERR_IMAGE_UNPACK', `cannot unpack image ${ref}: ${stderr.trim() || `${cmd} exited ${code}`}`, { fault: 'user' }));
    });
  });
}
