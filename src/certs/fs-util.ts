/**
 * File helpers for the file-backed certificate store: atomic writes of secret files, private
 * directories, and reads that treat a missing file as "not there".
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { StarlingError, describeError } from '../shared/index.js';

/** Temporary files start with a dot: readers skip dot-files, and no valid stored name has one. */
export function isTempName(name: string): boolean {
  return name.startsWith('.');
}

/**
 * Writes `data` to `path` so that readers (in this process or another) see the old content or the
 * new, never a torn file: a temporary file in the same directory, created 0600 (before any byte
 * is written), fsynced, then renamed over the target; then the directory is fsynced so the
 * rename itself survives a crash.
 */
export async function writeAtomic(path: string, data: string): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let fh: FileHandle | undefined;
  try {
    fh = await open(tmp, 'wx', 0o600);
    await fh.chmod(0o600); // the mode given to open() is reduced by the umask; this is not
    await fh.writeFile(data, 'utf8');
    await fh.sync();
    await fh.close();
    fh = undefined;
    await rename(tmp, path);
  } catch (e) {
    await fh?.close().catch(() => undefined);
    await rm(tmp, { force: true }).catch(() => undefined);
    throw new StarlingError('ERR_CERT_WRITE', `cannot write ${path}: ${describeError(e)}`, { cause: e });
  }
  await syncDir(dir);
}

/** fsync on a directory makes a rename in it durable (Linux); other systems may refuse, harmlessly. */
async function syncDir(dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch {
    // EISDIR/EPERM/EINVAL on platforms that cannot fsync a directory: the rename is still atomic.
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

/** Creates `path` (and missing parents) with mode 0700, and sets 0700 on it if it already existed. */
export async function ensurePrivateDir(path: string): Promise<void> {
  try {
    await mkdir(path, { recursive: true, mode: 0o700 });
    await chmod(path, 0o700);
  } catch (e) {
    throw new StarlingError('ERR_CERT_WRITE', `cannot create directory ${path}: ${describeError(e)}`, { cause: e });
  }
}

/** Reads a UTF-8 file; undefined when it does not exist. */
export async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new StarlingError('ERR_CERT_READ', `cannot read ${path}: ${describeError(e)}`, { cause: e });
  }
}

/** Deletes a file; false when it was not there. */
export async function removeOptional(path: string): Promise<boolean> {
  try {
    await rm(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new StarlingError('ERR_CERT_WRITE', `cannot remove ${path}: ${describeError(e)}`, { cause: e });
  }
}

/**
 * Maps with at most `limit` calls in flight: reading 100,000 certificate files at once would run
 * out of file descriptors.
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
