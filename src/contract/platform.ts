/**
 * Platform-wide defaults that the control plane, the agents and the CLI must agree on: where apps
 * are served and how large one image may be. The control plane's control.toml can change both;
 * the CLI asks it (GET /v1/images, GET /v1/apps/{app}) and falls back to these.
 */

/** Each app is served at `<app>.<apps_domain>` (agent.toml [control] and control.toml apps_domain). */
export const DEFAULT_APPS_DOMAIN = 'starling.test';

/** A DNS name of lower-case labels, as apps_domain must be. */
export const APPS_DOMAIN_RE = /^(?=.{1,190}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** The largest image upload the control plane takes by default (control.toml limits.max_image_bytes): 1 GiB. */
export const DEFAULT_MAX_IMAGE_BYTES = 1 << 30;
