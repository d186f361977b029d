/**
 * Where `starling deploy` takes its image from (src/cli/commands/deploy/image-source.ts): a path
 * when one exists or it looks like one, a reference otherwise; a Dockerfile beside the config is
 * built; nothing named and no Dockerfile: the config's directory.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { imageSource } from '../../src/cli/commands/deploy/image-source.js';

const dir = mkdtempSync(join(tmpdir(), 'starling-image-source-'));
const config = join(dir, 'starling.toml');
mkdirSync(join(dir, 'site'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('the image a deploy takes', () => {
  it('a reference when nothing of that name exists and it does not look like a path', () => {
    assert.deepEqual(imageSource('ghcr.io/org/app:1.2', undefined, config, {}), { kind: 'remote', ref: 'ghcr.io/org/app:1.2' });
    assert.deepEqual(imageSource(undefined, undefined, config, { image: 'python:3.12' }), { kind: 'remote', ref: 'python:3.12' });
  });

  it('a path when it exists ([build] image relative to the config), ends in .tar.gz or starts like one', () => {
    assert.deepEqual(imageSource(undefined, undefined, config, { image: 'site' }), { kind: 'local', path: join(dir, 'site'), ref: 'site' });
    assert.equal(imageSource('./missing', undefined, config, {}).kind, 'local', 'then the usual "does not exist" error');
    assert.equal(imageSource('app.tar.gz', undefined, config, {}).kind, 'local');
  });

  it('a Dockerfile beside the config is built, with [build.args] and the build target (the flag first)', () => {
    assert.deepEqual(imageSource(undefined, undefined, config, {}), { kind: 'local', path: dir, ref: dir });
    writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\n');
    const s = imageSource(undefined, 'prod', config, { args: { A: '1' }, target: 'dev' });
    assert.equal(s.kind, 'build');
    assert.deepEqual(s.kind === 'build' && s.build, { dockerfile: join(dir, 'Dockerfile'), context: dir, target: 'prod', args: { A: '1' }, ignorefile: undefined });
    rmSync(join(dir, 'Dockerfile'));
  });

  it('a [build] dockerfile that does not exist, or --build-target with nothing to build, is a usage error', () => {
    assert.throws(() => imageSource(undefined, undefined, config, { dockerfile: 'Dockerfile.prod' }), /Dockerfile\.prod does not exist/);
    assert.throws(() => imageSource(undefined, 'prod', config, {}), /--build-target needs a Dockerfile/);
    assert.throws(() => imageSource('nginx:1', 'prod', config, {}), /prepared image/);
  });
});
