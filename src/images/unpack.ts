/**
 * Applies one layer onto a rootfs being built. node-tar only parses; every write is ours, so every
 * write is checked (./tar-safety.ts decides, this file does): parents are walked with lstat and a
 * symlink among them is refused (never followed), files are created with O_EXCL after whatever was
 * there is removed, directory modes and times are applied at the end through O_NOFOLLOW handles.
 * Only the caller's target is written; it should be a private temporary directory (the store's
 * `.tmp/`), so nothing else races these checks.
 */
import { constants, createReadStream } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { chmod, lchown, link, lstat, lutimes, mkdir, open, readdir, rmdir, symlink, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createZstdDecompress } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import { isStarlingError, StarlingError } from '../shared/index.js';
import { ancestors, type EntryPlan, layerCompression, OPAQUE_WHITEOUT, planEntry } from './tar-safety.js';

const WRITE_BATCH = 1 << 20;

export interface UnpackOptions {
  /** Added to every uid and gid of the layer (the app's first host uid). */
  uidShift: number;
  /** Most file bytes this layer may write (uncompressed); ERR_IMAGE_TOO_LARGE beyond. */
  maxBytes?: number | undefined;
  /** Ignore the layer's owners (all become uidShift): for a user's tarball, whose ids mean nothing here. */
  dropOwners?: boolean | undefined;
}

export async function unpackLayer(file: string, mediaType: string, target: string, o: UnpackOptions): Promise<{ bytes: number }> {
  const compression = layerCompression(mediaType);
  let fail!: (e: unknown) => void;
  const failed = new Promise<never>((_, reject) => (fail = reject));
  failed.catch(() => undefined);
  const layer = new Layer(target, o, failed);
  // zstd and brotli sniffing off: the media type says what the bytes are (gzip sniffing cannot be).
  const parser = new Parser({ brotli: false, zstd: false });
  let failure: unknown;
  const stop = (e: unknown): void => {
    failure ??= e;
    fail(failure); // wakes the writer below and an entry waiting for bytes that will not come
  };
  let chain: Promise<void> = Promise.resolve();
  parser.on('entry', (entry: ReadEntry) => {
    chain = chain
      .then(() => (failure === undefined ? layer.apply(entry) : undefined))
      .catch(stop)
      .finally(() => entry.resume());
  });
  parser.on('ignoredEntry', (entry: ReadEntry) => {
    const why = entry.meta ? 'its extended header is too large' : `its tar type ${entry.type} is not one Starling unpacks`;
    stop(new StarlingError('ERR_IMAGE_UNPACK', `layer entry ${JSON.stringify(entry.path)} refused: ${why}`, { fault: 'user' }));
  });
  // Every warning is fatal (a checksum, a truncation), but one: an archive of nothing but zero
  // blocks (or no bytes) is the empty layer Docker writes for ENV or LABEL steps.
  let onlyZeros = true;
  parser.on('warn', (code: string, message: string) => {
    if (!(code === 'TAR_BAD_ARCHIVE' && /^Unrecognized archive format/.test(message) && onlyZeros)) stop(corrupt(file, new Error(`${code}: ${message}`)));
  });
  parser.on('error', (e: Error) => stop(corrupt(file, e)));
  const ended = new Promise<void>((resolve) => parser.on('end', resolve));
  const chunkSize = 1 << 18;
  const decompress: Transform = compression === 'gzip' ? createGunzip({ chunkSize }) : compression === 'zstd' ? createZstdDecompress({ chunkSize }) : new PassThrough();
  const input = createReadStream(file, { highWaterMark: chunkSize });
  // The writer below may be waiting for the parser to drain: a failing source must wake it.
  input.on('error', stop);
  decompress.on('error', (e: Error) => {
    stop(new StarlingError('ERR_IMAGE_UNPACK', `layer ${file} does not decompress as ${compression}: ${e.message}`, { fault: 'user', cause: e }));
  });
  try {
    await pipeline(input, decompress, async (source: AsyncIterable<Buffer>) => {
      for await (const chunk of source) {
        if (failure !== undefined) break;
        if (onlyZeros && chunk.some((b) => b !== 0)) onlyZeros = false;
        if (!parser.write(chunk)) await Promise.race([new Promise((resolve) => parser.once('drain', resolve)), failed]);
      }
      if (failure === undefined) parser.end();
    });
    await Promise.race([ended, failed]);
    await chain;
    if (failure !== undefined) throw fsError(failure, file);
    await layer.finish();
  } catch (e) {
    stop(e);
    await chain; // nothing may still be writing into target when the caller cleans it up
    throw fsError(failure, file);
  }
  return { bytes: layer.bytes };
}

function corrupt(file: string, e: Error): StarlingError {
  if (isStarlingError(e)) return e;
  return new StarlingError('ERR_IMAGE_UNPACK', `layer ${file} is not a valid tar archive: ${e.message}`, { fault: 'user', cause: e });
}

/** Errors as the store reports them: disk full, a corrupt stream, or the file system's own. */
export function fsError(e: unknown, what: string): StarlingError {
  if (isStarlingError(e)) return e;
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new StarlingError('ERR_IMAGE_DISK_FULL', `no space left while writing ${what}`, { cause: e, hint: 'free disk space under the data dir, or let the image store collect unused images' });
  }
  return new StarlingError('ERR_IMAGE_UNPACK', `cannot write ${what}: ${(e as Error).message}`, { cause: e });
}

class Layer {
  bytes = 0;
  /** Paths this layer wrote or walked through: whiteouts in it never hide them. */
  readonly #added = new Set<string>();
  /** Directories that existed below and that this layer merged into: opaque ones are pruned. */
  readonly #merged = new Set<string>();
  readonly #dirs = new Map<string, { mode: number; mtime: Date | undefined }>();

  constructor(
    readonly root: string,
    readonly o: UnpackOptions,
    /** Rejects when the unpack fails elsewhere (the source, the parser). */
    readonly failed: Promise<never>,
  ) {}

  #full(path: string): string {
    return path === '' ? this.root : join(this.root, path);
  }

  async apply(entry: ReadEntry): Promise<void> {
    const header = this.o.dropOwners ? { path: entry.path, type: entry.type, mode: entry.mode, linkpath: entry.linkpath } : entry;
    const plan: EntryPlan = planEntry(header, this.o.uidShift);
    if (plan.op === 'skip') return;
    if (plan.op === 'opaque') {
      await this.#parents(plan.dir === '' ? OPAQUE_WHITEOUT : `${plan.dir}/${OPAQUE_WHITEOUT}`, entry.path, true);
      return this.#pruneLower(plan.dir);
    }
    if (plan.op === 'whiteout') {
      if (!(await this.#parents(plan.path, entry.path, false))) return;
      if (!this.#added.has(plan.path)) await removeTree(this.#full(plan.path));
      else if (this.#merged.has(plan.path)) await this.#pruneLower(plan.path);
      return;
    }
    await this.#parents(plan.path, entry.path, true);
    const full = this.#full(plan.path);
    const existing = await lstat(full).catch(() => undefined);
    if (plan.op === 'dir') {
      if (existing?.isDirectory()) {
        if (!this.#added.has(plan.path)) this.#merged.add(plan.path);
      } else {
        if (existing) await removeTree(full);
        await mkdir(full, { mode: 0o700 });
      }
      await lchown(full, plan.uid, plan.gid);
      this.#dirs.set(plan.path, { mode: plan.mode, mtime: entry.mtime });
    } else {
      if (existing) await removeTree(full);
      this.#merged.delete(plan.path);
      if (plan.op === 'file') await this.#file(entry, full, plan);
      else if (plan.op === 'symlink') {
        await symlink(plan.target, full);
        await lchown(full, plan.uid, plan.gid);
        if (entry.mtime) await lutimes(full, entry.mtime, entry.mtime);
      } else {
        if (!(await this.#parents(plan.target, entry.path, false))) throw unsafe(entry.path, `its target ${plan.target} is not in the layers so far`);
        const st = await lstat(this.#full(plan.target)).catch(() => undefined);
        if (!st || st.isDirectory()) throw unsafe(entry.path, `its target ${plan.target} is ${st ? 'a directory' : 'missing'}`);
        await link(this.#full(plan.target), full); // link(2) does not follow a symlink target
      }
    }
    this.#added.add(plan.path);
  }

  async #file(entry: ReadEntry, full: string, plan: { mode: number; uid: number; gid: number }): Promise<void> {
    const max = this.o.maxBytes;
    if (max !== undefined && this.bytes + entry.size > max) throw tooLarge(entry.path, max);
    const fh = await open(full, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      const body = (entry as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
      // The parser hands out pieces of ~1 KiB: gather them, one write(2) per WRITE_BATCH.
      let batch: Buffer[] = [];
      let batched = 0;
      for (;;) {
        const next = await Promise.race([body.next(), this.failed]);
        if (!next.done) {
          this.bytes += next.value.length;
          if (max !== undefined && this.bytes > max) throw tooLarge(entry.path, max);
          batch.push(next.value);
          batched += next.value.length;
        }
        if (batched > 0 && (next.done || batched >= WRITE_BATCH)) {
          await writeAll(fh, batch.length === 1 ? batch[0]! : Buffer.concat(batch, batched));
          [batch, batched] = [[], 0];
        }
        if (next.done) break;
      }
      await fh.chown(plan.uid, plan.gid);
      await fh.chmod(plan.mode);
      if (entry.mtime) await fh.utimes(entry.mtime, entry.mtime);
    } finally {
      await fh.close();
    }
  }

  /**
   * Walks the parents of `path` with lstat: a symlink among them is refused, a missing one is made
   * (when `create`; otherwise false is returned). Existing directories become merged ones.
   */
  async #parents(path: string, entry: string, create: boolean): Promise<boolean> {
    // Every ancestor is looked at each time: one this layer made may since have become a symlink.
    for (const dir of ancestors(path)) {
      const st = await lstat(this.#full(dir)).catch(() => undefined);
      if (st?.isSymbolicLink()) throw unsafe(entry, `its parent ${dir} is a symlink`);
      if (st && !st.isDirectory()) throw new StarlingError('ERR_IMAGE_UNPACK', `layer entry ${JSON.stringify(entry)}: its parent ${dir} is not a directory`, { fault: 'user' });
      if (st) {
        if (!this.#added.has(dir)) this.#merged.add(dir);
      } else if (!create) return false;
      else {
        await mkdir(this.#full(dir), { mode: 0o755 });
        await lchown(this.#full(dir), this.o.uidShift, this.o.uidShift);
      }
      this.#added.add(dir);
    }
    return true;
  }

  async #pruneLower(dir: string): Promise<void> {
    // Its parent is a checked directory; it may itself have become a symlink since it was merged.
    if (!(await lstat(this.#full(dir))).isDirectory()) return;
    for (const name of await readdir(this.#full(dir))) {
      const child = dir === '' ? name : `${dir}/${name}`;
      if (!this.#added.has(child)) await removeTree(this.#full(child));
      else if (this.#merged.has(child)) await this.#pruneLower(child);
    }
  }

  /** Directory modes and times, last: a read-only directory must not stop the entries below it. */
  async finish(): Promise<void> {
    for (const [path, { mode, mtime }] of [...this.#dirs].reverse()) {
      if (!(await this.#stillDir(path))) continue; // replaced later in this layer
      const fh = await open(this.#full(path), constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
      try {
        await fh.chmod(mode);
        if (mtime) await fh.utimes(mtime, mtime);
      } finally {
        await fh.close();
      }
    }
  }

  async #stillDir(path: string): Promise<boolean> {
    for (const p of [...ancestors(path), path]) {
      if (p === '') continue;
      const st = await lstat(this.#full(p)).catch(() => undefined);
      if (!st?.isDirectory()) return false;
    }
    return true;
  }
}

function unsafe(entry: string, reason: string): StarlingError {
  return new StarlingError('ERR_IMAGE_UNSAFE', `layer entry ${JSON.stringify(entry)} refused: ${reason}`, { fault: 'user' });
}

function tooLarge(entry: string, max: number): StarlingError {
  return new StarlingError('ERR_IMAGE_TOO_LARGE', `layer entry ${JSON.stringify(entry)} goes past the ${max} bytes this layer may write`, { fault: 'user', hint: 'make the image smaller, or raise the unpacked-size limit' });
}

/**
 * Removes a file or a whole tree without following symlinks; directories are made writable first
 * (an image may hold read-only ones, which stop a non-root caller). Missing is fine. Returns the
 * bytes of the regular files removed.
 */
export async function removeTree(path: string): Promise<number> {
  const st = await lstat(path).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw e;
  });
  if (!st) return 0;
  if (!st.isDirectory()) {
    await unlink(path);
    return st.isFile() && st.nlink === 1 ? st.size : 0;
  }
  if ((st.mode & 0o700) !== 0o700) await chmod(path, 0o700);
  let bytes = 0;
  for (const name of await readdir(path)) bytes += await removeTree(join(path, name));
  await rmdir(path);
  return bytes;
}

/** write(2) may write less than asked (a disk filling up does that before ENOSPC): loop. */
export async function writeAll(fh: FileHandle, data: Uint8Array): Promise<void> {
  for (let off = 0; off < data.length; ) off += (await fh.write(data, off, data.length - off)).bytesWritten;
}
