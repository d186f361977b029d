/**
 * Images from other registries. `POST /v1/apps/{app}/images { ref }` resolves a reference (a tag
 * or a digest; an index becomes its linux/amd64 image) and copies the image — config, layers and
 * manifest — into the app's repository of the platform registry (/v2/<app>), checking every blob
 * by its digest; the answer is the manifest digest a release pins. `{ tag }` instead names what is
 * already in the app's repository (a `buildah push` or `skopeo copy` to /v2/<app>:<tag>).
 *
 * Why copy, rather than let each host pull from the source: hosts then need only the platform
 * registry and their own credential, registry passwords never leave the control plane, a tag
 * moved or an image deleted upstream does not change what a release runs, and a registry that is
 * down fails the deploy here, in one line, while the running release keeps serving.
 *
 * Registry logins (`PUT /v1/apps/{app}/registries/{registry}`) are the app's, sealed under the
 * secrets key exactly as secrets are (bound to app and registry); answers show the username only.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { z } from 'zod';
import { formatImageRef, parseImageRef, RegistryClient, type ImageRef } from '../../images/index.js';
import { DEFAULT_MAX_IMAGE_BYTES } from '../../contract/index.js';
import { seal, unseal } from '../../shared/index.js';
import { repositoryOwner, type RegistryStorage } from '../registry/index.js';
import { getApp } from './apps.js';
import { HttpError, json, route, type Route } from './http.js';
import type { ApiContext } from './schemas.js';

const ImportImage = z.union([z.strictObject({ ref: z.string().min(1).max(512) }), z.strictObject({ tag: z.string().regex(/^[\w][\w.-]{0,127}$/, 'is not a tag') })]);
const Login = z.strictObject({ username: z.string().min(1).max(256), password: z.string().min(1).max(8192) });
/** host[:port], as an image reference spells a registry. */
const REGISTRY_RE = /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)(?:\.(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?))*(?::\d{1,5})?$|^\[[0-9a-f:]+\](?::\d{1,5})?$/;

interface LoginDoc {
  app: string;
  registry: string;
  username: string;
  /** The password, sealed (src/shared/sealed.ts) with aad `registry:<app>:<registry>`. */
  sealed: string;
  updated_at: string;
}

const loginKey = (app: string, registry: string): string => `${app}.${createHash('sha256').update(registry).digest('hex').slice(0, 24)}`;
const aad = (app: string, registry: string): Buffer => Buffer.from(`registry:${app}:${registry}`);

export interface ImportedImage {
  digest: string;
  ref: string;
  size: number;
  copied: number;
}

export function imageImportRoutes(ctx: ApiContext, registry: RegistryStorage): Route[] {
  const { store } = ctx;
  // The limit of every image upload (images.ts): checked here before any blob is downloaded.
  const max = ctx.maxImageBytes ?? DEFAULT_MAX_IMAGE_BYTES;

  async function credentialsFor(app: string, host: string): Promise<{ username: string; password: string } | undefined> {
    const doc = (await store.get('registry_logins', loginKey(app, host)))?.value as LoginDoc | undefined;
    if (!doc) return undefined;
    const opened = unseal(ctx.secretsKey, aad(app, host), doc.sealed);
    if (!opened.ok) throw new HttpError(500, 'ERR_SECRETS_DECRYPT', `the login for ${host} cannot be opened (${opened.why}): log in again`);
    return { username: doc.username, password: opened.text };
  }

  async function importRef(app: string, text: string): Promise<ImportedImage> {
    let ref: ImageRef;
    try {
      ref = parseImageRef(text);
    } catch (e) {
      throw new HttpError(400, 'ERR_IMAGE_REF', (e as Error).message);
    }
    const creds = await credentialsFor(app, ref.registry);
    const c = new RegistryClient({ credentials: (host) => (host === ref.registry ? creds : undefined) });
    const image = await c.resolve(ref);
    const blobs = [image.manifest.config, ...image.manifest.layers];
    const size = blobs.reduce((n, d) => n + d.size, 0);
    if (size > max) {
      throw new HttpError(413, 'ERR_IMAGE_TOO_LARGE', `image ${formatImageRef(ref)} is ${size} bytes; this platform takes images of at most ${max} bytes (control.toml limits.max_image_bytes)`);
    }
    // A repository left by a destroyed app of this name is not this app's: claim (and empty) it first.
    await registry.claimRepository(app, repositoryOwner((await getApp(ctx, app)).value));
    let copied = 0;
    for (const d of blobs) {
      if (await registry.hasBlob(app, d.digest)) continue;
      const { body } = await c.blob(ref, d.digest);
      await registry.putBlob(app, d.digest, Readable.fromWeb(body), d.size);
      copied++;
    }
    const digest = await registry.putManifest(app, image.digest, image.manifestBytes, image.mediaType);
    ctx.logger.info('image imported', { app, ref: formatImageRef(ref), digest, size, copied });
    return { digest, ref: formatImageRef({ ...ref, digest: undefined }), size, copied };
  }

  return [
    route({
      method: 'POST',
      path: '/v1/apps/{app}/images',
      access: 'deploy',
      summary: "Copy an image into the app's repository of the platform registry (`ref`: from another registry; `tag`: already pushed to /v2/<app>); answers the digest a release pins",
      requestSchema: ImportImage,
      responses: { '200': '{ digest, ref, size, copied }', '400': 'ERR_IMAGE_REF, ERR_IMAGE_PLATFORM, ERR_IMAGE_MEDIA_TYPE', '401': 'ERR_REGISTRY_AUTH', '404': 'ERR_REGISTRY_NOT_FOUND', '413': 'ERR_IMAGE_TOO_LARGE', '502': 'ERR_REGISTRY_UNREACHABLE, ERR_REGISTRY' },
      async handler({ params, body }) {
        const app = params.app!;
        if ('tag' in body) {
          const m = await registry.getManifest(app, body.tag);
          if (!m) throw new HttpError(404, 'ERR_REGISTRY_NOT_FOUND', `the platform registry has no ${app}:${body.tag}: push it first (buildah push … docker://<control>/${app}:${body.tag})`);
          return json(200, { digest: m.digest, ref: `${app}:${body.tag}`, size: m.bytes.length, copied: 0 });
        }
        return json(200, await importRef(app, body.ref));
      },
    }),
    route({
      method: 'PUT',
      path: '/v1/apps/{app}/registries/{registry}',
      access: 'deploy',
      summary: "Store the app's login for a registry (sealed; the password is never answered)",
      requestSchema: Login,
      responses: { '200': '{ registry, username, updated_at }' },
      async handler({ params, body }) {
        const app = params.app!;
        const host = checkRegistry(params.registry!);
        const doc: LoginDoc = { app, registry: host, username: body.username, sealed: seal(ctx.secretsKey, aad(app, host), body.password), updated_at: new Date(ctx.clock.now()).toISOString() };
        await store.put('registry_logins', loginKey(app, host), doc);
        ctx.logger.info('registry login stored', { app, registry: host });
        return json(200, view(doc));
      },
    }),
    route({
      method: 'GET',
      path: '/v1/apps/{app}/registries',
      access: 'read',
      summary: "The app's registry logins (registry and username)",
      responses: { '200': '{ registries: [{ registry, username, updated_at }] }' },
      async handler({ params }) {
        const docs = (await store.list('registry_logins', { prefix: `${params.app!}.` })).map((e) => e.value as LoginDoc);
        return json(200, { registries: docs.map(view).sort((a, b) => a.registry.localeCompare(b.registry)) });
      },
    }),
    route({
      method: 'DELETE',
      path: '/v1/apps/{app}/registries/{registry}',
      access: 'deploy',
      summary: "Forget the app's login for a registry",
      responses: { '200': '{ registry, removed }' },
      async handler({ params }) {
        const app = params.app!;
        const host = checkRegistry(params.registry!);
        const removed = await store.delete('registry_logins', loginKey(app, host));
        return json(200, { registry: host, removed: removed !== undefined });
      },
    }),
  ];
}

function checkRegistry(text: string): string {
  const host = text.toLowerCase();
  if (!REGISTRY_RE.test(host)) throw new HttpError(400, 'ERR_IMAGE_REF', `${JSON.stringify(text.slice(0, 100))} is not a registry host[:port]`);
  return host;
}

const view = (d: LoginDoc): { registry: string; username: string; updated_at: string } => ({ registry: d.registry, username: d.username, updated_at: d.updated_at });
