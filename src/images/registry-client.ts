/**
 * An OCI distribution client (https://github.com/opencontainers/distribution-spec, spec.md): pull a
 * manifest (following an index to linux/amd64) and its config, stream blobs, push blobs and
 * manifests. Digests are computed from the bytes received; a registry's Docker-Content-Digest is
 * never trusted. Authentication follows the registry's 401: Basic with the credentials, or the
 * Bearer token flow (./registry-auth.ts). Every request has a timeout: until the answer's head, and
 * between two chunks of a body.
 */
import { Readable } from 'node:stream';
import { StarlingError } from '../shared/index.js';
import { DIGEST_RE } from '../contract/index.js';
import { ACCEPT_MANIFESTS, parseImageConfig, parseManifest, pickPlatform, sha256Digest } from './manifest.js';
import { formatImageRef as refText } from './reference.js';
import { RegistryHttp, readLimited, type Credentials } from './registry-http.js';
import type { ImageManifest, ImageRef, ImageRun } from './types.js';

export type { Credentials } from './registry-http.js';

export interface RegistryClientOptions {
  fetch?: typeof fetch;
  credentials?: (registry: string) => Credentials | undefined;
  /** Default: loopback hosts (localhost, 127.x, ::1) are spoken to over http, every other over https. */
  plainHttp?: (registry: string) => boolean;
  /** Per request, until the answer's head and between body chunks. Default 30 s. */
  timeoutMs?: number;
  now?: () => number;
}

export interface ResolvedImage {
  ref: ImageRef;
  /** The platform manifest's digest (the index's is `indexDigest`). */
  digest: string;
  mediaType: string;
  manifestBytes: Buffer;
  manifest: ImageManifest;
  configBytes: Buffer;
  run: ImageRun;
  indexDigest?: string;
}

/** Manifests and configs are small; distribution refuses manifests over 4 MiB. */
const MAX_MANIFEST = 4 << 20;
const MAX_CONFIG = 8 << 20;

function checkDigest(expected: string, bytes: Buffer, what: string): void {
  const got = sha256Digest(bytes);
  if (got !== expected) {
    throw new StarlingError('ERR_IMAGE_DIGEST', `${what} does not match its digest: expected ${expected}, the registry sent ${got}`, { fault: 'system' });
  }
}

export class RegistryClient {
  private readonly http: RegistryHttp;

  constructor(o: RegistryClientOptions = {}) {
    this.http = new RegistryHttp({
      fetch: o.fetch ?? globalThis.fetch,
      credentials: o.credentials ?? (() => undefined),
      plainHttp: o.plainHttp,
      timeoutMs: o.timeoutMs ?? 30_000,
      now: o.now ?? Date.now,
    });
  }

  /** The manifest for `ref` (through an index: `o.platform`, default linux/amd64) and its config. */
  async resolve(ref: ImageRef, o: { platform?: { os: string; architecture: string; variant?: string } } = {}): Promise<ResolvedImage> {
    if (ref.digest !== undefined && !DIGEST_RE.test(ref.digest)) {
      throw new StarlingError('ERR_IMAGE_DIGEST', `${refText(ref)}: the digest is not sha256:<64 hex digits>`, { fault: 'user' });
    }
    const first = await this.manifestBytes(ref, ref.digest ?? ref.tag ?? 'latest');
    if (ref.digest) checkDigest(ref.digest, first.bytes, `the manifest of ${refText(ref)}`);
    let digest = sha256Digest(first.bytes);
    let bytes = first.bytes;
    let parsed = parseManifest(bytes, first.contentType);
    let indexDigest: string | undefined;
    if (parsed.kind === 'index') {
      indexDigest = digest;
      const picked = pickPlatform(parsed.manifests, o.platform);
      const next = await this.manifestBytes(ref, picked.digest);
      checkDigest(picked.digest, next.bytes, `the platform manifest of ${refText(ref)}`);
      bytes = next.bytes;
      digest = picked.digest;
      parsed = parseManifest(bytes, next.contentType || picked.mediaType);
      if (parsed.kind !== 'manifest') {
        throw new StarlingError('ERR_IMAGE_MEDIA_TYPE', `${refText(ref)}: the index entry ${picked.digest} is another index, not an image manifest`, { fault: 'user' });
      }
    }
    const manifest = parsed.manifest;
    const blob = await this.blob(ref, manifest.config.digest);
    if (manifest.config.size > MAX_CONFIG) {
      throw new StarlingError('ERR_IMAGE_MANIFEST', `${refText(ref)}: the image config is ${manifest.config.size} bytes, more than ${MAX_CONFIG}`, { fault: 'user' });
    }
    const configBytes = await readLimited(blob.body, manifest.config.size, `the config of ${refText(ref)}`);
    checkDigest(manifest.config.digest, configBytes, `the config of ${refText(ref)}`);
    const resolved: ResolvedImage = { ref, digest, mediaType: manifest.mediaType, manifestBytes: bytes, manifest, configBytes, run: parseImageConfig(configBytes) };
    if (indexDigest !== undefined) resolved.indexDigest = indexDigest;
    return resolved;
  }

  private async manifestBytes(ref: ImageRef, reference: string): Promise<{ bytes: Buffer; contentType: string }> {
    const res = await this.http.request(ref, { method: 'GET', path: `manifests/${reference}`, headers: { accept: ACCEPT_MANIFESTS } });
    const bytes = await readLimited(res.body!, MAX_MANIFEST, `the manifest of ${refText(ref)}`, true);
    return { bytes, contentType: res.headers.get('content-type') ?? '' };
  }

  /** A blob's bytes as they arrive, unverified (the caller's store verifies while writing). */
  async blob(ref: ImageRef, digest: string): Promise<{ body: ReadableStream<Uint8Array>; size?: number }> {
    const res = await this.http.request({ ...ref, digest }, { method: 'GET', path: `blobs/${digest}` });
    const length = Number(res.headers.get('content-length') ?? NaN);
    return Number.isFinite(length) ? { body: res.body!, size: length } : { body: res.body! };
  }

  async hasBlob(ref: ImageRef, digest: string): Promise<boolean> {
    const res = await this.http.request({ ...ref, digest }, { method: 'HEAD', path: `blobs/${digest}`, allow404: true });
    await res.body?.cancel();
    return res.status !== 404;
  }

  /** A monolithic upload (POST, then PUT ?digest=); nothing is sent when the registry has the blob. */
  async pushBlob(ref: ImageRef, digest: string, size: number, open: () => NodeJS.ReadableStream): Promise<void> {
    if (await this.hasBlob(ref, digest)) return;
    const started = await this.http.request(ref, { method: 'POST', path: 'blobs/uploads/', push: true });
    await started.body?.cancel();
    const location = started.headers.get('location');
    if (!location) throw new StarlingError('ERR_REGISTRY', `${ref.registry} started an upload without a Location`, { fault: 'system' });
    const url = new URL(location, started.url);
    url.searchParams.set('digest', digest);
    const done = await this.http.request(
      { ...ref, digest },
      {
        method: 'PUT',
        url,
        push: true,
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
        body: () => Readable.toWeb(Readable.from(open())) as ReadableStream<Uint8Array>,
      },
    );
    await done.body?.cancel();
  }

  /** Puts a manifest under `ref`'s tag (or its digest); returns the digest of `bytes`. */
  async pushManifest(ref: ImageRef, bytes: Buffer, mediaType: string): Promise<string> {
    const digest = sha256Digest(bytes);
    if (ref.digest && ref.digest !== digest) checkDigest(ref.digest, bytes, `the manifest pushed as ${refText(ref)}`);
    const reference = ref.tag ?? ref.digest ?? digest;
    const res = await this.http.request(ref, { method: 'PUT', path: `manifests/${reference}`, push: true, headers: { 'content-type': mediaType }, body: () => bytes });
    await res.body?.cancel();
    return digest;
  }
}
