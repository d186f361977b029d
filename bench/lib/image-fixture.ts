/**
 * bench:image's images: built offline with buildah (test/helpers/oci-images.ts: vfs storage under
 * its own temp dir, `bud --isolation chroot`) and pushed to a real docker-registry on loopback
 * (test/helpers/registry.ts). Each image is FROM scratch: the host's static busybox, a page for its
 * httpd (so the image also deploys and passes an HTTP check), and `layers` layers of random files —
 * random bytes do not compress, so what goes over the wire is what is unpacked.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ImageRef } from '../../src/images/index.js';
import type { ImageBuilder } from '../../test/helpers/oci-images.js';

const BUSYBOX = '/usr/bin/busybox';
export const HTTPD_PORT = 8080;

/** Registers a stopper for Ctrl-C and returns it, run-once (bench/image.ts hands it to the parts). */
export type Keep = (stop: () => Promise<void>) => () => Promise<void>;

export interface BenchImage {
  /** Pinned by digest (what a host pulls). */
  ref: ImageRef & { digest: string };
  /** `host:port/repository@sha256:…` — for skopeo and `starling deploy --image`. */
  text: string;
  digest: string;
  /** Bytes of the files put in the image (the random data, the busybox binary, the page). */
  fileBytes: number;
  /** Layers in the manifest (busybox and page included). */
  layers: number;
  buildMs: number;
}

export interface ImageSpec {
  name: string;
  tag?: string;
  /** Total MiB of random data (default 100), split over `dataLayers` layers (default 4) of 4 files each. */
  mib?: number;
  dataLayers?: number;
  /** What the httpd serves at / (default: the image's name). */
  page?: string;
}

/** Builds and pushes one image; its random data is fresh, so no two calls share a data layer. */
export async function buildBenchImage(images: ImageBuilder, registryHost: string, spec: ImageSpec): Promise<BenchImage> {
  const started = performance.now();
  const mib = spec.mib ?? 100;
  const dataLayers = spec.dataLayers ?? 4;
  const filesPerLayer = 4;
  const fileSize = Math.max(1, Math.floor((mib * 1024 * 1024) / (dataLayers * filesPerLayer)));
  const busybox = readFileSync(BUSYBOX);
  const page = `${spec.page ?? spec.name}\n`;
  const files: Record<string, Buffer | string> = { 'bin/busybox': busybox, 'www/index.html': page };
  let fileBytes = busybox.length + Buffer.byteLength(page);
  const copies: string[] = [];
  for (let l = 0; l < dataLayers; l++) {
    for (let f = 0; f < filesPerLayer; f++) files[`data/l${l}/f${f}.bin`] = randomBytes(fileSize);
    fileBytes += fileSize * filesPerLayer;
    copies.push(`COPY data/l${l} /data/l${l}`);
  }
  const dockerfile = [
    'FROM scratch',
    'COPY bin /bin',
    'COPY www /www',
    ...copies,
    `EXPOSE ${HTTPD_PORT}`,
    `CMD ["/bin/busybox", "httpd", "-f", "-p", "${HTTPD_PORT}", "-h", "/www"]`,
    '',
  ].join('\n');
  const built = await images.buildImage(spec.name, { files, dockerfile, tag: spec.tag ?? 'latest' }, registryHost);
  const ref = { registry: built.ref.registry, repository: built.ref.repository, digest: built.digest };
  return {
    ref,
    text: `${ref.registry}/${ref.repository}@${ref.digest}`,
    digest: built.digest,
    fileBytes,
    layers: 2 + dataLayers,
    buildMs: performance.now() - started,
  };
}

/** Median (mean of the middle two for an even count), NaN for none. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** `{ median, min, max, samples }` of some durations, rounded to 0.1 ms; nulls when there are none. */
export function summary(xs: number[]): { median: number | null; min: number | null; max: number | null; samples: number } {
  const r = (n: number) => (Number.isFinite(n) ? Math.round(n * 10) / 10 : null);
  return { median: r(median(xs)), min: r(Math.min(...xs)), max: r(Math.max(...xs)), samples: xs.length };
}

/** a / b rounded to 0.01, or null when either is missing. */
export function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  return a == null || b == null || b === 0 ? null : Math.round((a / b) * 100) / 100;
}
