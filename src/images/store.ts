/**
 * The host image store, `<data_dir>/images/` (docs: images-plan, "Host image store"):
 *   blobs/sha256/<hex>            layers, configs, manifests, shared by every app on the host;
 *   rootfs/<manifest-hex>-<shift>/ an image unpacked with its owners shifted by one app's first uid;
 *   meta/<manifest-hex>.json      the blobs an unpacked image uses and when it was last used;
 *   .tmp/                         work in progress, emptied by cleanTmp() at start.
 * Everything appears by rename(2) of something complete, so a crash leaves only `.tmp/` junk.
 * Garbage collection and the short publishing steps of rootfs() take one in-process lock; the
 * unpacking itself runs outside it, with its image and blobs pinned against collection.
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, lchown, lstat, mkdir, mkdtemp, open, readdir, readFile, rename, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isStarlingError, StarlingError } from '../shared/index.js';
import type { Descriptor } from './types.js';
import { MAX_IMAGE_ID } from './tar-safety.js';
import { fsError, removeTree, unpackLayer, writeAll } from './unpack.js';

const DIGEST = /^sha256:([0-9a-f]{64})$/;
const MAX_HOST_ID = 0xfffffffe; // the highest uid a shifted id may become: (uid_t)-1 means "no id"

interface ImageRecord {
  manifest: string;
  blobs: string[];
  lastUsed: number;
}

export interface ImageStoreOptions {
  clock?: { now(): number } | undefined; // wall-clock ms (a Clock fits); the store sets no timers
}

export interface GcResult {
  /** Store-relative paths removed: `rootfs/<hex>-<shift>`, `blobs/sha256/<hex>`. */
  removed: string[];
  freedBytes: number;
}

export class ImageStore {
  readonly #now: () => number;
  #ready: Promise<void> | undefined;
  #lock: Promise<unknown> = Promise.resolve();
  readonly #building = new Map<string, Promise<string>>();
  /** Manifests and blobs in use by a rootfs() under way → how many calls. */
  readonly #pinned = new Map<string, number>();

  constructor(
    readonly dir: string,
    o: ImageStoreOptions = {},
  ) {
    const clock = o.clock;
    this.#now = clock ? () => clock.now() : Date.now;
  }

  blobPath(digest: string): string {
    return join(this.dir, 'blobs', 'sha256', hexOf(digest));
  }

  async hasBlob(digest: string): Promise<boolean> {
    return exists(this.blobPath(digest));
  }

  /**
   * Streams `body` into the store, checking its sha256 (and size, when given) on the way; the blob
   * appears only whole and right. A blob already there is kept and `body` is not read (a stream is
   * destroyed).
   */
  async putBlob(digest: string, body: AsyncIterable<Uint8Array> | NodeJS.ReadableStream, o: { size?: number; maxBytes?: number } = {}): Promise<string> {
    const hex = hexOf(digest);
    await this.#init();
    const final = this.blobPath(digest);
    const seconds = this.#now() / 1000;
    if (await exists(final)) {
      (body as { destroy?: () => void }).destroy?.();
      await utimes(final, seconds, seconds); // fresh again for gc
      return final;
    }
    const tmp = join(this.dir, '.tmp', `blob-${hex}-${process.pid}-${Math.random().toString(36).slice(2)}`);
    try {
      const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o444);
      const hash = createHash('sha256');
      let bytes = 0;
      try {
        for await (const chunk of body as AsyncIterable<Uint8Array | string>) {
          const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
          bytes += buf.length;
          if (o.maxBytes !== undefined && bytes > o.maxBytes) throw new StarlingError('ERR_IMAGE_TOO_LARGE', `blob ${digest} is larger than ${o.maxBytes} bytes`, { fault: 'user' });
          if (o.size !== undefined && bytes > o.size) throw sizeMismatch(digest, o.size, `more than ${o.size}`);
          hash.update(buf);
          await writeAll(fh, buf);
        }
        if (o.size !== undefined && bytes !== o.size) throw sizeMismatch(digest, o.size, String(bytes));
        const got = `sha256:${hash.digest('hex')}`;
        if (got !== digest) throw new StarlingError('ERR_IMAGE_DIGEST', `blob ${digest} arrived with the digest ${got}`, { fault: 'user', hint: 'the registry or the network altered it' });
        await fh.utimes(seconds, seconds);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, final);
      return final;
    } catch (e) {
      await removeTree(tmp).catch(() => undefined);
      // The body's own errors (a registry connection reset) are the caller's to name.
      if (isStarlingError(e) || (e as NodeJS.ErrnoException).syscall !== undefined) throw fsError(e, `blob ${digest}`);
      throw e;
    }
  }

  /**
   * The image unpacked for one uid block: `rootfs/<manifest-hex>-<uidShift>`, made on first use
   * from layers already in the store (bottom first). Concurrent calls for one key share the work.
   */
  rootfs(manifestDigest: string, layers: Descriptor[], o: { uidShift: number; maxBytes?: number }): Promise<string> {
    let key: string;
    try {
      key = `${hexOf(manifestDigest)}-${o.uidShift}`;
      layers.forEach((l) => hexOf(l.digest));
      if (!Number.isInteger(o.uidShift) || o.uidShift < 0 || o.uidShift + MAX_IMAGE_ID > MAX_HOST_ID) {
        throw new StarlingError('ERR_IMAGE_UNPACK', `uid shift ${o.uidShift} does not leave room for 65536 ids below ${MAX_HOST_ID}`);
      }
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    let p = this.#building.get(key);
    if (!p) {
      p = this.#build(manifestDigest, key, layers, o).finally(() => this.#building.delete(key));
      this.#building.set(key, p);
    }
    return p;
  }

  async #build(manifest: string, key: string, layers: Descriptor[], o: { uidShift: number; maxBytes?: number }): Promise<string> {
    await this.#init();
    const final = join(this.dir, 'rootfs', key);
    // Pinned against gc while this runs; the record (which keeps them afterwards) is written only
    // with a published rootfs, so a failure leaves no trace.
    const pins = [manifest, ...layers.map((l) => l.digest)];
    this.#pin(pins, 1);
    let tmp: string | undefined;
    try {
      const config = await this.#configOf(manifest);
      this.#pin(config, 1);
      pins.push(...config);
      const record = (): Promise<void> => this.#writeRecord({ manifest, blobs: [...new Set(pins)], lastUsed: this.#now() });
      const ready = await this.#exclusive(async () => (await exists(final)) && (await record(), true));
      if (ready) return final;
      for (const l of layers) {
        if (!(await this.hasBlob(l.digest))) {
          throw new StarlingError('ERR_IMAGE_NOT_FOUND', `layer ${l.digest} of image ${manifest} is not in the image store`, { hint: 'pull the image first' });
        }
      }
      tmp = await mkdtemp(join(this.dir, '.tmp', 'rootfs-'));
      const root = join(tmp, 'root');
      await mkdir(root, { mode: 0o755 });
      await lchown(root, o.uidShift, o.uidShift);
      let bytes = 0;
      for (const l of layers) {
        const left = o.maxBytes === undefined ? undefined : o.maxBytes - bytes;
        const done = await unpackLayer(this.blobPath(l.digest), l.mediaType, root, { uidShift: o.uidShift, maxBytes: left }).catch((e: unknown) => {
          if (!isStarlingError(e, 'ERR_IMAGE_TOO_LARGE')) throw e;
          throw new StarlingError('ERR_IMAGE_TOO_LARGE', `image ${manifest} unpacks to more than ${o.maxBytes} bytes: ${e.message}`, { fault: 'user', cause: e, hint: e.hint });
        });
        bytes += done.bytes;
      }
      await this.#exclusive(async () => {
        await rename(root, final).catch(async (e: NodeJS.ErrnoException) => {
          // Another process (a second agent on this data dir?) published the same image first.
          if (!((e.code === 'ENOTEMPTY' || e.code === 'EEXIST') && (await exists(final)))) throw e;
        });
        await record();
      });
      return final;
    } catch (e) {
      throw fsError(e, `image ${manifest}`);
    } finally {
      this.#pin(pins, -1);
      if (tmp) await removeTree(tmp).catch(() => undefined);
    }
  }

  /** Marks an unpacked image used now; false when the store has no such image. */
  async touch(manifestDigest: string): Promise<boolean> {
    return this.#exclusive(async () => {
      const rec = await this.#readRecord(manifestDigest);
      if (!rec) return false;
      await this.#writeRecord({ ...rec, lastUsed: this.#now() });
      return true;
    });
  }

  /**
   * Removes the images last used before `now - olderThanMs` and not in `inUse` (manifest digests),
   * then the blobs no kept image refers to that are that old too.
   */
  async gc(o: { olderThanMs: number; inUse: Set<string>; now?: number }): Promise<GcResult> {
    await this.#init();
    return this.#exclusive(async () => {
      const cutoff = (o.now ?? this.#now()) - o.olderThanMs;
      const result: GcResult = { removed: [], freedBytes: 0 };
      const keep = new Set<string>();
      const referenced = new Set(this.#pinned.keys());
      for (const name of await readdir(join(this.dir, 'meta'))) {
        const rec = /^[0-9a-f]{64}\.json$/.test(name) ? await this.#readRecord(`sha256:${name.slice(0, 64)}`) : undefined;
        if (rec && (o.inUse.has(rec.manifest) || this.#pinned.has(rec.manifest) || rec.lastUsed > cutoff)) {
          keep.add(hexOf(rec.manifest));
          rec.blobs.forEach((b) => referenced.add(b));
        }
      }
      for (const name of await readdir(join(this.dir, 'rootfs'))) {
        const hex = name.split('-')[0]!;
        if (keep.has(hex) || o.inUse.has(`sha256:${hex}`)) continue;
        const trash = await mkdtemp(join(this.dir, '.tmp', 'gc-'));
        await rename(join(this.dir, 'rootfs', name), join(trash, 'root'));
        result.freedBytes += await removeTree(trash);
        result.removed.push(`rootfs/${name}`);
      }
      for (const name of await readdir(join(this.dir, 'meta'))) {
        if (!keep.has(name.replace(/\.json$/, ''))) await removeTree(join(this.dir, 'meta', name));
      }
      for (const hex of await readdir(join(this.dir, 'blobs', 'sha256'))) {
        if (referenced.has(`sha256:${hex}`)) continue;
        const st = await lstat(join(this.dir, 'blobs', 'sha256', hex));
        if (st.mtimeMs > cutoff) continue; // just pulled, perhaps not yet unpacked
        result.freedBytes += await removeTree(join(this.dir, 'blobs', 'sha256', hex));
        result.removed.push(`blobs/sha256/${hex}`);
      }
      return result;
    });
  }

  /** Removes what an earlier run left in `.tmp/` (call at start, before any other use). */
  async cleanTmp(): Promise<void> {
    await this.#init();
    for (const name of await readdir(join(this.dir, '.tmp'))) await removeTree(join(this.dir, '.tmp', name));
  }

  /** The layout; the store and rootfs/ walkable by all (machines' views reach into rootfs dirs). */
  #init(): Promise<void> {
    this.#ready ??= (async () => {
      if (await mkdir(this.dir, { recursive: true, mode: 0o711 })) await chmod(this.dir, 0o711);
      for (const [sub, mode] of [['blobs/sha256', 0o700], ['meta', 0o700], ['.tmp', 0o700], ['rootfs', 0o711]] as const) await mkdir(join(this.dir, sub), { recursive: true, mode });
    })();
    this.#ready.catch(() => (this.#ready = undefined));
    return this.#ready;
  }

  #pin(digests: string[], by: 1 | -1): void {
    for (const d of digests) {
      const n = (this.#pinned.get(d) ?? 0) + by;
      if (n > 0) this.#pinned.set(d, n);
      else this.#pinned.delete(d);
    }
  }

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(fn);
    this.#lock = run.catch(() => undefined);
    return run;
  }

  /** The config digest, when the manifest blob is in the store (a pulled image's is). */
  async #configOf(manifest: string): Promise<string[]> {
    const read = readFile(this.blobPath(manifest), 'utf8').then((t) => (JSON.parse(t) as { config?: { digest?: unknown } }).config?.digest);
    const digest = await read.catch(() => undefined);
    return typeof digest === 'string' && DIGEST.test(digest) ? [digest] : [];
  }

  async #readRecord(manifest: string): Promise<ImageRecord | undefined> {
    // Ours appear whole, by rename: one that does not parse is a foreign file, ignored then collected.
    const read = readFile(join(this.dir, 'meta', `${hexOf(manifest)}.json`), 'utf8').then((t) => JSON.parse(t) as ImageRecord);
    const rec = await read.catch(() => undefined);
    return rec?.manifest === manifest && Array.isArray(rec.blobs) && typeof rec.lastUsed === 'number' ? rec : undefined;
  }

  async #writeRecord(rec: ImageRecord): Promise<void> {
    const file = join(this.dir, 'meta', `${hexOf(rec.manifest)}.json`);
    const tmp = join(this.dir, '.tmp', `meta-${hexOf(rec.manifest)}-${Math.random().toString(36).slice(2)}`);
    try {
      await writeFile(tmp, JSON.stringify(rec), { mode: 0o600, flag: 'wx' });
      await rename(tmp, file);
    } catch (e) {
      await removeTree(tmp).catch(() => undefined);
      throw fsError(e, `the image store's record of ${rec.manifest}`);
    }
  }
}

function hexOf(digest: string): string {
  const m = DIGEST.exec(digest);
  if (!m) throw new StarlingError('ERR_IMAGE_DIGEST', `${JSON.stringify(digest)} is not sha256:<64 hex digits>`, { fault: 'user' });
  return m[1]!;
}

function sizeMismatch(digest: string, want: number, got: string): StarlingError {
  return new StarlingError('ERR_IMAGE_DIGEST', `blob ${digest} is ${got} bytes, its descriptor says ${want}`, { fault: 'user' });
}

const exists = (p: string): Promise<boolean> => stat(p).then(() => true, () => false);

