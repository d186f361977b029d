/**
 * Manifests, indexes and image configs parsed from literal bytes: the media types Starling runs,
 * the refusals (schema 1, foreign layers, a Windows image) and that every schema problem is named.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ACCEPT_MANIFESTS, LAYER_TYPES, MEDIA_TYPES, parseImageConfig, parseManifest, pickPlatform } from '../../src/images/manifest.js';
import type { Descriptor } from '../../src/images/types.js';
import { isStarlingError } from '../../src/shared/index.js';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const D3 = `sha256:${'3'.repeat(64)}`;
const bytes = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
const code = (c: string, re?: RegExp) => (e: unknown) => isStarlingError(e) && e.code === c && (re === undefined || re.test(e.message));

const ociManifest = {
  schemaVersion: 2,
  mediaType: MEDIA_TYPES.ociManifest,
  config: { mediaType: MEDIA_TYPES.ociConfig, digest: D1, size: 123 },
  layers: [
    { mediaType: MEDIA_TYPES.ociLayerGzip, digest: D2, size: 10 },
    { mediaType: MEDIA_TYPES.ociLayerZstd, digest: D3, size: 20, annotations: { a: 'b' } },
  ],
};

describe('parseManifest', () => {
  it('reads an OCI manifest: config and layers bottom first', () => {
    const p = parseManifest(bytes(ociManifest), MEDIA_TYPES.ociManifest);
    assert.deepEqual(p, {
      kind: 'manifest',
      manifest: {
        mediaType: MEDIA_TYPES.ociManifest,
        config: { mediaType: MEDIA_TYPES.ociConfig, digest: D1, size: 123 },
        layers: [
          { mediaType: MEDIA_TYPES.ociLayerGzip, digest: D2, size: 10 },
          { mediaType: MEDIA_TYPES.ociLayerZstd, digest: D3, size: 20, annotations: { a: 'b' } },
        ],
      },
    });
  });

  it('the body\'s mediaType wins over a generic Content-Type; without one the header or the shape decides', () => {
    const docker = { schemaVersion: 2, mediaType: MEDIA_TYPES.dockerManifest, config: { mediaType: MEDIA_TYPES.dockerConfig, digest: D1, size: 1 }, layers: [{ mediaType: MEDIA_TYPES.dockerLayerGzip, digest: D2, size: 2 }] };
    const a = parseManifest(bytes(docker), 'application/json; charset=utf-8');
    assert.equal(a.kind === 'manifest' && a.manifest.mediaType, MEDIA_TYPES.dockerManifest);
    const { mediaType: _, ...bare } = ociManifest;
    const b = parseManifest(bytes(bare), `${MEDIA_TYPES.dockerManifest}; charset=utf-8`);
    assert.equal(b.kind === 'manifest' && b.manifest.mediaType, MEDIA_TYPES.dockerManifest);
    const c = parseManifest(bytes(bare), 'application/octet-stream');
    assert.equal(c.kind === 'manifest' && c.manifest.mediaType, MEDIA_TYPES.ociManifest);
    const idx = parseManifest(bytes({ schemaVersion: 2, manifests: [] }), 'application/json');
    assert.deepEqual(idx, { kind: 'index', manifests: [] });
  });

  it('reads a Docker manifest list with platforms', () => {
    const list = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.dockerList,
      manifests: [{ mediaType: MEDIA_TYPES.dockerManifest, digest: D1, size: 5, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } }],
    };
    assert.deepEqual(parseManifest(bytes(list), MEDIA_TYPES.dockerList), {
      kind: 'index',
      manifests: [{ mediaType: MEDIA_TYPES.dockerManifest, digest: D1, size: 5, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } }],
    });
  });

  it('refuses Docker schema 1, by body or by Content-Type, saying what to do', () => {
    assert.throws(() => parseManifest(bytes({ schemaVersion: 1, name: 'x', fsLayers: [] }), 'application/json'), code('ERR_IMAGE_MEDIA_TYPE', /schema 1/));
    assert.throws(() => parseManifest(bytes({ name: 'x' }), 'application/vnd.docker.distribution.manifest.v1+prettyjws'), (e) => isStarlingError(e, 'ERR_IMAGE_MEDIA_TYPE') && /push the image again/.test(e.hint ?? ''));
  });

  it('names every schema problem at once', () => {
    const bad = { schemaVersion: 2, mediaType: MEDIA_TYPES.ociManifest, config: { mediaType: MEDIA_TYPES.ociConfig, digest: 'md5:abc', size: -1 }, layers: [{ mediaType: 'x', size: 1 }] };
    assert.throws(
      () => parseManifest(bytes(bad), ''),
      (e) => isStarlingError(e, 'ERR_IMAGE_MANIFEST') && /config\.digest/.test(e.message) && /config\.size/.test(e.message) && /layers\.0\.digest/.test(e.message),
    );
    assert.throws(() => parseManifest(Buffer.from('{"schemaVersion": 2,'), ''), code('ERR_IMAGE_MANIFEST', /not JSON/));
    assert.throws(() => parseManifest(Buffer.from('[1]'), ''), code('ERR_IMAGE_MANIFEST', /not a JSON object/));
  });

  it('refuses foreign layers and a non-image config, listing each', () => {
    const foreign = {
      ...ociManifest,
      config: { mediaType: 'application/vnd.cncf.helm.config.v1+json', digest: D1, size: 1 },
      layers: [ociManifest.layers[0], { mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', digest: D3, size: 1 }],
    };
    assert.throws(() => parseManifest(bytes(foreign), ''), code('ERR_IMAGE_MEDIA_TYPE', /config has media type application\/vnd\.cncf.*layers\.1 has media type .*foreign/));
    assert.throws(() => parseManifest(bytes({ ...ociManifest, mediaType: 'application/vnd.example+json' }), ''), code('ERR_IMAGE_MEDIA_TYPE', /vnd\.example/));
  });

  it('ACCEPT_MANIFESTS lists every index and manifest type; LAYER_TYPES the four layer types', () => {
    for (const t of [MEDIA_TYPES.ociIndex, MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerList, MEDIA_TYPES.dockerManifest]) assert.ok(ACCEPT_MANIFESTS.split(', ').includes(t), t);
    assert.deepEqual([...LAYER_TYPES].sort(), [MEDIA_TYPES.dockerLayerGzip, MEDIA_TYPES.ociLayerTar, MEDIA_TYPES.ociLayerGzip, MEDIA_TYPES.ociLayerZstd].sort());
  });
});

describe('pickPlatform', () => {
  const m = (digest: string, os: string, architecture: string, variant?: string): Descriptor => ({
    mediaType: MEDIA_TYPES.ociManifest,
    digest,
    size: 1,
    platform: { os, architecture, ...(variant ? { variant } : {}) },
  });
  it('picks linux/amd64 by default, skipping attestations', () => {
    assert.equal(pickPlatform([m(D1, 'unknown', 'unknown'), m(D2, 'linux', 'arm64', 'v8'), m(D3, 'linux', 'amd64')]).digest, D3);
    assert.equal(pickPlatform([m(D1, 'linux', 'amd64'), m(D2, 'linux', 'arm64', 'v8')], { os: 'linux', architecture: 'arm64', variant: 'v8' }).digest, D2);
  });
  it('says what the index offers when the platform is missing', () => {
    assert.throws(() => pickPlatform([m(D1, 'linux', 'arm64', 'v8'), m(D2, 'windows', 'amd64')]), code('ERR_IMAGE_PLATFORM', /no linux\/amd64 image; it offers: linux\/arm64\/v8, windows\/amd64/));
    assert.throws(() => pickPlatform([]), code('ERR_IMAGE_PLATFORM', /offers: nothing/));
  });
});

describe('parseImageConfig', () => {
  it('fills the run settings from the config', () => {
    const cfg = {
      os: 'linux',
      architecture: 'amd64',
      config: {
        Entrypoint: ['/bin/app'],
        Cmd: ['--serve'],
        Env: ['PATH=/usr/bin:/bin', 'EQ=a=b', 'EMPTY='],
        WorkingDir: '/srv',
        User: '1000:1000',
        StopSignal: 'SIGINT',
        Labels: { 'dev.starling.base': 'host' },
        ExposedPorts: { '8080/tcp': {}, '53/udp': {}, '9090': {}, '80/tcp': {} },
      },
      rootfs: { type: 'layers', diff_ids: [] },
    };
    assert.deepEqual(parseImageConfig(bytes(cfg)), {
      entrypoint: ['/bin/app'],
      cmd: ['--serve'],
      env: { PATH: '/usr/bin:/bin', EQ: 'a=b', EMPTY: '' },
      workdir: '/srv',
      user: '1000:1000',
      stopSignal: 'SIGINT',
      labels: { 'dev.starling.base': 'host' },
      exposedPorts: [80, 8080, 9090],
    });
  });
  it('defaults: no config at all, null Cmd, empty WorkingDir', () => {
    const empty = { entrypoint: [], cmd: [], env: {}, workdir: '/', user: '', labels: {}, exposedPorts: [] };
    assert.deepEqual(parseImageConfig(bytes({ os: 'linux' })), empty);
    assert.deepEqual(parseImageConfig(bytes({ os: 'linux', config: { Cmd: null, WorkingDir: '', Env: null } })), empty);
  });
  it('refuses a non-linux image and names every bad field', () => {
    assert.throws(() => parseImageConfig(bytes({ os: 'windows', architecture: 'amd64' })), code('ERR_IMAGE_PLATFORM', /windows/));
    assert.throws(
      () => parseImageConfig(bytes({ os: 'linux', config: { Env: ['NOEQUALS'], ExposedPorts: { 'http/tcp': {} }, WorkingDir: 'rel' } })),
      code('ERR_IMAGE_MANIFEST', /Env\.0 "NOEQUALS".*ExposedPorts "http\/tcp".*WorkingDir "rel"/),
    );
    assert.throws(() => parseImageConfig(bytes({ config: { Cmd: 'ls' } })), code('ERR_IMAGE_MANIFEST', /os.*config\.Cmd/));
  });
});
