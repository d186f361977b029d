/**
 * RegistryClient against Debian's real docker-registry (distribution v2.8), with images built by
 * buildah: pull by tag and by digest through an index, blobs that hash to their digests (gzip and
 * zstd layers, a whiteout), pushes that skopeo reads back, Basic and token auth, and the errors of
 * a wrong password, a registry that is down and an unknown tag. One scripted server checks that a
 * blob redirect to another host gets no Authorization.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { gunzipSync, zstdDecompressSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { MEDIA_TYPES, RegistryClient, type ImageRef, type ResolvedImage } from '../../src/images/index.js';
import { isStarlingError } from '../../src/shared/index.js';
import { imageBuilder, type BuiltImage, type ImageBuilder } from '../helpers/oci-images.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

const run = promisify(execFile);
const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const code = (c: string, re?: RegExp) => (e: unknown) => isStarlingError(e) && e.code === c && (re === undefined || re.test(e.message)) && !e.message.includes('\n');

async function blobBytes(client: RegistryClient, ref: ImageRef, digest: string): Promise<Buffer> {
  const { body } = await client.blob(ref, digest);
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

async function skopeoInspect(ref: string, extra: string[] = []): Promise<Record<string, unknown>> {
  const { stdout } = await run('skopeo', ['inspect', '--tls-verify=false', ...extra, `docker://${ref}`]);
  return JSON.parse(stdout) as Record<string, unknown>;
}

let images: ImageBuilder;
let open: TestRegistry;
let busybox: BuiltImage;
const client = new RegistryClient();

before(async () => {
  images = await imageBuilder();
  open = await startRegistry();
  busybox = await images.busybox(open.host);
});
after(async () => {
  await open?.stop();
  await images?.stop();
});

describe('pull from an open registry', () => {
  it('resolves a tag: the manifest buildah pushed, its config verified and read', async () => {
    const r = await client.resolve(busybox.ref);
    assert.equal(r.digest, busybox.digest);
    assert.equal(sha(r.manifestBytes), busybox.digest);
    assert.equal(r.mediaType, MEDIA_TYPES.ociManifest);
    assert.equal(r.indexDigest, undefined);
    assert.equal(sha(r.configBytes), r.manifest.config.digest);
    assert.deepEqual(r.run, {
      entrypoint: [],
      cmd: ['/usr/bin/busybox', 'echo', 'hello from busybox'],
      env: { GREETING: 'hello', PATH: '/usr/bin' },
      workdir: '/srv',
      user: '',
      stopSignal: 'SIGINT',
      labels: (await skopeoInspect(`${open.host}/busybox:latest`, ['--config']) as { config: { Labels: Record<string, string> } }).config.Labels,
      exposedPorts: [8080],
    });
    assert.equal(r.run.labels['org.example.test'], 'busybox');
    const again = await client.resolve({ ...busybox.ref, tag: undefined, digest: busybox.digest });
    assert.equal(again.digest, busybox.digest);
  });

  it('follows an index to linux/amd64, by tag and by the index digest; another platform when asked', async () => {
    const idx = await images.index(open.host);
    const raw = JSON.parse((await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${open.host}/${idx.ref.repository}:latest`])).stdout) as {
      manifests: { digest: string; platform: { architecture: string } }[];
    };
    const want = (arch: string) => raw.manifests.find((m) => m.platform.architecture === arch)!.digest;
    const byTag = await client.resolve(idx.ref);
    const byDigest = await client.resolve({ registry: open.host, repository: idx.ref.repository, digest: idx.digest });
    for (const r of [byTag, byDigest]) {
      assert.equal(r.indexDigest, idx.digest);
      assert.equal(r.digest, want('amd64'));
      assert.equal(sha(r.manifestBytes), want('amd64'));
      assert.equal(JSON.parse(r.configBytes.toString()).architecture, 'amd64');
    }
    const arm = await client.resolve(idx.ref, { platform: { os: 'linux', architecture: 'arm64' } });
    assert.equal(arm.digest, want('arm64'));
    await assert.rejects(client.resolve(idx.ref, { platform: { os: 'linux', architecture: 's390x' } }), code('ERR_IMAGE_PLATFORM', /offers: .*linux\/amd64/));
  });

  it('streams layers that hash to their digests: gzip layers with a whiteout, zstd layers', async () => {
    const multi = await client.resolve((await images.multiLayer(open.host)).ref);
    assert.ok(multi.manifest.layers.length >= 3, `${multi.manifest.layers.length} layers`);
    const layers: Buffer[] = [];
    for (const l of multi.manifest.layers) {
      const bytes = await blobBytes(client, multi.ref, l.digest);
      assert.equal(sha(bytes), l.digest);
      assert.equal(bytes.length, l.size);
      assert.equal(l.mediaType, MEDIA_TYPES.ociLayerGzip);
      layers.push(gunzipSync(bytes));
    }
    assert.ok(layers.at(-1)!.includes('data/.wh.gone.txt'), 'the last layer holds the whiteout of /data/gone.txt');
    assert.ok(layers.some((t) => t.includes('data/kept.txt')));

    const z = await client.resolve((await images.zstd(open.host)).ref);
    for (const l of z.manifest.layers) {
      assert.equal(l.mediaType, MEDIA_TYPES.ociLayerZstd);
      const bytes = await blobBytes(client, z.ref, l.digest);
      assert.equal(sha(bytes), l.digest);
      assert.ok(zstdDecompressSync(bytes).includes('usr/bin/busybox'));
    }
  });

  it('reads USER from a non-root image and runs the python image on its own /usr', async () => {
    assert.equal((await client.resolve((await images.nonRoot(open.host)).ref)).run.user, '1000:1000');
    const py = await images.python(open.host);
    const resolved = await client.resolve(py.ref);
    assert.deepEqual(resolved.run.cmd, ['/usr/bin/python3', '-c', "print('hello from python')"]);
    const ctr = (await images.buildah(['from', '--pull-never', py.local])).trim();
    const out = await images.buildah(['run', '--isolation', 'chroot', ctr, '--', '/usr/bin/python3', '-c', 'import json, http.server, sys; print(json.dumps(sys.prefix))']);
    assert.equal(out.trim(), '"/usr"');
  });

  it("other refusals are ERR_REGISTRY quoting the registry's message", async () => {
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociManifest, config: { mediaType: MEDIA_TYPES.ociConfig, digest: sha(Buffer.from('none')), size: 4 }, layers: [] }));
    await assert.rejects(client.pushManifest({ ...busybox.ref, tag: 'broken' }, manifest, MEDIA_TYPES.ociManifest), code('ERR_REGISTRY', /answered 400 .*: blob unknown to registry/));
  });

  it('an unknown tag or repository is ERR_REGISTRY_NOT_FOUND naming the ref', async () => {
    await assert.rejects(client.resolve({ ...busybox.ref, tag: 'no-such-tag' }), code('ERR_REGISTRY_NOT_FOUND', new RegExp(`${open.host}/busybox:no-such-tag`)));
    await assert.rejects(client.resolve({ registry: open.host, repository: 'nothing/here', tag: 'x' }), code('ERR_REGISTRY_NOT_FOUND', /nothing\/here:x/));
    await assert.rejects(client.blob(busybox.ref, `sha256:${'0'.repeat(64)}`), code('ERR_REGISTRY_NOT_FOUND'));
  });

  it('a registry that is down is ERR_REGISTRY_UNREACHABLE with the cause on one line', async () => {
    const gone = await startRegistry();
    await gone.stop();
    await assert.rejects(client.resolve({ registry: gone.host, repository: 'busybox', tag: 'latest' }), code('ERR_REGISTRY_UNREACHABLE', /ECONNREFUSED/));
  });
});

describe('push', () => {
  it('pushes blobs and a manifest that skopeo reads back; a blob already there is not sent again', async () => {
    const src: ResolvedImage = await client.resolve(busybox.ref);
    const seen: string[] = [];
    const recording = new RegistryClient({ fetch: (async (url: URL, init?: RequestInit) => (seen.push(`${init?.method} ${url.pathname}`), fetch(url, init))) as typeof fetch });
    const dest: ImageRef = { registry: open.host, repository: 'pushed/by-client', tag: 'v1' };
    const config = JSON.parse(src.configBytes.toString()) as { config: { Cmd: string[] } };
    config.config.Cmd = ['/usr/bin/busybox', 'echo', 'pushed by starling'];
    const configBytes = Buffer.from(JSON.stringify(config));
    const layer = src.manifest.layers[0]!;
    const layerBytes = await blobBytes(client, src.ref, layer.digest);
    await recording.pushBlob(dest, layer.digest, layer.size, () => Readable.from([layerBytes]));
    await recording.pushBlob(dest, sha(configBytes), configBytes.length, () => Readable.from([configBytes]));
    assert.ok(await recording.hasBlob(dest, layer.digest));
    seen.length = 0;
    await recording.pushBlob(dest, layer.digest, layer.size, () => assert.fail('the blob is there: nothing to open'));
    assert.deepEqual(seen, [`HEAD /v2/pushed/by-client/blobs/${layer.digest}`]);

    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociManifest, config: { mediaType: MEDIA_TYPES.ociConfig, digest: sha(configBytes), size: configBytes.length }, layers: [layer] }));
    const digest = await recording.pushManifest(dest, manifest, MEDIA_TYPES.ociManifest);
    assert.equal(digest, sha(manifest));
    const inspected = await skopeoInspect(`${open.host}/pushed/by-client:v1`);
    assert.equal(inspected['Digest'], digest);
    assert.deepEqual(inspected['Layers'], [layer.digest]);
    const cfg = await skopeoInspect(`${open.host}/pushed/by-client:v1`, ['--config']);
    assert.deepEqual((cfg['config'] as { Cmd: string[] }).Cmd, config.config.Cmd);
    assert.equal(await recording.pushManifest({ ...dest, tag: undefined, digest }, manifest, MEDIA_TYPES.ociManifest), digest);
    assert.equal((await client.resolve({ ...dest, tag: undefined, digest })).run.cmd[2], 'pushed by starling');
  });
});

describe('Basic auth (htpasswd)', () => {
  let reg: TestRegistry;
  let img: BuiltImage;
  before(async () => {
    reg = await startRegistry({ auth: 'htpasswd' });
    img = await images.busybox(reg.host, { auth: { username: reg.username!, password: reg.password! } });
  });
  after(() => reg?.stop());

  it('pulls and pushes with the credentials', async () => {
    const c = new RegistryClient({ credentials: (r) => (r === reg.host ? { username: reg.username!, password: reg.password! } : undefined) });
    const r = await c.resolve(img.ref);
    assert.equal(r.digest, img.digest);
    assert.equal(await c.pushManifest({ ...img.ref, tag: 'copy' }, r.manifestBytes, r.mediaType), img.digest);
  });

  it('a wrong password or none is ERR_REGISTRY_AUTH naming the registry, never the password', async () => {
    const wrong = 'not-the-password-' + reg.password!;
    const bad = new RegistryClient({ credentials: () => ({ username: reg.username!, password: wrong }) });
    await assert.rejects(bad.resolve(img.ref), (e) => code('ERR_REGISTRY_AUTH', new RegExp(reg.host))(e) && !(e as Error).message.includes(wrong) && !(e as Error).message.includes(reg.password!));
    await assert.rejects(new RegistryClient().resolve(img.ref), code('ERR_REGISTRY_AUTH', /none are configured/));
  });
});

describe('token auth', () => {
  let reg: TestRegistry;
  let img: BuiltImage;
  before(async () => {
    reg = await startRegistry({ auth: 'token' });
    img = await images.busybox(reg.host, { auth: { username: reg.username!, password: reg.password! } });
  });
  after(() => reg?.stop());

  it('gets a pull token for the repository, caches it, and a pull,push one to push', async () => {
    const c = new RegistryClient({ credentials: () => ({ username: reg.username!, password: reg.password! }) });
    const before = reg.requests!().length;
    const r = await c.resolve(img.ref);
    assert.equal(r.digest, img.digest);
    const asked = reg.requests!().slice(before);
    assert.deepEqual(asked, [{ service: 'starling-test-registry', scopes: ['repository:busybox:pull'], username: reg.username, granted: true }]);
    await c.resolve(img.ref);
    assert.equal(reg.requests!().length, before + 1, 'the cached token is used');
    await c.pushManifest({ ...img.ref, tag: 'copy' }, r.manifestBytes, r.mediaType);
    assert.deepEqual(reg.requests!().slice(before + 1).map((q) => q.scopes), [['repository:busybox:pull,push']]);
    assert.equal((await skopeoInspect(`${reg.host}/busybox:copy`, ['--authfile', images.authfile(reg.host, { username: reg.username!, password: reg.password! })]))['Digest'], img.digest);
  });

  it('a wrong password is ERR_REGISTRY_AUTH; anonymous gets a token that grants nothing: ERR_REGISTRY_AUTH', async () => {
    const wrong = 'wrong-' + reg.password!;
    const bad = new RegistryClient({ credentials: () => ({ username: reg.username!, password: wrong }) });
    await assert.rejects(bad.resolve(img.ref), (e) => code('ERR_REGISTRY_AUTH', new RegExp(reg.host))(e) && !(e as Error).message.includes(wrong));
    await assert.rejects(new RegistryClient().resolve(img.ref), code('ERR_REGISTRY_AUTH', new RegExp(reg.host)));
    assert.equal(reg.requests!().at(-1)!.username, undefined);
  });
});

describe('scripted registries: redirects, digests, timeouts', () => {
  const seen: { server: string; auth: string | undefined; url: string }[] = [];
  let registry: Server;
  let storage: Server;
  const held: { destroy(): void }[] = [];
  const blob = Buffer.from('blob bytes behind a redirect');
  const lying = `sha256:${'a'.repeat(64)}`;
  let ref: ImageRef;
  before(async () => {
    storage = createServer((req, res) => {
      seen.push({ server: 'storage', auth: req.headers.authorization, url: req.url ?? '' });
      res.writeHead(200, { 'content-length': blob.length }).end(blob);
    });
    await new Promise<void>((r) => storage.listen(0, '127.0.0.1', r));
    const storagePort = (storage.address() as AddressInfo).port;
    // Wants Basic; sends blob GETs to storage at another host name (localhost); serves a manifest
    // whose bytes are not the digest asked for (with a Docker-Content-Digest that claims they are);
    // never answers /v2/x/manifests/silent; sends half of /v2/x/blobs/<stall> and stops.
    registry = createServer((req, res) => {
      seen.push({ server: 'registry', auth: req.headers.authorization, url: req.url ?? '' });
      if (!req.headers.authorization) return void res.writeHead(401, { 'www-authenticate': 'Basic realm="r"' }).end();
      if (req.url === `/v2/x/manifests/${lying}`) return void res.writeHead(200, { 'content-type': MEDIA_TYPES.ociManifest, 'docker-content-digest': lying }).end('{"schemaVersion":2}');
      if (req.url === '/v2/x/manifests/silent') return void held.push(res.socket!);
      if (req.url === `/v2/x/blobs/${lying}`) {
        res.writeHead(200, { 'content-length': 100 }).write('half');
        return void held.push(res.socket!);
      }
      res.writeHead(307, { location: `http://localhost:${storagePort}/signed?sig=abc` }).end();
    });
    await new Promise<void>((r) => registry.listen(0, '127.0.0.1', r));
    ref = { registry: `127.0.0.1:${(registry.address() as AddressInfo).port}`, repository: 'x' };
  });
  after(async () => {
    held.forEach((s) => s.destroy());
    await new Promise((r) => registry.close(r));
    await new Promise((r) => storage.close(r));
  });
  const c = new RegistryClient({ credentials: () => ({ username: 'u', password: 'p' }), timeoutMs: 300 });

  it('follows a blob redirect to another host without our Authorization', async () => {
    assert.deepEqual(await blobBytes(c, ref, sha(blob)), blob);
    assert.deepEqual(seen.map((s) => [s.server, s.auth === undefined ? 'none' : s.auth.split(' ')[0]]), [['registry', 'none'], ['registry', 'Basic'], ['storage', 'none']]);
    assert.equal(seen[2]!.url, '/signed?sig=abc');
  });

  it('a manifest whose bytes are not its digest is refused, whatever Docker-Content-Digest says', async () => {
    await assert.rejects(c.resolve({ ...ref, digest: lying }), code('ERR_IMAGE_DIGEST', new RegExp(`expected ${lying}`)));
  });

  it('no answer, or a body that stops, is ERR_REGISTRY_UNREACHABLE after the timeout', async () => {
    await assert.rejects(c.resolve({ ...ref, tag: 'silent' }), code('ERR_REGISTRY_UNREACHABLE', /no answer within 300 ms/));
    await assert.rejects(blobBytes(c, ref, lying), code('ERR_REGISTRY_UNREACHABLE', /no data for 300 ms/));
  });
});
