/**
 * Manifests, indexes and image configs as bytes → checked values, with no I/O. What is accepted:
 * the OCI image spec v1 (https://github.com/opencontainers/image-spec: manifest.md, image-index.md,
 * config.md) and its Docker predecessors (manifest list, image manifest v2 schema 2). Docker schema 1
 * (signed, no content-addressed config) is refused with a message that says how to get a newer one.
 * A schema problem is reported with every problem at once, so one fix is one round trip.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { DIGEST_RE } from '../contract/index.js';
import { StarlingError } from '../shared/index.js';
import type { Descriptor, ImageManifest, ImageRun } from './types.js';

export const MEDIA_TYPES = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerTar: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

const SCHEMA1_TYPES = ['application/vnd.docker.distribution.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v1+prettyjws'];
export const INDEX_TYPES: readonly string[] = [MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerList];
export const MANIFEST_TYPES: readonly string[] = [MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifest];
export const CONFIG_TYPES: readonly string[] = [MEDIA_TYPES.ociConfig, MEDIA_TYPES.dockerConfig];
/** Layer media types Starling unpacks; the compression is what the name ends with. */
export const LAYER_TYPES: readonly string[] = [MEDIA_TYPES.ociLayerTar, MEDIA_TYPES.ociLayerGzip, MEDIA_TYPES.ociLayerZstd, MEDIA_TYPES.dockerLayerGzip];
/** The Accept header of a manifest GET: every index and manifest type, preferred first. */
export const ACCEPT_MANIFESTS = [...INDEX_TYPES, ...MANIFEST_TYPES].join(', ');

export type ParsedManifest = { kind: 'index'; manifests: Descriptor[] } | { kind: 'manifest'; manifest: ImageManifest };

/** `sha256:<hex>` of some bytes: the digest every blob and manifest is named by. */
export const sha256Digest = (bytes: Buffer | Uint8Array): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

const digest = z.string().regex(DIGEST_RE, 'is not sha256:<64 lower-case hex digits>');
const descriptor = z.object({
  mediaType: z.string().min(1),
  digest,
  size: z.number().int().nonnegative(),
  platform: z.object({ os: z.string(), architecture: z.string(), variant: z.string().optional() }).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});
const indexSchema = z.object({ schemaVersion: z.literal(2), manifests: z.array(descriptor) });
const manifestSchema = z.object({ schemaVersion: z.literal(2), config: descriptor, layers: z.array(descriptor) });

const strings = z.array(z.string()).nullish();
const configSchema = z.object({
  os: z.string(),
  architecture: z.string().optional(),
  config: z
    .object({
      Entrypoint: strings,
      Cmd: strings,
      Env: strings,
      WorkingDir: z.string().nullish(),
      User: z.string().nullish(),
      StopSignal: z.string().nullish(),
      Labels: z.record(z.string(), z.string()).nullish(),
      ExposedPorts: z.record(z.string(), z.unknown()).nullish(),
    })
    .nullish(),
});

function invalid(what: string, problems: string[]): StarlingError {
  return new StarlingError('ERR_IMAGE_MANIFEST', `${what} is not valid: ${problems.join('; ')}`, { fault: 'user' });
}

function issues(error: z.ZodError): string[] {
  return error.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : '(top)'} ${i.message}`);
}

function json(bytes: Buffer, what: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8')) as unknown;
  } catch (e) {
    throw invalid(what, [`not JSON (${(e as Error).message})`]);
  }
}

const baseType = (contentType: string): string => contentType.split(';')[0]!.trim().toLowerCase();

function schema1(): StarlingError {
  return new StarlingError('ERR_IMAGE_MEDIA_TYPE', 'the image is a Docker schema 1 manifest, which Starling does not run (it has no content-addressed config)', {
    fault: 'user',
    hint: 'push the image again with a current docker, buildah or skopeo (they write schema 2 or OCI manifests)',
  });
}

/**
 * An index (OCI index or Docker manifest list) or one platform's manifest. The body's own
 * `mediaType` wins over the Content-Type (registries often answer `application/json`); with
 * neither, the shape decides.
 */
export function parseManifest(bytes: Buffer, contentType: string): ParsedManifest {
  const doc = json(bytes, 'the manifest');
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw invalid('the manifest', ['(top) is not a JSON object']);
  const body = doc as Record<string, unknown>;
  const declared = typeof body['mediaType'] === 'string' ? body['mediaType'] : undefined;
  const header = baseType(contentType);
  if (body['schemaVersion'] === 1 || SCHEMA1_TYPES.includes(declared ?? header)) throw schema1();
  let type = declared ?? ([...INDEX_TYPES, ...MANIFEST_TYPES].includes(header) ? header : undefined);
  type ??= 'manifests' in body ? MEDIA_TYPES.ociIndex : MEDIA_TYPES.ociManifest;

  if (INDEX_TYPES.includes(type)) {
    const r = indexSchema.safeParse(body);
    if (!r.success) throw invalid('the image index', issues(r.error));
    return { kind: 'index', manifests: r.data.manifests.map(cleanDescriptor) };
  }
  if (!MANIFEST_TYPES.includes(type)) {
    throw new StarlingError('ERR_IMAGE_MEDIA_TYPE', `the manifest's media type ${type} is not an image manifest or index Starling runs`, { fault: 'user' });
  }
  const r = manifestSchema.safeParse(body);
  if (!r.success) throw invalid('the image manifest', issues(r.error));
  const problems: string[] = [];
  if (!CONFIG_TYPES.includes(r.data.config.mediaType)) problems.push(`config has media type ${r.data.config.mediaType}, not an image config`);
  r.data.layers.forEach((l, i) => {
    if (!LAYER_TYPES.includes(l.mediaType)) problems.push(`layers.${i} has media type ${l.mediaType}`);
  });
  if (problems.length > 0) {
    throw new StarlingError('ERR_IMAGE_MEDIA_TYPE', `the image manifest holds content Starling does not run: ${problems.join('; ')}`, {
      fault: 'user',
      hint: `layers must be one of ${LAYER_TYPES.join(', ')} (foreign and non-distributable layers are not fetched)`,
    });
  }
  return { kind: 'manifest', manifest: { mediaType: type, config: cleanDescriptor(r.data.config), layers: r.data.layers.map(cleanDescriptor) } };
}

/** Drops absent optional fields, so values compare equal to literals under exactOptionalPropertyTypes. */
function cleanDescriptor(d: z.infer<typeof descriptor>): Descriptor {
  const out: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (d.platform) out.platform = { os: d.platform.os, architecture: d.platform.architecture, ...(d.platform.variant !== undefined ? { variant: d.platform.variant } : {}) };
  if (d.annotations) out.annotations = d.annotations;
  return out;
}

/** The index entry for `want` (linux/amd64 by default); attestation entries (platform unknown/unknown) never match. */
export function pickPlatform(manifests: Descriptor[], want: { os: string; architecture: string; variant?: string } = { os: 'linux', architecture: 'amd64' }): Descriptor {
  const found = manifests.find(
    (m) =>
      m.platform?.os === want.os &&
      m.platform.architecture === want.architecture &&
      (want.variant === undefined || m.platform.variant === want.variant) &&
      !INDEX_TYPES.includes(m.mediaType),
  );
  if (found) return found;
  const offered = manifests.map((m) => (m.platform ? [m.platform.os, m.platform.architecture, m.platform.variant].filter(Boolean).join('/') : '(no platform)'));
  const wanted = [want.os, want.architecture, want.variant].filter(Boolean).join('/');
  throw new StarlingError('ERR_IMAGE_PLATFORM', `the image index has no ${wanted} image; it offers: ${offered.length > 0 ? offered.join(', ') : 'nothing'}`, {
    fault: 'user',
    hint: `build the image for ${wanted} (docker buildx build --platform ${wanted})`,
  });
}

/** What the image config says to run (OCI config.md `config`), with the defaults filled in. */
export function parseImageConfig(bytes: Buffer): ImageRun {
  const r = configSchema.safeParse(json(bytes, 'the image config'));
  if (!r.success) throw invalid('the image config', issues(r.error));
  if (r.data.os !== 'linux') throw new StarlingError('ERR_IMAGE_PLATFORM', `the image is for ${r.data.os}, not linux`, { fault: 'user' });
  const c = r.data.config ?? {};
  const env: Record<string, string> = {};
  const problems: string[] = [];
  for (const [i, kv] of (c.Env ?? []).entries()) {
    const eq = kv.indexOf('=');
    if (eq <= 0) problems.push(`config.Env.${i} ${JSON.stringify(kv)} is not KEY=VALUE`);
    else env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const ports = new Set<number>();
  for (const key of Object.keys(c.ExposedPorts ?? {})) {
    const m = /^(\d{1,5})(?:\/(tcp|udp|sctp))?$/i.exec(key);
    const port = m ? Number(m[1]) : NaN;
    if (!m || port < 1 || port > 65535) problems.push(`config.ExposedPorts ${JSON.stringify(key)} is not PORT[/PROTOCOL]`);
    else if ((m[2] ?? 'tcp').toLowerCase() === 'tcp') ports.add(port);
  }
  const workdir = c.WorkingDir || '/';
  if (!workdir.startsWith('/')) problems.push(`config.WorkingDir ${JSON.stringify(workdir)} is not an absolute path`);
  if (problems.length > 0) throw invalid('the image config', problems);
  const run: ImageRun = {
    entrypoint: c.Entrypoint ?? [],
    cmd: c.Cmd ?? [],
    env,
    workdir,
    user: c.User ?? '',
    labels: c.Labels ?? {},
    exposedPorts: [...ports].sort((a, b) => a - b),
  };
  if (c.StopSignal) run.stopSignal = c.StopSignal;
  return run;
}
