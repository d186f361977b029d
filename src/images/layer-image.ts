/**
 * An OCI image of one existing tar+gzip layer: the quick-start form (`starling deploy` of a
 * directory or .tar.gz, packed by the CLI) as an image the platform registry stores like any
 * other. Its config carries the `dev.starling.base=host` label: machines run it on the host's
 * runtime with the layer read-only at /app, as before images.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { MEDIA_TYPES as MEDIA, sha256Digest as sha256 } from './manifest.js';
import { HOST_BASE_LABEL } from './types.js';

export interface LayerImage {
  /** The manifest's digest, its bytes and media type. */
  digest: string;
  manifest: Buffer;
  mediaType: string;
  config: { digest: string; bytes: Buffer };
  layer: { file: string; digest: string; diffId: string; size: number };
}


/** `file` is a .tar.gz: its digests are computed here (compressed, and its diff id uncompressed). */
export async function layerImage(file: string): Promise<LayerImage> {
  const compressed = createHash('sha256');
  const uncompressed = createHash('sha256');
  await Promise.all([pipeline(createReadStream(file), compressed), pipeline(createReadStream(file), createGunzip(), uncompressed)]);
  return imageOfLayer({ file, digest: `sha256:${compressed.digest('hex')}`, diffId: `sha256:${uncompressed.digest('hex')}`, size: (await stat(file)).size });
}

/** The config and manifest of a one-layer quick-start image whose layer's digests are known. */
export function imageOfLayer(layer: LayerImage['layer']): LayerImage {
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Labels: { [HOST_BASE_LABEL]: 'host' }, WorkingDir: '/app' },
      rootfs: { type: 'layers', diff_ids: [layer.diffId] },
    }),
  );
  const configDigest = sha256(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA.ociManifest,
      config: { mediaType: MEDIA.ociConfig, digest: configDigest, size: config.length },
      layers: [{ mediaType: MEDIA.ociLayerGzip, digest: layer.digest, size: layer.size }],
    }),
  );
  return { digest: sha256(manifest), manifest, mediaType: MEDIA.ociManifest, config: { digest: configDigest, bytes: config }, layer };
}
