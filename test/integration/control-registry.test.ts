/**
 * The platform registry (/v2/ on the control plane) with real registry clients: buildah pushes an
 * image built from scratch, skopeo copies a second one and inspects both back, with Starling's own
 * tokens as Basic credentials. The loopback control plane serves plain HTTP, so the clients run
 * with --tls-verify=false. Scopes, tenancy (another org's token learns nothing), a blob with a
 * wrong digest, a manifest naming a missing blob, and a host credential pulling are checked too.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { startLoopbackControl, type LoopbackControl } from '../helpers/control.js';
import { joinHost } from '../helpers/hosts.js';

const run = promisify(execFile);
let lc: LoopbackControl;
let registry: string; // 127.0.0.1:PORT
let work: string;
const tokens: Record<string, string> = {};

async function api(token: string, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(lc.url + path, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const doc = (await res.json()) as Record<string, unknown>;
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(doc)}`);
  return doc;
}

const basic = (token: string): string => `Basic ${Buffer.from(`x:${token}`).toString('base64')}`;
async function reg(token: string | null, method: string, path: string, body?: Buffer | string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: { errors?: { code: string; message: string }[] } & Record<string, unknown> }> {
  const res = await fetch(`http://${registry}${path}`, { method, headers: { ...(token ? { authorization: basic(token) } : {}), ...headers }, body: body ?? null });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : {} };
}

const env = (): NodeJS.ProcessEnv => ({ ...process.env, HOME: work, REGISTRY_AUTH_FILE: join(work, 'auth.json') });
const storage = (): string[] => ['--root', join(work, 'root'), '--runroot', join(work, 'runroot'), '--storage-driver', 'vfs'];
const buildah = async (...args: string[]): Promise<string> => (await run('buildah', [...storage(), ...args], { env: env() })).stdout.trim();
const skopeo = async (...args: string[]): Promise<string> => (await run('skopeo', args, { env: env() })).stdout.trim();

/** A busybox image from scratch, committed as `name`; answers nothing (the digest comes at push). */
async function buildImage(name: string, cmd: string): Promise<void> {
  const ctr = await buildah('from', 'scratch');
  await buildah('copy', ctr, '/usr/bin/busybox', '/bin/busybox');
  await buildah('config', '--cmd', JSON.stringify(['/bin/busybox', 'sh', '-c', cmd]), ctr);
  await buildah('commit', '--quiet', ctr, name);
  await buildah('rm', ctr);
}

const inspectDigest = async (token: string, ref: string): Promise<string> => (JSON.parse(await skopeo('inspect', '--tls-verify=false', '--creds', `x:${token}`, `docker://${registry}/${ref}`)) as { Digest: string }).Digest;
const repoLinks = (app: string, kind: string): string[] => {
  const dir = join(lc.dir, 'images', 'registry', 'repos', app, kind);
  return existsSync(dir) ? readdirSync(dir).filter((n) => !n.startsWith('.')).sort() : [];
};
const uploadsLeft = (): string[] => {
  const dir = join(lc.dir, 'images', 'registry', 'uploads');
  return existsSync(dir) ? readdirSync(dir) : [];
};

before(async () => {
  lc = await startLoopbackControl('starling-registry-');
  registry = `127.0.0.1:${lc.cp.address.port}`;
  work = join(lc.dir, 'work');
  mkdirSync(work);
  writeFileSync(join(work, 'auth.json'), '{"auths":{}}\n', { mode: 0o600 }); // never root's own
  await api(lc.token, 'POST', '/v1/apps', { name: 'web', primary_region: 'fra' });
  await api(lc.token, 'POST', '/v1/orgs', { name: 'globex' });
  await api(lc.token, 'POST', '/v1/apps', { name: 'rival', primary_region: 'fra', org: 'globex' });
  tokens.deploy = (await api(lc.token, 'POST', '/v1/tokens', { org: 'personal', scope: 'deploy', app: 'web' })).token as string;
  tokens.read = (await api(lc.token, 'POST', '/v1/tokens', { org: 'personal', scope: 'read' })).token as string;
  tokens.globex = (await api(lc.token, 'POST', '/v1/tokens', { org: 'globex', scope: 'admin' })).token as string;
  tokens.host = await joinHost(lc.url, lc.token, 'h1', 'fra');
  await buildImage('localhost/one', 'echo one');
  await buildImage('localhost/two', 'echo two');
  await buildImage('localhost/three', 'echo three');
});

after(async () => {
  // The vfs store under work/ is removed with the control plane's temp directory.
  await lc?.close();
});

describe('platform registry', () => {
  it('answers /v2/ with {} to a token and challenges for Basic credentials without one', async () => {
    const anon = await reg(null, 'GET', '/v2/');
    assert.equal(anon.status, 401);
    assert.equal(anon.headers.get('www-authenticate'), 'Basic realm="Starling"');
    assert.equal(anon.headers.get('docker-distribution-api-version'), 'registry/2.0');
    assert.equal(anon.body.errors?.[0]?.code, 'UNAUTHORIZED');
    assert.equal((await reg('st1_000000000000_' + '0'.repeat(64), 'GET', '/v2/')).status, 401, 'a wrong token');
    const ok = await reg(tokens.read!, 'GET', '/v2/');
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.body, {});
    const bearer = await fetch(`http://${registry}/v2/`, { headers: { authorization: `Bearer ${tokens.deploy}` } });
    assert.equal(bearer.status, 200, 'a Bearer token works too');
  });

  it('takes a buildah push and a skopeo copy; skopeo inspect reads both back by the pushed digests', async () => {
    const digestFile = join(work, 'one.digest');
    await buildah('push', '--tls-verify=false', '--creds', `x:${tokens.deploy}`, '--digestfile', digestFile, 'localhost/one', `docker://${registry}/web:v1`);
    const one = readFileSync(digestFile, 'utf8').trim();
    await buildah('push', 'localhost/two', `oci:${join(work, 'oci')}:two`);
    const twoFile = join(work, 'two.digest');
    await skopeo('copy', '--dest-tls-verify=false', '--dest-creds', `x:${tokens.deploy}`, '--digestfile', twoFile, `oci:${join(work, 'oci')}:two`, `docker://${registry}/web:v2`);
    const two = readFileSync(twoFile, 'utf8').trim();
    assert.notEqual(one, two);
    assert.equal(await inspectDigest(tokens.read!, 'web:v1'), one);
    assert.equal(await inspectDigest(tokens.read!, 'web:v2'), two);
    assert.equal(await inspectDigest(tokens.read!, `web@${two}`), two, 'by digest too');
    const m = await fetch(`http://${registry}/v2/web/manifests/v1`, { headers: { authorization: basic(tokens.read!) } });
    const bytes = Buffer.from(await m.arrayBuffer());
    assert.equal(m.headers.get('docker-content-digest'), one);
    assert.equal(`sha256:${createHash('sha256').update(bytes).digest('hex')}`, one, 'the bytes pushed, unchanged');
    const layer = (JSON.parse(bytes.toString()) as { layers: { digest: string; size: number }[] }).layers[0]!;
    const head = await reg(tokens.read!, 'HEAD', `/v2/web/blobs/${layer.digest}`);
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(layer.size));
    assert.equal(head.headers.get('docker-content-digest'), layer.digest);
    assert.deepEqual((await reg(tokens.read!, 'GET', '/v2/web/tags/list')).body, { name: 'web', tags: ['v1', 'v2'] });
    assert.deepEqual(uploadsLeft(), [], 'no upload session left behind');
  });

  it('refuses a push with a read-only token, and stores nothing of it', async () => {
    const blobs = repoLinks('web', 'blobs');
    await buildah('push', 'localhost/three', `oci:${join(work, 'oci')}:three`);
    await assert.rejects(skopeo('copy', '--dest-tls-verify=false', '--dest-creds', `x:${tokens.read}`, `oci:${join(work, 'oci')}:three`, `docker://${registry}/web:ro`), /denied|403/i);
    assert.deepEqual(repoLinks('web', 'blobs'), blobs);
    assert.deepEqual(repoLinks('web', 'tags'), ['v1', 'v2']);
    const post = await reg(tokens.read!, 'POST', '/v2/web/blobs/uploads/');
    assert.equal(post.status, 403);
    assert.equal(post.body.errors?.[0]?.code, 'DENIED');
    assert.equal((await reg(tokens.host!, 'POST', '/v2/web/blobs/uploads/')).body.errors?.[0]?.code, 'DENIED', 'a host only pulls');
  });

  it("answers another org's token NAME_UNKNOWN, as for no app, and a repository sees only its own blobs", async () => {
    for (const path of ['/v2/web/manifests/v1', '/v2/web/tags/list', '/v2/web/blobs/uploads/']) {
      const theirs = await reg(tokens.globex!, path.endsWith('/') ? 'POST' : 'GET', path);
      const none = await reg(tokens.globex!, path.endsWith('/') ? 'POST' : 'GET', path.replace('/web/', '/nosuch/'));
      assert.equal(theirs.status, 404, path);
      assert.equal(theirs.body.errors?.[0]?.code, 'NAME_UNKNOWN');
      assert.equal(theirs.body.errors?.[0]?.message.replace('web', 'X'), none.body.errors?.[0]?.message.replace('nosuch', 'X'));
    }
    await assert.rejects(inspectDigest(tokens.globex!, 'web:v1'));
    const layer = repoLinks('web', 'blobs')[0]!;
    const guessed = await reg(tokens.globex!, 'GET', `/v2/rival/blobs/sha256:${layer}`);
    assert.equal(guessed.status, 404, "a digest of another org's blob, in the caller's own repository");
    assert.equal(guessed.body.errors?.[0]?.code, 'BLOB_UNKNOWN');
  });

  it('refuses a blob whose bytes do not match its digest, and keeps nothing of it', async () => {
    const body = 'not what the digest says';
    const wrong = `sha256:${createHash('sha256').update('something else').digest('hex')}`;
    const mono = await reg(tokens.deploy!, 'POST', `/v2/web/blobs/uploads/?digest=${wrong}`, body);
    assert.equal(mono.status, 400);
    assert.equal(mono.body.errors?.[0]?.code, 'DIGEST_INVALID');
    const start = await reg(tokens.deploy!, 'POST', '/v2/web/blobs/uploads/');
    assert.equal(start.status, 202);
    const location = start.headers.get('location')!;
    assert.ok(start.headers.get('docker-upload-uuid'));
    const patch = await reg(tokens.deploy!, 'PATCH', location, body, { 'content-type': 'application/octet-stream' });
    assert.equal(patch.status, 202);
    assert.equal(patch.headers.get('range'), `0-${body.length - 1}`);
    const put = await reg(tokens.deploy!, 'PUT', `${location}?digest=${wrong}`);
    assert.equal(put.body.errors?.[0]?.code, 'DIGEST_INVALID');
    assert.equal((await reg(tokens.deploy!, 'GET', location)).body.errors?.[0]?.code, 'BLOB_UPLOAD_UNKNOWN', 'the session is gone');
    const hexOf = (s: string): string => createHash('sha256').update(s).digest('hex');
    const content = readdirSync(join(lc.dir, 'images', 'registry', 'blobs', 'sha256'));
    assert.ok(!content.includes(hexOf(body)) && !content.includes(hexOf('something else')));
    assert.deepEqual(uploadsLeft(), []);
    const right = await reg(tokens.deploy!, 'POST', `/v2/web/blobs/uploads/?digest=sha256:${hexOf(body)}`, body);
    assert.equal(right.status, 201, 'the same bytes under their own digest are taken');
  });

  it('refuses a manifest naming a blob the repository does not hold, and Docker schema 1', async () => {
    const missing = `sha256:${'e'.repeat(64)}`;
    const manifest = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: missing, size: 2 }, layers: [] };
    const res = await reg(tokens.deploy!, 'PUT', '/v2/web/manifests/bad', JSON.stringify(manifest), { 'content-type': manifest.mediaType });
    assert.equal(res.status, 400);
    assert.equal(res.body.errors?.[0]?.code, 'MANIFEST_BLOB_UNKNOWN');
    const v1 = await reg(tokens.deploy!, 'PUT', '/v2/web/manifests/old', JSON.stringify({ schemaVersion: 1, name: 'web', tag: 'old', fsLayers: [] }), { 'content-type': 'application/vnd.docker.distribution.manifest.v1+prettyjws' });
    assert.equal(v1.body.errors?.[0]?.code, 'MANIFEST_INVALID');
    assert.deepEqual(repoLinks('web', 'tags'), ['v1', 'v2']);
  });

  it("lets a host credential pull any app's image", async () => {
    assert.equal(await inspectDigest(tokens.host!, 'web:v1'), readFileSync(join(work, 'one.digest'), 'utf8').trim());
    await skopeo('copy', '--src-tls-verify=false', '--src-creds', `x:${tokens.host}`, `docker://${registry}/web:v2`, `oci:${join(work, 'pulled')}:v2`);
    const index = JSON.parse(readFileSync(join(work, 'pulled', 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    assert.equal(index.manifests[0]!.digest, readFileSync(join(work, 'two.digest'), 'utf8').trim());
  });

  it('gives a new app of a destroyed app\'s name an empty repository', async () => {
    await api(lc.token, 'DELETE', '/v1/apps/web');
    assert.equal((await reg(tokens.host!, 'GET', '/v2/web/manifests/v1')).body.errors?.[0]?.code, 'NAME_UNKNOWN', 'the app is gone');
    await api(lc.token, 'POST', '/v1/apps', { name: 'web', primary_region: 'fra' });
    const gone = await reg(lc.token, 'GET', '/v2/web/manifests/v1');
    assert.equal(gone.status, 404);
    assert.equal(gone.body.errors?.[0]?.code, 'MANIFEST_UNKNOWN');
    assert.deepEqual((await reg(lc.token, 'GET', '/v2/web/tags/list')).body, { name: 'web', tags: [] });
  });
});
