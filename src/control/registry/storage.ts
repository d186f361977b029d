/**
 * The platform registry's storage, under `<images_dir>/registry/`:
 *
 *   blobs/sha256/<hex>           content (layers, configs, manifests), shared by every repository
 *   repos/<app>/blobs/<hex>      an empty link: the repository holds this blob
 *   repos/<app>/manifests/<hex>  a link holding the manifest's media type
 *   repos/<app>/tags/<tag>       the digest the tag names
 *   repos/<app>/owner            the app it belongs to (repositoryOwner)
 *   uploads/<uuid>/{repo,data}   an upload in progress (removed after an hour without a chunk)
 *
 * A repository sees only what was pushed or linked into it, so nobody reads another org's blob by
 * guessing its digest. Every blob is verified while it is written and published by rename(2) of a
 * complete file: a reader never sees half of one, and a mismatch leaves nothing.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { APP_NAME_RE } from '../../contract/index.js';
import { sha256Digest } from '../../images/index.js';
import { DEFAULT_ORG } from '../auth/index.js';
import { StarlingError, type Clock } from '../../shared/index.js';
import { MAX_MANIFEST_BYTES, digestHex, parseManifest, parseReference } from './manifest.js';

/** An upload without a chunk for this long is removed at the next upload's start. */
export const UPLOAD_TTL_MS = 3600_000;

export interface StoredManifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
}

/** Who a repository belongs to: the app's org and creation time (a new app of the same name is another owner). */
export const repositoryOwner = (app: { org?: string | undefined; created_at: string }): string => `${app.org ?? DEFAULT_ORG}/${app.created_at}\n`;

const exists = (p: string): Promise<boolean> => stat(p).then(() => true, () => false);
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export class RegistryStorage {
  readonly dir: string;

  constructor(private readonly o: { imagesDir: string; maxBytes: number; clock: Clock }) {
    this.dir = join(o.imagesDir, 'registry');
  }

  private repo(repo: string): string {
    if (!APP_NAME_RE.test(repo)) throw new StarlingError('ERR_REGISTRY_NAME', `the repository ${JSON.stringify(repo.slice(0, 80))} is not an app name`, { fault: 'user' });
    return join(this.dir, 'repos', repo);
  }

  private hex(digest: string): string {
    const hex = digestHex(digest);
    if (!hex) throw new StarlingError('ERR_IMAGE_DIGEST', 'a digest must be sha256:<64 lower-case hex digits>', { fault: 'user' });
    return hex;
  }

  private content(hex: string): string {
    return join(this.dir, 'blobs', 'sha256', hex);
  }

  /** Whether `repo` holds the blob. */
  async hasBlob(repo: string, digest: string): Promise<boolean> {
    return (await this.blobPath(repo, digest)) !== undefined;
  }

  /** The blob's file, when `repo` holds it. */
  async blobPath(repo: string, digest: string): Promise<string | undefined> {
    const hex = digestHex(digest);
    if (!hex || !APP_NAME_RE.test(repo)) return undefined;
    if (!(await exists(join(this.repo(repo), 'blobs', hex)))) return undefined;
    const file = this.content(hex);
    return (await exists(file)) ? file : undefined;
  }

  /** Writes a blob into `repo`, checking its digest (and `size`, when given) on the way. */
  async putBlob(repo: string, digest: string, body: Readable | Buffer, size?: number): Promise<{ digest: string; size: number }> {
    const hex = this.hex(digest);
    this.repo(repo);
    const tmp = join(this.dir, 'uploads', `.put-${randomUUID()}`);
    await mkdir(join(this.dir, 'uploads'), { recursive: true, mode: 0o700 });
    try {
      const n = await this.write(Buffer.isBuffer(body) ? Readable.from([body]) : body, tmp, 'w');
      return await this.publish(repo, tmp, hex, n, size);
    } finally {
      await rm(tmp, { force: true });
    }
  }

  /** Appends to `file`, capped at the size limit; answers the bytes written. */
  private async write(body: Readable, file: string, flags: 'w' | 'a', already = 0): Promise<number> {
    let n = 0;
    const max = this.o.maxBytes;
    const cap = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        n += chunk.length;
        if (already + n > max) return cb(new StarlingError('ERR_IMAGE_TOO_LARGE', `blobs are at most ${max} bytes (control.toml limits.max_image_bytes)`, { fault: 'user' }));
        cb(null, chunk);
      },
    });
    await pipeline(body, cap, createWriteStream(file, { flags, mode: 0o600 }));
    return n;
  }

  /** Hashes `tmp`; when it is `hex`, moves it to the content store and links it into `repo`. */
  private async publish(repo: string, tmp: string, hex: string, got: number, size: number | undefined): Promise<{ digest: string; size: number }> {
    if (size !== undefined && size !== got) throw new StarlingError('ERR_IMAGE_DIGEST', `the blob is ${got} bytes, not the ${size} declared`, { fault: 'user' });
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(tmp)) hash.update(chunk as Buffer);
    const actual = hash.digest('hex');
    if (actual !== hex) throw new StarlingError('ERR_IMAGE_DIGEST', `the blob's sha256 is ${actual}, not the ${hex} named`, { fault: 'user' });
    await mkdir(join(this.dir, 'blobs', 'sha256'), { recursive: true, mode: 0o700 });
    if (!(await exists(this.content(hex)))) await rename(tmp, this.content(hex));
    await this.link(repo, 'blobs', hex, '');
    return { digest: `sha256:${hex}`, size: got };
  }

  private async link(repo: string, kind: 'blobs' | 'manifests' | 'tags', name: string, text: string): Promise<void> {
    const dir = join(this.repo(repo), kind);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const tmp = join(dir, `.${name}.${randomUUID()}`);
    await writeFile(tmp, text, { mode: 0o600 });
    await rename(tmp, join(dir, name));
  }

  /** Stores a manifest (every blob or manifest it references must be in `repo`) and links the tag. */
  async putManifest(repo: string, reference: string, bytes: Buffer, mediaType: string | undefined): Promise<string> {
    const ref = parseReference(reference);
    if (!ref) throw new StarlingError('ERR_REGISTRY_NAME', `${JSON.stringify(reference.slice(0, 80))} is neither a tag nor a sha256 digest`, { fault: 'user' });
    if (bytes.length > MAX_MANIFEST_BYTES) throw new StarlingError('ERR_REGISTRY_MANIFEST', `manifests are at most ${MAX_MANIFEST_BYTES} bytes`, { fault: 'user' });
    const parsed = parseManifest(bytes, mediaType);
    const hex = sha256Digest(bytes).slice('sha256:'.length);
    if ('digest' in ref && ref.digest !== `sha256:${hex}`) throw new StarlingError('ERR_IMAGE_DIGEST', `the manifest's sha256 is ${hex}, not the digest it was pushed under`, { fault: 'user' });
    for (const d of parsed.blobs) {
      if (!(await this.hasBlob(repo, d))) throw new StarlingError('ERR_REGISTRY_MANIFEST_BLOB', `the manifest references ${d}, which repository ${repo} does not hold`, { fault: 'user' });
    }
    for (const d of parsed.manifests) {
      if (!(await exists(join(this.repo(repo), 'manifests', this.hex(d))))) throw new StarlingError('ERR_REGISTRY_MANIFEST_BLOB', `the index references manifest ${d}, which repository ${repo} does not hold`, { fault: 'user' });
    }
    const tmp = join(this.dir, 'uploads', `.manifest-${randomUUID()}`);
    await mkdir(join(this.dir, 'uploads'), { recursive: true, mode: 0o700 });
    await writeFile(tmp, bytes, { mode: 0o600 });
    await mkdir(join(this.dir, 'blobs', 'sha256'), { recursive: true, mode: 0o700 });
    await rename(tmp, this.content(hex));
    await this.link(repo, 'manifests', hex, parsed.mediaType);
    if ('tag' in ref) await this.link(repo, 'tags', ref.tag, `sha256:${hex}`);
    return `sha256:${hex}`;
  }

  /** A manifest of `repo` by tag or digest. */
  async getManifest(repo: string, reference: string): Promise<StoredManifest | undefined> {
    const ref = parseReference(reference);
    if (!ref || !APP_NAME_RE.test(repo)) return undefined;
    const digest = 'digest' in ref ? ref.digest : await readFile(join(this.repo(repo), 'tags', ref.tag), 'utf8').catch(() => undefined);
    const hex = digest === undefined ? undefined : digestHex(digest);
    if (!hex) return undefined;
    const mediaType = await readFile(join(this.repo(repo), 'manifests', hex), 'utf8').catch(() => undefined);
    const bytes = mediaType === undefined ? undefined : await readFile(this.content(hex)).catch(() => undefined);
    return bytes ? { digest: `sha256:${hex}`, mediaType: mediaType!, bytes } : undefined;
  }

  /** The repository's tags, sorted. */
  async tags(repo: string): Promise<string[]> {
    const names = await readdir(join(this.repo(repo), 'tags')).catch(() => [] as string[]);
    return names.filter((n) => !n.startsWith('.')).sort();
  }

  /**
   * Makes `repo` the repository of `owner` (repositoryOwner of the app): one left by a destroyed
   * app of the same name (another owner) is emptied first, so a new app never sees an old one's
   * images. Mirroring code calls it before writing too.
   */
  async claimRepository(repo: string, owner: string): Promise<void> {
    const file = join(this.repo(repo), 'owner');
    const had = await readFile(file, 'utf8').catch(() => undefined);
    if (had === owner) return;
    if (had !== undefined) await this.removeRepository(repo);
    await mkdir(this.repo(repo), { recursive: true, mode: 0o700 });
    await writeFile(file, owner, { mode: 0o600 });
  }

  /** An app destroyed: its links go (the content store's blobs stay until collected). */
  async removeRepository(repo: string): Promise<void> {
    await rm(this.repo(repo), { recursive: true, force: true });
  }

  // --- Upload sessions -------------------------------------------------------------------------

  /** A new upload session into `repo`; sessions idle for over an hour are removed first. */
  async startUpload(repo: string): Promise<string> {
    this.repo(repo);
    await this.expireUploads();
    const uuid = randomUUID();
    const dir = join(this.dir, 'uploads', uuid);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeFile(join(dir, 'data'), '', { mode: 0o600 });
    await writeFile(join(dir, 'repo'), repo, { mode: 0o600 });
    return uuid;
  }

  /** The bytes an upload of `repo` holds so far; undefined when there is no such session. */
  async uploadSize(repo: string, uuid: string): Promise<number | undefined> {
    if (!UUID_RE.test(uuid)) return undefined;
    const dir = join(this.dir, 'uploads', uuid);
    const owner = await readFile(join(dir, 'repo'), 'utf8').catch(() => undefined);
    if (owner !== repo) return undefined;
    return stat(join(dir, 'data')).then((s) => s.size, () => undefined);
  }

  /** Appends a chunk; answers the session's new size. */
  async appendUpload(repo: string, uuid: string, body: Readable): Promise<number> {
    const size = await this.uploadSize(repo, uuid);
    if (size === undefined) throw new StarlingError('ERR_REGISTRY_NOT_FOUND', `no upload ${uuid}`, { fault: 'user' });
    return size + (await this.write(body, join(this.dir, 'uploads', uuid, 'data'), 'a', size));
  }

  /** Ends an upload: its bytes become blob `digest` of `repo` when they match; the session goes either way. */
  async completeUpload(repo: string, uuid: string, digest: string): Promise<{ digest: string; size: number }> {
    const hex = this.hex(digest);
    const size = await this.uploadSize(repo, uuid);
    if (size === undefined) throw new StarlingError('ERR_REGISTRY_NOT_FOUND', `no upload ${uuid}`, { fault: 'user' });
    try {
      return await this.publish(repo, join(this.dir, 'uploads', uuid, 'data'), hex, size, undefined);
    } finally {
      await this.cancelUpload(uuid);
    }
  }

  async cancelUpload(uuid: string): Promise<void> {
    if (UUID_RE.test(uuid)) await rm(join(this.dir, 'uploads', uuid), { recursive: true, force: true });
  }

  private async expireUploads(): Promise<void> {
    const root = join(this.dir, 'uploads');
    const cutoff = this.o.clock.now() - UPLOAD_TTL_MS;
    for (const name of await readdir(root).catch(() => [] as string[])) {
      const p = join(root, name);
      const s = await stat(UUID_RE.test(name) ? join(p, 'data') : p).catch(() => undefined);
      if (s && s.mtimeMs < cutoff) await rm(p, { recursive: true, force: true });
    }
  }
}
