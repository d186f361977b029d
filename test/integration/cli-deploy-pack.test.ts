/**
 * `starling deploy` up to the rollout, as a user runs it next to their app: which directory it
 * packs (-c sub/fly.toml packs sub/; no image at all packs the config's directory), what it leaves
 * out (.starlingignore over .dockerignore, .git always), and every refusal that must come before
 * anything is uploaded or written: an app that does not exist (without --create), a strategy that
 * is not one, an image over the control plane's limit. The built CLI against a real control plane
 * on loopback (no hosts: deploys run with --detach).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEPLOY_STRATEGIES as CLI_STRATEGIES } from '../../src/cli/commands/deploy/meta.js';
import { DEPLOY_STRATEGIES } from '../../src/control/deploy/index.js';
import { runCli } from '../helpers/cli.js';
import { startLoopbackControl, type LoopbackControl } from '../helpers/control.js';

/** Small, so a directory over it is a few hundred KiB of random bytes, not a GiB. */
const LIMIT = 64 * 1024;
let c: LoopbackControl;
let n = 0;

before(async () => {
  c = await startLoopbackControl('starling-cli-deploy-pack-', undefined, { maxImageBytes: LIMIT });
});
after(() => c.close());

function cli(cwd: string, ...args: string[]) {
  return runCli(args, { cwd, cleanEnv: true, env: { HOME: c.home, STARLING_CONTROL_URL: c.url, STARLING_TOKEN: c.token } });
}

/** A fresh directory holding `files` (path → content). */
function tree(files: Record<string, string | Buffer>): string {
  const root = join(c.dir, `w${++n}`);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  mkdirSync(root, { recursive: true });
  return root;
}

const flyToml = (app: string, extra = ''): string => `app = "${app}"\nprimary_region = "ams"\n${extra}`;

async function api<T>(path: string): Promise<{ status: number; body: T }> {
  const res = await fetch(`${c.url}${path}`, { headers: { authorization: `Bearer ${c.token}` } });
  return { status: res.status, body: (await res.json()) as T };
}

/**
 * The names in the image of the app's newest release: its one layer, read back from the platform
 * registry (/v2/) as any registry client would.
 */
async function imageOf(app: string): Promise<string[]> {
  const { body } = await api<{ releases: { image: { digest: string; kind?: string } }[] }>(`/v1/apps/${app}/releases`);
  const image = body.releases.at(-1)?.image;
  assert.ok(image, `app ${app} has a release`);
  assert.equal(image.kind, 'oci', 'the quick-start form is an OCI image in the platform registry');
  const get = (path: string, accept = '*/*') => fetch(`${c.url}/v2/${app}/${path}`, { headers: { authorization: `Bearer ${c.token}`, accept } });
  const manifest = (await (await get(`manifests/${image.digest}`, 'application/vnd.oci.image.manifest.v1+json')).json()) as { layers: { digest: string }[] };
  assert.equal(manifest.layers.length, 1, 'one layer');
  const file = join(c.dir, `layer-${++n}.tar.gz`);
  writeFileSync(file, Buffer.from(await (await get(`blobs/${manifest.layers[0]!.digest}`)).arrayBuffer()));
  return execFileSync('tar', ['-tzf', file], { encoding: 'utf8' }).split('\n').filter((l) => l !== '');
}

/** Every file the control plane holds of images: uploads and the platform registry's blobs, links and tags. */
const imagesHeld = (): string[] => (existsSync(join(c.dir, 'images')) ? readdirSync(join(c.dir, 'images'), { recursive: true, encoding: 'utf8' }).sort() : []);

describe('starling deploy: what it packs', () => {
  it('-c sub/fly.toml with [build] image = "." packs sub/, not the current directory', async () => {
    const root = tree({ 'sub/fly.toml': flyToml('pack-sub', '[build]\nimage = "."\n'), 'sub/in-sub.txt': 'sub', 'in-cwd.txt': 'cwd' });
    const r = await cli(root, 'deploy', '-c', 'sub/fly.toml', '--create', '--detach');
    assert.equal(r.code, 0, r.stderr);
    const names = await imageOf('pack-sub');
    assert.ok(names.includes('./in-sub.txt'), names.join(' '));
    assert.ok(!names.includes('./in-cwd.txt'), names.join(' '));
  });

  it('without --image or [build] image it packs the config file’s directory', async () => {
    const root = tree({ 'app/starling.toml': flyToml('pack-default'), 'app/server.js': 'x', 'elsewhere.txt': 'no' });
    const r = await cli(root, 'deploy', '--config', join('app', 'starling.toml'), '--create', '--detach');
    assert.equal(r.code, 0, r.stderr);
    const names = await imageOf('pack-default');
    assert.ok(names.includes('./server.js'), names.join(' '));
    assert.ok(!names.includes('./elsewhere.txt'), names.join(' '));
  });

  it('leaves out what .starlingignore names (over .dockerignore), with ! taking paths back, and .git always', async () => {
    const root = tree({
      'fly.toml': flyToml('pack-ignore'),
      '.starlingignore': '# not the app\nsecret.txt\nlogs/\n*.tmp\n!keep.tmp\n**/cache/\nnode_modules/\n!node_modules/dep/\n',
      '.dockerignore': 'server.js\n',
      'server.js': 'x',
      'secret.txt': 'no',
      'logs/a.log': 'no',
      'x.tmp': 'no',
      'keep.tmp': 'yes',
      'lib/cache/c.bin': 'no',
      'lib/util.js': 'yes',
      'node_modules/junk/index.js': 'no',
      'node_modules/dep/index.js': 'yes',
      '.git/config': 'no',
    });
    const r = await cli(root, 'deploy', '--image', '.', '--create', '--detach');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /left out by \.starlingignore/);
    const names = await imageOf('pack-ignore');
    for (const kept of ['./server.js', './keep.tmp', './lib/util.js', './node_modules/dep/index.js', './.starlingignore']) assert.ok(names.includes(kept), `${kept} in ${names.join(' ')}`);
    for (const gone of ['./secret.txt', './logs/a.log', './logs/', './x.tmp', './lib/cache/c.bin', './node_modules/junk/index.js', './.git/config']) {
      assert.ok(!names.some((x) => x === gone || x === `${gone}/`), `${gone} not in ${names.join(' ')}`);
    }
  });
});

describe('starling deploy: refused before anything is uploaded or written', () => {
  it('an app that does not exist is refused without --create, naming it and the near ones', async () => {
    assert.equal((await cli(c.dir, 'apps', 'create', 'shop', '--primary-region', 'ams')).code, 0);
    const root = tree({ 'fly.toml': flyToml('shopp'), 'server.js': 'x' });
    const before = imagesHeld();
    const r = await cli(root, 'deploy', '--image', '.', '--detach');
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /app shopp \(from fly\.toml\) does not exist: did you mean shop\?/);
    assert.match(r.stderr, /--create/);
    assert.match(r.stderr, /starling apps create shopp/);
    assert.equal((await api('/v1/apps/shopp')).status, 404);
    assert.deepEqual(imagesHeld(), before);
    const created = await cli(root, 'deploy', '--image', '.', '--detach', '--create');
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /app shopp created/);
    assert.equal((await api('/v1/apps/shopp')).status, 200);
  });

  it('--strategy blue-green exits 2 with the valid ones and a did-you-mean, said once, before any upload', async () => {
    const root = tree({ 'fly.toml': flyToml('strategy-typo'), 'server.js': 'x' });
    const before = imagesHeld();
    const r = await cli(root, 'deploy', '--image', '.', '--strategy', 'blue-green', '--create', '--detach');
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--strategy must be rolling, canary, bluegreen or immediate, got "blue-green": did you mean bluegreen\?/);
    assert.equal(r.stderr.match(/blue-green/g)?.length, 1, r.stderr);
    assert.equal(r.stdout, '');
    assert.equal((await api('/v1/apps/strategy-typo')).status, 404);
    assert.deepEqual(imagesHeld(), before);
  });

  it('other deploy flags are checked as the control plane would, before any upload', async () => {
    const root = tree({ 'fly.toml': flyToml('flag-typo'), 'server.js': 'x' });
    for (const [flag, value] of [['--max-unavailable', '1.5'], ['--wait-timeout', '0.5'], ['--wait-timeout', '7200']] as const) {
      const r = await cli(root, 'deploy', '--image', '.', flag, value, '--create', '--detach');
      assert.equal(r.code, 2, `${flag} ${value}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`${flag} must be`));
    }
    const missing = await cli(root, 'deploy', '--image', './nope', '--create', '--detach');
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /image \.\/nope does not exist/);
    // Not a path, and not a reference either: refused here, before anything is made.
    const bad = await cli(root, 'deploy', '--image', 'Reg.example.com/UPPER:tag', '--create', '--detach');
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /UPPER/);
    assert.equal((await api('/v1/apps/flag-typo')).status, 404);
  });

  it('a directory that packs over the control plane’s limit exits 2 naming the size, the limit and the ignore file', async () => {
    const root = tree({ 'fly.toml': flyToml('too-big'), 'server.js': 'x', 'assets/blob.bin': randomBytes(4 * LIMIT) });
    const before = imagesHeld();
    const r = await cli(root, 'deploy', '--image', '.', '--create', '--detach');
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /image \. is over 64\.0 KiB packed \(\d+ files, 256\.0 KiB\), above the control plane's limit of 64\.0 KiB \(65536 bytes\)/);
    assert.match(r.stderr, /\.starlingignore/);
    assert.match(r.stderr, /assets\/ 256\.0 KiB/);
    assert.equal((await api('/v1/apps/too-big')).status, 404);
    assert.deepEqual(imagesHeld(), before);
    // A .tar.gz given as it is: its size is checked before it is uploaded, too.
    writeFileSync(join(root, 'big.tgz'), randomBytes(2 * LIMIT));
    const tgz = await cli(root, 'deploy', '--image', 'big.tgz', '--create', '--detach');
    assert.equal(tgz.code, 2, tgz.stderr);
    assert.match(tgz.stderr, /image big\.tgz is 128\.0 KiB, above the control plane's limit of 64\.0 KiB/);
    const notImage = await cli(root, 'deploy', '--image', 'server.js', '--create', '--detach');
    assert.equal(notImage.code, 2, notImage.stderr);
    assert.match(notImage.stderr, /image server\.js is neither a directory nor a \.tar\.gz/);
    assert.equal((await api('/v1/apps/too-big')).status, 404);
    assert.deepEqual(imagesHeld(), before);
    // The limit is the control plane's to say.
    assert.deepEqual((await api('/v1/images')).body, { max_bytes: LIMIT });
  });

  it('the CLI checks the strategies the control plane takes', () => {
    assert.deepEqual([...CLI_STRATEGIES].sort(), [...DEPLOY_STRATEGIES].sort());
  });
});
