/**
 * A host's side of an image: pull it (by digest, from the platform registry) into the host image
 * store, once — manifest, config and every layer, each checked by its digest as it is written —
 * and read back what an image in the store says to run. The store holds the manifest and config
 * as blobs too, so a host that restarts needs no network for an image it has.
 */
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { ImageDefaults } from '../contract/index.js';
import { StarlingError } from '../shared/index.js';
import { parseImageConfig, parseManifest } from './manifest.js';
import type { RegistryClient } from './registry-client.js';
import type { ImageStore } from './store.js';
import { HOST_BASE_LABEL, type ImageManifest, type ImageRef, type ImageRun } from './types.js';

export interface StoredImage {
  /** The manifest's digest. */
  digest: string;
  manifest: ImageManifest;
  run: ImageRun;
  /** 'host': a quick-start image (its layer at /app, the host's runtime); 'image': its own root filesystem. */
  base: 'host' | 'image';
}

/** What the store holds of `digest`, when it holds the manifest, the config and every layer. */
export async function storedImage(store: ImageStore, digest: string): Promise<StoredImage | undefined> {
  if (!(await store.hasBlob(digest))) return undefined;
  const bytes = await readFile(store.blobPath(digest));
  const parsed = parseManifest(bytes, '');
  if (parsed.kind !== 'manifest') throw new StarlingError('ERR_IMAGE_MEDIA_TYPE', `${digest} is an image index, not one image: a release pins the linux/amd64 manifest`);
  const { manifest } = parsed;
  for (const d of [manifest.config, ...manifest.layers]) if (!(await store.hasBlob(d.digest))) return undefined;
  const run = parseImageConfig(await readFile(store.blobPath(manifest.config.digest)));
  return { digest, manifest, run, base: baseOf(run) };
}

/** Pulls `ref` (which names a digest) into the store unless it is there already. */
export async function pullImage(client: RegistryClient, store: ImageStore, ref: ImageRef, o: { maxBytes?: number | undefined } = {}): Promise<StoredImage & { pulled: boolean }> {
  if (ref.digest === undefined) throw new StarlingError('ERR_IMAGE_REF', `a host pulls images by digest, not by tag: ${ref.repository}:${ref.tag ?? '?'}`);
  const held = await storedImage(store, ref.digest);
  if (held) return { ...held, pulled: false };
  const image = await client.resolve(ref);
  if (image.digest !== ref.digest) throw new StarlingError('ERR_IMAGE_DIGEST', `the registry answered manifest ${image.digest} for ${ref.digest}`);
  const size = [image.manifest.config, ...image.manifest.layers].reduce((n, d) => n + d.size, 0);
  if (o.maxBytes !== undefined && size > o.maxBytes) {
    throw new StarlingError('ERR_IMAGE_TOO_LARGE', `image ${ref.digest} is ${size} bytes, above this host's limit of ${o.maxBytes}`, { fault: 'user' });
  }
  if (!(await store.hasBlob(image.manifest.config.digest))) await store.putBlob(image.manifest.config.digest, Readable.from([image.configBytes]), { size: image.configBytes.length });
  for (const layer of image.manifest.layers) {
    if (await store.hasBlob(layer.digest)) continue;
    const { body } = await client.blob(ref, layer.digest);
    await store.putBlob(layer.digest, Readable.fromWeb(body), { size: layer.size, ...(o.maxBytes !== undefined ? { maxBytes: o.maxBytes } : {}) });
  }
  // The manifest last: its presence says the rest is there.
  await store.putBlob(image.digest, Readable.from([image.manifestBytes]), { size: image.manifestBytes.length });
  return { digest: image.digest, manifest: image.manifest, run: image.run, base: baseOf(image.run), pulled: true };
}

/** What the machine config needs of an image (contract's machineConfigFor). */
export function imageDefaults(image: StoredImage): ImageDefaults {
  return { ...image.run, base: image.base };
}

/** A quick-start image (layer-image.ts) says so in its config's labels. */
const baseOf = (run: ImageRun): StoredImage['base'] => (run.labels[HOST_BASE_LABEL] === 'host' ? 'host' : 'image');
