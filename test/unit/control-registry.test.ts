import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { ManualClock, StarlingError } from '../../src/shared/index.js';
import { OCI_INDEX, OCI_MANIFEST, RegistryStorage, UPLOAD_TTL_MS, credentialOf, parseManifest, parseReference } from '../../src/control/registry/index.js';

const d = (s: string): string => `sha256:${createHash('sha256').update(s).digest('hex')}`;
const desc = (digest: string, mediaType = 'application/vnd.oci.image.layer.v1.tar+gzip'): Record<string, unknown> => ({ mediaType, digest, size: 3 });
const manifest = (o: Record<string, unknown> = {}): Buffer => Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: desc(d('cfg'), 'application/vnd.oci.image.config.v1+json'), layers: [desc(d('l1'))], ...o }));
const code = (c: string) => (e: unknown) => e instanceof StarlingError && e.code === c;

describe('registry manifests', () => {
  it('takes OCI and Docker schema 2 manifests and indexes, and names what they reference', () => {
    assert.deepEqual(parseManifest(manifest(), undefined), { mediaType: OCI_MANIFEST, blobs: [d('cfg'), d('l1')], manifests: [] });
    const docker = 'application/vnd.docker.distribution.manifest.v2+json';
    const { mediaType: _, ...bare } = JSON.parse(manifest().toString()) as Record<string, unknown>;
    assert.equal(parseManifest(Buffer.from(JSON.stringify(bare)), `${docker}; charset=utf-8`).mediaType, docker, 'the Content-Type when the document names none');
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [desc(d('m1'), OCI_MANIFEST)] }));
    assert.deepEqual(parseManifest(index, OCI_INDEX), { mediaType: OCI_INDEX, blobs: [], manifests: [d('m1')] });
  });

  it('refuses Docker schema 1, unknown media types, a disagreeing Content-Type, bad JSON and bad descriptors', () => {
    const bad = code('ERR_REGISTRY_MANIFEST');
    assert.throws(() => parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 1, fsLayers: [] })), 'application/vnd.docker.distribution.manifest.v1+prettyjws'), /schema 1/);
    assert.throws(() => parseManifest(manifest({ mediaType: 'application/vnd.example+json' }), undefined), bad);
    assert.throws(() => parseManifest(manifest(), 'application/vnd.docker.distribution.manifest.v2+json'), /is not the manifest's mediaType/);
    assert.doesNotThrow(() => parseManifest(manifest(), 'application/json'));
    assert.throws(() => parseManifest(Buffer.from('{nope'), OCI_MANIFEST), bad);
    assert.throws(() => parseManifest(manifest({ layers: [{ mediaType: 'x', digest: 'md5:1', size: 1 }] }), undefined), /layers\[0\]/);
    assert.throws(() => parseManifest(manifest({ config: undefined }), undefined), /config/);
    assert.throws(() => parseManifest(manifest({ schemaVersion: 3 }), undefined), bad);
  });

  it('reads references and credentials', () => {
    assert.deepEqual(parseReference('v1.2_x'), { tag: 'v1.2_x' });
    assert.deepEqual(parseReference(d('x')), { digest: d('x') });
    assert.equal(parseReference('-bad'), undefined);
    assert.equal(parseReference('sha256:abc'), undefined);
    const b64 = (s: string): string => Buffer.from(s).toString('base64');
    assert.equal(credentialOf(`Basic ${b64('anyone:st1_abc_def')}`), 'st1_abc_def');
    assert.equal(credentialOf(`basic ${b64('x:a:b')}`), 'a:b', 'the password is all after the first colon');
    assert.equal(credentialOf('Bearer tok'), 'tok');
    assert.equal(credentialOf(`Basic ${b64('user-only')}`), undefined);
    assert.equal(credentialOf(`Basic ${b64('x:')}`), undefined);
    assert.equal(credentialOf(undefined), undefined);
  });
});

describe('RegistryStorage', () => {
  const dir = mkdtempSync(join(tmpdir(), 'starling-regstore-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const storage = new RegistryStorage({ imagesDir: dir, maxBytes: 64, clock: new ManualClock(Date.now()) });
  const content = (): string[] => readdirSync(join(dir, 'registry', 'blobs', 'sha256'));

  it('keeps a verified blob in its repository only; a mismatch or an oversized blob leaves nothing', async () => {
    assert.deepEqual(await storage.putBlob('web', d('abc'), Buffer.from('abc'), 3), { digest: d('abc'), size: 3 });
    assert.ok(await storage.hasBlob('web', d('abc')));
    assert.equal(await storage.hasBlob('rival', d('abc')), false, 'another repository does not see it');
    assert.equal(await storage.blobPath('rival', d('abc')), undefined);
    await assert.rejects(storage.putBlob('web', d('xyz'), Readable.from([Buffer.from('not xyz')])), code('ERR_IMAGE_DIGEST'));
    await assert.rejects(storage.putBlob('web', d('a'.repeat(65)), Buffer.from('a'.repeat(65))), code('ERR_IMAGE_TOO_LARGE'));
    await assert.rejects(storage.putBlob('../etc', d('abc'), Buffer.from('abc')), code('ERR_REGISTRY_NAME'));
    assert.deepEqual(content(), [d('abc').slice(7)]);
    assert.deepEqual(readdirSync(join(dir, 'registry', 'uploads')), []);
  });

  it('stores manifests by digest, links tags, and refuses one whose blobs the repository lacks', async () => {
    await storage.putBlob('web', d('cfg'), Buffer.from('cfg'));
    const m = manifest({ layers: [desc(d('abc'))] });
    await assert.rejects(storage.putManifest('rival', 'v1', m, OCI_MANIFEST), code('ERR_REGISTRY_MANIFEST_BLOB'));
    await assert.rejects(storage.putManifest('web', d('other'), m, OCI_MANIFEST), code('ERR_IMAGE_DIGEST'));
    const digest = await storage.putManifest('web', 'v1', m, OCI_MANIFEST);
    assert.equal(digest, `sha256:${createHash('sha256').update(m).digest('hex')}`);
    assert.deepEqual(await storage.getManifest('web', 'v1'), { digest, mediaType: OCI_MANIFEST, bytes: m });
    assert.deepEqual(await storage.getManifest('web', digest), { digest, mediaType: OCI_MANIFEST, bytes: m });
    assert.equal(await storage.getManifest('rival', digest), undefined);
    assert.deepEqual(await storage.tags('web'), ['v1']);
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [desc(digest, OCI_MANIFEST)] }));
    assert.ok(await storage.putManifest('web', 'multi', index, undefined));
    await storage.claimRepository('web', 'personal/1\n');
    await storage.claimRepository('web', 'personal/1\n');
    assert.deepEqual(await storage.tags('web'), ['multi', 'v1'], 'its own owner keeps it');
    await storage.claimRepository('web', 'acme/2\n');
    assert.deepEqual(await storage.tags('web'), [], 'another owner (a new app of the name) starts empty');
    assert.equal(await storage.getManifest('web', digest), undefined);
    await storage.putBlob('web', d('abc'), Buffer.from('abc'));
    await storage.removeRepository('web');
    assert.equal(await storage.getManifest('web', 'v1'), undefined);
    assert.equal(await storage.hasBlob('web', d('abc')), false);
  });

  it('assembles an upload from chunks, caps it, and removes sessions idle for over an hour', async () => {
    const uuid = await storage.startUpload('web');
    assert.equal(await storage.uploadSize('rival', uuid), undefined, "another repository's session is unknown");
    assert.equal(await storage.appendUpload('web', uuid, Readable.from([Buffer.from('ab')])), 2);
    assert.equal(await storage.appendUpload('web', uuid, Readable.from([Buffer.from('c')])), 3);
    assert.deepEqual(await storage.completeUpload('web', uuid, d('abc')), { digest: d('abc'), size: 3 });
    assert.equal(await storage.uploadSize('web', uuid), undefined);
    const big = await storage.startUpload('web');
    await assert.rejects(storage.appendUpload('web', big, Readable.from([Buffer.alloc(65)])), code('ERR_IMAGE_TOO_LARGE'));
    const later = new RegistryStorage({ imagesDir: dir, maxBytes: 64, clock: new ManualClock(Date.now() + UPLOAD_TTL_MS + 60_000) });
    const fresh = await later.startUpload('web');
    assert.deepEqual(readdirSync(join(dir, 'registry', 'uploads')), [fresh], 'the idle session is gone, the new one kept');
  });
});
