/**
 * Image references as Docker normalises them (distribution/reference): Docker Hub by default with
 * `library/` for one-component names, a first component with `.`, `:`, or `localhost` is a
 * registry, `latest` when neither tag nor digest is given, and clear ERR_IMAGE_REF errors.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatImageRef, parseImageRef, registryHost } from '../../src/images/index.js';
import { isStarlingError } from '../../src/shared/index.js';

const D = 'sha256:' + 'ab'.repeat(32);

describe('parseImageRef', () => {
  it('fills in Docker Hub, library/ and latest as docker does', () => {
    assert.deepEqual(parseImageRef('python:3.12'), { registry: 'docker.io', repository: 'library/python', tag: '3.12' });
    assert.deepEqual(parseImageRef('python'), { registry: 'docker.io', repository: 'library/python', tag: 'latest' });
    assert.deepEqual(parseImageRef('acme/web'), { registry: 'docker.io', repository: 'acme/web', tag: 'latest' });
    assert.deepEqual(parseImageRef('docker.io/python'), { registry: 'docker.io', repository: 'library/python', tag: 'latest' });
    assert.deepEqual(parseImageRef('index.docker.io/library/python:3'), { registry: 'docker.io', repository: 'library/python', tag: '3' });
  });

  it('takes a first component with a dot, a colon, or localhost as the registry', () => {
    assert.deepEqual(parseImageRef('ghcr.io/acme/web:v1'), { registry: 'ghcr.io', repository: 'acme/web', tag: 'v1' });
    assert.deepEqual(parseImageRef('127.0.0.1:5000/x:1'), { registry: '127.0.0.1:5000', repository: 'x', tag: '1' });
    assert.deepEqual(parseImageRef('localhost/app'), { registry: 'localhost', repository: 'app', tag: 'latest' });
    assert.deepEqual(parseImageRef(`localhost:5000/a/b@${D}`), { registry: 'localhost:5000', repository: 'a/b', digest: D });
    assert.deepEqual(parseImageRef('[::1]:5000/a'), { registry: '[::1]:5000', repository: 'a', tag: 'latest' });
    // Not a registry: a lower-case component without '.' or ':' is part of the Docker Hub name.
    assert.deepEqual(parseImageRef('registry/app'), { registry: 'docker.io', repository: 'registry/app', tag: 'latest' });
  });

  it('keeps a tag and a digest together', () => {
    assert.deepEqual(parseImageRef(`python:3.12@${D}`), { registry: 'docker.io', repository: 'library/python', tag: '3.12', digest: D });
    assert.equal(formatImageRef(parseImageRef(`python:3.12@${D}`)), `docker.io/library/python:3.12@${D}`);
  });

  it('formats the canonical text, which parses back to the same reference', () => {
    for (const text of ['python:3.12', 'ghcr.io/a/b', `127.0.0.1:5000/x/y:1.0-rc_2@${D}`, `localhost/z@${D}`]) {
      const ref = parseImageRef(text);
      assert.deepEqual(parseImageRef(formatImageRef(ref)), ref, text);
    }
    assert.equal(formatImageRef(parseImageRef('python')), 'docker.io/library/python:latest');
  });

  const refused: [string, RegExp][] = [
    ['', /empty/],
    ['Python:3', /lower-case/],
    ['docker.io/Acme/web', /lower-case/],
    ['python:', /tag ""/],
    ['python:.hidden', /tag/],
    ['python:' + 'a'.repeat(129), /tag/],
    ['python@sha256:abc', /digest/],
    [`python@sha256:${'AB'.repeat(32)}`, /digest/],
    [`python@md5:${'ab'.repeat(16)}`, /digest/],
    ['a//b', /empty path component/],
    ['ghcr.io/', /no repository/],
    ['-bad.io/x', /registry/],
    ['a/b-', /component "b-"/],
    ['a b', /white space/],
    ['x/' + 'a'.repeat(260), /longer than 255/],
  ];
  for (const [text, why] of refused) {
    it(`refuses ${JSON.stringify(text.slice(0, 40))} naming what is wrong`, () => {
      assert.throws(
        () => parseImageRef(text),
        (e: unknown) => isStarlingError(e, 'ERR_IMAGE_REF') && e.fault === 'user' && why.test(e.message),
      );
    });
  }
});

describe('registryHost', () => {
  it("maps Docker Hub to its API host and leaves others alone", () => {
    assert.equal(registryHost('docker.io'), 'registry-1.docker.io');
    assert.equal(registryHost(parseImageRef('python').registry), 'registry-1.docker.io');
    assert.equal(registryHost('127.0.0.1:5000'), '127.0.0.1:5000');
  });
});
