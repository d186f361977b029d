/**
 * Image references, normalised as Docker does (github.com/distribution/reference, "normalize.go"
 * and "regexp.go"): `python:3.12` is docker.io/library/python:3.12. The first path component is a
 * registry when it holds a `.` or a `:`, is `localhost`, or has upper-case letters (a repository
 * component may not); otherwise the registry is Docker Hub, where a one-component name gets
 * `library/`. A reference with neither tag nor digest gets the tag `latest`; one with a digest
 * keeps the tag only if written (the digest is what is pulled, the tag is for people).
 */
import { StarlingError } from '../shared/index.js';
import type { ImageRef } from './types.js';

export const DOCKER_HUB = 'docker.io';
const LEGACY_HUB = 'index.docker.io';
const DEFAULT_TAG = 'latest';
/** Docker's cap on the name (registry/repository) part. */
const MAX_NAME = 255;

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;
const HOST_LABEL = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const REGISTRY = new RegExp(`^(?:${HOST_LABEL}(?:\\.${HOST_LABEL})*|\\[[0-9a-fA-F:.]+\\])(?::[0-9]{1,5})?$`);

function bad(text: string, what: string): StarlingError {
  return new StarlingError('ERR_IMAGE_REF', `image reference ${JSON.stringify(text)}: ${what}`, {
    fault: 'user',
    hint: 'write [registry/]repository[:tag][@sha256:<64 hex digits>], e.g. python:3.12 or ghcr.io/acme/web@sha256:…',
  });
}

export function parseImageRef(text: string): ImageRef {
  if (text === '') throw bad(text, 'it is empty');
  if (/\s/.test(text)) throw bad(text, 'it holds white space');
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw bad(text, `the digest ${JSON.stringify(digest)} is not sha256: and 64 lower-case hex digits`);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(text, `the tag ${JSON.stringify(tag)} is not 1-128 of letters, digits, '_', '.', '-' (not starting with '.' or '-')`);
  }
  if (rest === '') throw bad(text, 'it names no repository');
  let registry = DOCKER_HUB;
  let repository = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (/[.:]/.test(first) || first === 'localhost' || first !== first.toLowerCase()) {
      registry = first;
      repository = rest.slice(slash + 1);
      if (!REGISTRY.test(registry)) throw bad(text, `the registry ${JSON.stringify(registry)} is not host[:port]`);
      if (repository === '') throw bad(text, 'it names no repository after the registry');
    }
  }
  if (registry === LEGACY_HUB) registry = DOCKER_HUB;
  for (const component of repository.split('/')) {
    if (component === '') throw bad(text, 'the repository has an empty path component');
    if (component !== component.toLowerCase()) throw bad(text, `the repository component ${JSON.stringify(component)} must be lower-case`);
    if (!COMPONENT.test(component)) {
      throw bad(text, `the repository component ${JSON.stringify(component)} is not lower-case letters and digits joined by '.', '_', '__' or '-'`);
    }
  }
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;
  if (`${registry}/${repository}`.length > MAX_NAME) throw bad(text, `the name is longer than ${MAX_NAME} characters`);
  if (tag === undefined && digest === undefined) tag = DEFAULT_TAG;
  const ref: ImageRef = { registry, repository };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** The canonical, fully qualified text: `docker.io/library/python:3.12`, `host:5000/a/b:1@sha256:…`. */
export function formatImageRef(r: ImageRef): string {
  return `${r.registry}/${r.repository}${r.tag !== undefined ? `:${r.tag}` : ''}${r.digest !== undefined ? `@${r.digest}` : ''}`;
}

/** Where a registry's API is: Docker Hub's is not at docker.io. */
export function registryHost(registry: string): string {
  return registry === DOCKER_HUB || registry === LEGACY_HUB ? 'registry-1.docker.io' : registry;
}
