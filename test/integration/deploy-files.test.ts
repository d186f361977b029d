/**
 * fly's `[[files]]` end to end: the real CLI reads a `local_path` into the release, the control
 * plane keeps it (and refuses a release that still names a deployer's path), the agent writes each
 * file — a raw_value, a local_path, a base64 secret — read-only into the sandboxed machine.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { killAllCli } from '../helpers/cli.js';
import { startPlatform, type Platform } from '../helpers/platform.js';

const FIXTURE = new URL('../../../test/fixtures/apps/env-echo/server.mjs', import.meta.url).pathname;
let p: Platform;
let appDir: string;

before(async () => {
  p = await startPlatform([{ name: 'f', region: 'fra' }], { prefix: 'deploy-files' });
  appDir = join(p.dir, 'app');
  mkdirSync(appDir);
  copyFileSync(FIXTURE, join(appDir, 'server.mjs'));
});

after(async () => {
  killAllCli();
  await p?.stop();
});

const fileIn = async (path: string): Promise<string | null> => {
  const r = await p.get('f', 'files', `/file?path=${encodeURIComponent(path)}`);
  assert.equal(r.status, 200, r.body);
  return (JSON.parse(r.body) as { value: string | null }).value;
};

describe('[[files]] written into machines', { timeout: 300_000 }, () => {
  it('a raw_value, a local_path and a secret arrive read-only at their paths; a local_path is never sent as a path', async () => {
    assert.equal((await p.cli(['apps', 'create', 'files', '--primary-region', 'fra'])).code, 0);
    const secret = await p.cli(['secrets', 'set', '--app', 'files', `TLS_KEY=${Buffer.from('-----BEGIN KEY-----\nsecret\n').toString('base64')}`]);
    assert.equal(secret.code, 0, secret.stderr);
    mkdirSync(join(appDir, 'conf'));
    writeFileSync(join(appDir, 'conf', 'app.json'), '{"from":"local_path"}\n');
    writeFileSync(
      join(appDir, 'starling.toml'),
      `app = "files"\nprimary_region = "fra"\n[experimental]\ncmd = ["node", "server.mjs"]\n[http_service]\ninternal_port = 8080\n` +
        `[[files]]\nguest_path = "/tmp/raw.txt"\nraw_value = "${Buffer.from('from raw_value\n').toString('base64')}"\n` +
        `[[files]]\nguest_path = "/tmp/conf/app.json"\nlocal_path = "conf/app.json"\n` +
        `[[files]]\nguest_path = "/tmp/tls.key"\nsecret_name = "TLS_KEY"\n` +
        `[[statics]]\nguest_path = "/app/conf"\nurl_prefix = "/conf"\n`,
    );
    const d = await p.cli(['deploy', '--config', join(appDir, 'starling.toml'), '--image', appDir], 180_000);
    assert.equal(d.code, 0, d.stdout + d.stderr);
    assert.equal(await fileIn('/tmp/raw.txt'), 'from raw_value\n');
    assert.equal(await fileIn('/tmp/conf/app.json'), '{"from":"local_path"}\n');
    assert.equal(await fileIn('/tmp/tls.key'), '-----BEGIN KEY-----\nsecret\n', "the secret's base64, decoded");
    // [[statics]]: the edge answers from the image (the app dir, at /app), not the app (it serves no such path).
    const conf = await p.get('f', 'files', '/conf/app.json');
    assert.deepEqual([conf.status, conf.body], [200, '{"from":"local_path"}\n']);
    assert.notEqual((await p.get('f', 'files', '/conf/nope.json')).body, '{"from":"local_path"}\n');
    // The release holds the contents, not the deployer's path.
    const rel = (await p.api('GET', '/v1/apps/files/releases')).body as { releases: { config: { files: Record<string, unknown>[] } }[] };
    const files = rel.releases.at(-1)!.config.files;
    assert.equal(files[1]!.local_path, undefined);
    assert.equal(files[1]!.raw_value, Buffer.from('{"from":"local_path"}\n').toString('base64'));
    // Through the API, a local_path is refused: the control plane cannot read the deployer's disk.
    const bad = await p.api('POST', '/v1/apps/files/releases', { config: { app: 'files', files: [{ guest_path: '/tmp/x', local_path: 'x' }] }, image: { ref: 'x', digest: `sha256:${'a'.repeat(64)}` } });
    assert.equal(bad.status, 400);
    assert.match(JSON.stringify(bad.body), /files\[0\]\.local_path/);
  });

  it('a missing local_path stops the deploy before anything is pushed, naming the key and the file', async () => {
    writeFileSync(join(appDir, 'starling.toml'), `app = "files"\nprimary_region = "fra"\n[http_service]\n[[files]]\nguest_path = "/tmp/x"\nlocal_path = "nope.txt"\n`);
    const d = await p.cli(['deploy', '--config', join(appDir, 'starling.toml'), '--image', appDir]);
    assert.equal(d.code, 2, d.stdout + d.stderr);
    assert.match(d.stderr, /files\[0\]\.local_path: no file .*nope\.txt/);
    assert.doesNotMatch(d.stdout, /release v\d+ created/);
  });
});
