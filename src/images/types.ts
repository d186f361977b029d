/**
 * What an OCI image is, to Starling: a reference (where it lives), descriptors (content by digest),
 * the manifest of one platform's image, and what its config says to run. Shared by the registry
 * client, the host image store, the control plane's registry and the CLI. Digests are
 * `sha256:<64 hex>` everywhere.
 */
import type { ImageCommand } from '../contract/index.js';

/** `[registry/]repository[:tag][@digest]`, filled in: `python:3.12` is docker.io/library/python:3.12. */
export interface ImageRef {
  /** host[:port]; `docker.io` for Docker Hub. */
  registry: string;
  /** Path components joined by `/`, e.g. `library/python`. */
  repository: string;
  tag?: string | undefined;
  digest?: string | undefined;
}

/** A piece of content by digest (OCI descriptor). */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string; variant?: string | undefined } | undefined;
  annotations?: Record<string, string> | undefined;
}

/** One platform's image: its config blob and its layers, bottom first. */
export interface ImageManifest {
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
}

/** What the image's config says to run (the contract's ImageCommand), with the defaults filled in. */
export interface ImageRun extends ImageCommand {
  labels: Record<string, string>;
  exposedPorts: number[];
}

/** The label a quick-start image (a directory or .tar.gz) carries: run on the host's /usr, the layer at /app. */
export const HOST_BASE_LABEL = 'dev.starling.base';
