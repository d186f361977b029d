/**
 * The control plane copying images from other registries (POST /v1/apps/{app}/images) and keeping
 * the apps' registry logins, against a real control plane and a real docker-registry (htpasswd):
 * an index becomes its linux/amd64 image; an image over the platform's limit is refused before
 * any blob is downloaded; an unknown tag, a bad reference and a refused login each get their own
 * code in one line; a login is answered without its password, stored sealed (the password is
 * nowhere in the store), used for the copy, and removed with `DELETE` and with its app.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startLoopbackControl, type LoopbackControl } from '../helpers/control.js';
import { imageBuilder, type ImageBuilder } from '../helpers/oci-images.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

const LIMIT = 4 * 1024 * 1024; // busybox (1 MiB) fits; the python image (its interpreter, libraries and stdlib) does not
let c: LoopbackControl;
let registry: TestRegistry;
let images: ImageBuilder;

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const res = await fetch(`${c.url}${path}`, { method, headers: { authorization: `Bearer ${c.token}`, 'content-type': 'application/json' }, body: body === undefined ? null : JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

const blobsHeld = (): string[] => {
  try {
    return readdirSync(join(c.dir, 'images', 'registry', 'blobs', 'sha256')).sort();
  } catch {
    return [];
  }
};

describe('images copied from other registries, and registry logins', { timeout: 300_000 }, () => {
  before(async () => {
    [c, registry, images] = await Promise.all([startLoopbackControl('starling-image-import-', undefined, { maxImageBytes: LIMIT }), startRegistry({ auth: 'htpasswd' }), imageBuilder()]);
    for (const app of ['small', 'big']) assert.equal((await api('POST', '/v1/apps', { name: app, primary_region: 'fra' })).status, 201);
  });
  after(async () => {
    await Promise.all([c?.close(), registry?.stop(), images?.stop()]);
  });

  it('a login is answered without its password, stored sealed, and removed', async () => {
    const put = await api('PUT', `/v1/apps/small/registries/${registry.host}`, { username: registry.username, password: registry.password });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.deepEqual([put.body.registry, put.body.username, 'password' in put.body], [registry.host, registry.username, false]);
    const stored = JSON.stringify((await c.store.list('registry_logins')).map((e) => e.value));
    assert.ok(!stored.includes(registry.password!), 'the password is not in the store in clear');
    assert.deepEqual((await api('GET', '/v1/apps/small/registries')).body.registries.map((r: { registry: string }) => r.registry), [registry.host]);
    assert.equal((await api('PUT', '/v1/apps/small/registries/not a host', { username: 'u', password: 'p' })).body.error.code, 'ERR_IMAGE_REF');
  });

  it("an index is copied as its linux/amd64 image, with the app's login; every blob lands in the app's repository", async () => {
    const idx = await images.index(registry.host, 'multi', { username: registry.username!, password: registry.password! });
    const r = await api('POST', '/v1/apps/small/images', { ref: `${registry.host}/multi:latest` });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.digest, idx.platforms.amd64?.digest, 'the amd64 manifest, not the index');
    assert.notEqual(r.body.digest, idx.digest);
    const manifest = await fetch(`${c.url}/v2/small/manifests/${r.body.digest}`, { headers: { authorization: `Bearer ${c.token}` } });
    assert.equal(manifest.status, 200);
    const again = await api('POST', '/v1/apps/small/images', { ref: `${registry.host}/multi:latest` });
    assert.deepEqual([again.status, again.body.digest, again.body.copied], [200, r.body.digest, 0], 'nothing copied twice');
  });

  it('an image over the limit is refused before a blob is downloaded; unknown tags, bad refs and refused logins each say so', async () => {
    const big = await images.python(registry.host, { auth: { username: registry.username!, password: registry.password! } });
    await api('PUT', `/v1/apps/big/registries/${registry.host}`, { username: registry.username, password: registry.password });
    const held = blobsHeld();
    const tooBig = await api('POST', '/v1/apps/big/images', { ref: `${registry.host}/${big.ref.repository}@${big.digest}` });
    assert.deepEqual([tooBig.status, tooBig.body.error.code], [413, 'ERR_IMAGE_TOO_LARGE']);
    assert.match(tooBig.body.error.message, /max_image_bytes/);
    assert.deepEqual(blobsHeld(), held, 'no blob downloaded');
    const unknown = await api('POST', '/v1/apps/big/images', { ref: `${registry.host}/nothing:here` });
    assert.deepEqual([unknown.status, unknown.body.error.code], [404, 'ERR_REGISTRY_NOT_FOUND']);
    const bad = await api('POST', '/v1/apps/big/images', { ref: `${registry.host}/app:bad!tag` });
    assert.deepEqual([bad.status, bad.body.error.code], [400, 'ERR_IMAGE_REF']);
    assert.equal((await api('DELETE', `/v1/apps/big/registries/${registry.host}`)).body.removed, true);
    const refused = await api('POST', '/v1/apps/big/images', { ref: `${registry.host}/multi:latest` });
    assert.deepEqual([refused.status, refused.body.error.code], [401, 'ERR_REGISTRY_AUTH']);
    assert.ok(!JSON.stringify(refused.body).includes(registry.password!));
  });

  it("an app's logins and repository go with the app", async () => {
    assert.equal((await api('DELETE', '/v1/apps/small')).status, 200);
    assert.deepEqual(await c.store.list('registry_logins', { prefix: 'small.' }), []);
    assert.equal((await api('POST', '/v1/apps', { name: 'small', primary_region: 'fra' })).status, 201);
    assert.deepEqual((await api('GET', '/v1/apps/small/registries')).body.registries, []);
    const res = await fetch(`${c.url}/v2/small/tags/list`, { headers: { authorization: `Bearer ${c.token}` } });
    const body = (await res.json()) as { tags?: string[] | null; errors?: unknown[] };
    assert.ok(res.status === 404 || (body.tags ?? []).length === 0, `a new app of the name starts with an empty repository: ${JSON.stringify(body)}`);
  });
});
