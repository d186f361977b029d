/**
 * The registry's pure rules, I/O-free: which names, tags, digests and references it takes, what a
 * manifest pushed to it must be (OCI or Docker schema 2 manifest or index; schema 1 refused) and
 * what it references, the credentials in an Authorization header, and the registry's own error
 * envelope (distribution-spec: `{ errors: [{ code, message, detail }] }`), which registry clients read.
 */
import { DIGEST_RE } from '../../contract/index.js';
import { StarlingError } from '../../shared/index.js';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const DOCKER_SCHEMA1 = /^application\/vnd\.docker\.distribution\.manifest\.v1\+(prettyjws|json)$/;

/** The manifest media types the registry stores: index types reference manifests, the others blobs. */
export const MANIFEST_MEDIA_TYPES: readonly string[] = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST];
const isIndex = (t: string): boolean => t === OCI_INDEX || t === DOCKER_LIST;

export const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
/** The largest manifest taken (the spec suggests at least 4 MiB be accepted). */
export const MAX_MANIFEST_BYTES = 4 << 20;

/** The hex of a `sha256:<hex>` digest; undefined when it is not one. */
export function digestHex(digest: string): string | undefined {
  return DIGEST_RE.exec(digest)?.[1];
}

/** A manifest reference: a digest or a tag. */
export function parseReference(ref: string): { digest: string } | { tag: string } | undefined {
  if (DIGEST_RE.test(ref)) return { digest: ref };
  return TAG_RE.test(ref) ? { tag: ref } : undefined;
}

export interface ParsedManifest {
  mediaType: string;
  /** What must be in the repository before this manifest is taken. */
  blobs: string[];
  manifests: string[];
}

const invalid = (message: string): StarlingError => new StarlingError('ERR_REGISTRY_MANIFEST', message, { fault: 'user' });

/**
 * Checks a pushed manifest: JSON, a media type the registry takes (the document's own, else the
 * request's Content-Type, and the two must agree), its descriptors well-formed. Throws
 * ERR_REGISTRY_MANIFEST; answers what it references.
 */
export function parseManifest(bytes: Buffer, contentType: string | undefined): ParsedManifest {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw invalid('the manifest is not valid JSON');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw invalid('the manifest is not a JSON object');
  const m = doc as Record<string, unknown>;
  const declared = typeof m.mediaType === 'string' ? m.mediaType : undefined;
  const header = contentType?.split(';')[0]!.trim().toLowerCase();
  const mediaType = declared ?? header;
  if (m.schemaVersion === 1 || (mediaType !== undefined && DOCKER_SCHEMA1.test(mediaType))) throw invalid('Docker schema 1 manifests are not taken: push the image as OCI or Docker schema 2');
  if (m.schemaVersion !== 2) throw invalid('the manifest has no schemaVersion 2');
  if (mediaType === undefined || !MANIFEST_MEDIA_TYPES.includes(mediaType)) throw invalid(`the manifest's media type ${JSON.stringify(mediaType ?? '')} is not an OCI or Docker schema 2 manifest or index`);
  if (declared !== undefined && header !== undefined && header !== declared && header !== 'application/json') {
    throw invalid(`the Content-Type ${header} is not the manifest's mediaType ${declared}`);
  }
  const descriptor = (d: unknown, where: string): string => {
    const x = d as Record<string, unknown> | null;
    if (typeof x !== 'object' || x === null || typeof x.mediaType !== 'string' || typeof x.digest !== 'string' || !DIGEST_RE.test(x.digest) || !Number.isSafeInteger(x.size) || (x.size as number) < 0) {
      throw invalid(`${where} is not a descriptor with a mediaType, a sha256 digest and a size`);
    }
    return x.digest;
  };
  if (isIndex(mediaType)) {
    if (!Array.isArray(m.manifests)) throw invalid('the index has no manifests list');
    return { mediaType, blobs: [], manifests: m.manifests.map((d, i) => descriptor(d, `manifests[${i}]`)) };
  }
  if (!Array.isArray(m.layers)) throw invalid('the manifest has no layers list');
  const blobs = [descriptor(m.config, 'config'), ...m.layers.map((d, i) => descriptor(d, `layers[${i}]`))];
  return { mediaType, blobs, manifests: [] };
}

/** The token in `Authorization: Basic base64(user:token)` (any user name) or `Bearer <token>`. */
export function credentialOf(header: string | undefined): string | undefined {
  const bearer = /^Bearer +(\S+) *$/i.exec(header ?? '');
  if (bearer) return bearer[1];
  const basic = /^Basic +([A-Za-z0-9+/=]+) *$/i.exec(header ?? '');
  if (!basic) return undefined;
  const text = Buffer.from(basic[1]!, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  const token = colon < 0 ? '' : text.slice(colon + 1);
  return token === '' ? undefined : token;
}

/** The registry's error codes (distribution-spec, "Error Codes"), and their HTTP status. */
export const REGISTRY_ERRORS = {
  BLOB_UNKNOWN: 404,
  BLOB_UPLOAD_INVALID: 400,
  BLOB_UPLOAD_UNKNOWN: 404,
  DIGEST_INVALID: 400,
  MANIFEST_BLOB_UNKNOWN: 400,
  MANIFEST_INVALID: 400,
  MANIFEST_UNKNOWN: 404,
  NAME_INVALID: 400,
  NAME_UNKNOWN: 404,
  SIZE_INVALID: 400,
  UNAUTHORIZED: 401,
  DENIED: 403,
  UNSUPPORTED: 405,
  TOOMANYREQUESTS: 429,
} as const;
export type RegistryErrorCode = keyof typeof REGISTRY_ERRORS;

export function registryError(code: RegistryErrorCode, message: string, detail?: unknown): { status: number; body: { errors: { code: string; message: string; detail: unknown }[] } } {
  return { status: REGISTRY_ERRORS[code], body: { errors: [{ code, message, detail: detail ?? null }] } };
}

/** What a storage error is, in the registry's words. */
export function registryCodeFor(e: unknown): RegistryErrorCode | undefined {
  if (!(e instanceof StarlingError)) return undefined;
  switch (e.code) {
    case 'ERR_IMAGE_DIGEST':
      return 'DIGEST_INVALID';
    case 'ERR_IMAGE_TOO_LARGE':
      return 'SIZE_INVALID';
    case 'ERR_REGISTRY_MANIFEST':
      return 'MANIFEST_INVALID';
    case 'ERR_REGISTRY_MANIFEST_BLOB':
      return 'MANIFEST_BLOB_UNKNOWN';
    case 'ERR_REGISTRY_NAME':
      return 'NAME_INVALID';
    case 'ERR_REGISTRY_NOT_FOUND':
      return 'MANIFEST_UNKNOWN';
    default:
      return undefined;
  }
}
