/**
 * `--app` from the app config, as flyctl reads it from fly.toml: the commands about one app run
 * next to a starling.toml or fly.toml without --app; --app still wins, and a broken config next to
 * you does not block an explicit --app. The built CLI against a real control plane on loopback.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { startLoopbackControl, type LoopbackControl } from '../helpers/control.js';

let c: LoopbackControl;
let appDir: string;
let flyDir: string;
let brokenDir: string;
let emptyDir: string;

before(async () => {
  c = await startLoopbackControl('starling-cli-app-config-');
  appDir = join(c.dir, 'app');
  flyDir = join(c.dir, 'fly');
  brokenDir = join(c.dir, 'broken');
  emptyDir = join(c.dir, 'empty');
  for (const d of [appDir, flyDir, brokenDir, emptyDir]) mkdirSync(d);
  writeFileSync(join(appDir, 'starling.toml'), 'app = "alpha"\nprimary_region = "ams"\n');
  writeFileSync(join(flyDir, 'fly.toml'), 'app = "beta"\nprimary_region = "fra"\n');
  writeFileSync(join(brokenDir, 'fly.toml'), 'app = "beta\n');
  for (const [name, region] of [['alpha', 'ams'], ['beta', 'fra']] as const) {
    const r = await cli(emptyDir, 'apps', 'create', name, '--primary-region', region);
    assert.equal(r.code, 0, r.stderr);
  }
});
after(() => c.close());

function cli(cwd: string, ...args: string[]) {
  return runCli(args, { cwd, cleanEnv: true, env: { HOME: c.home, STARLING_CONTROL_URL: c.url, STARLING_TOKEN: c.token } });
}

describe('--app from starling.toml / fly.toml', () => {
  it('status, scale and secrets list take the app from the config in the current directory', async () => {
    const status = await cli(appDir, 'status', '--json');
    assert.equal(status.code, 0, status.stderr);
    assert.equal((JSON.parse(status.stdout) as { app: { name: string } }).app.name, 'alpha');
    const fly = await cli(flyDir, 'status', '--json');
    assert.equal(fly.code, 0, fly.stderr);
    assert.equal((JSON.parse(fly.stdout) as { app: { name: string } }).app.name, 'beta');

    const set = await cli(flyDir, 'secrets', 'set', 'GREETING=hi', '--stage');
    assert.equal(set.code, 0, set.stderr);
    const listed = await cli(flyDir, 'secrets', 'list', '--json');
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /GREETING/);
    assert.doesNotMatch((await cli(appDir, 'secrets', 'list', '--json')).stdout, /GREETING/);

    // alpha has no release yet: the control plane's refusal names alpha, the app from the config.
    const scale = await cli(appDir, 'scale', 'count', '2');
    assert.equal(scale.code, 2, scale.stderr);
    assert.match(scale.stderr, /alpha/);
  });

  it('--app wins over the config', async () => {
    const r = await cli(appDir, 'status', '--app', 'beta', '--json');
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { app: { name: string } }).app.name, 'beta');
  });

  it('a broken config next to you does not block an explicit --app, and is named when it is used', async () => {
    const explicit = await cli(brokenDir, 'status', '-a', 'alpha', '--json');
    assert.equal(explicit.code, 0, explicit.stderr);
    const implied = await cli(brokenDir, 'status');
    assert.equal(implied.code, 2);
    assert.match(implied.stderr, /fly\.toml/);
    assert.match(implied.stderr, /--app/);
  });

  it('with neither, the error names both ways, once, exit 2', async () => {
    const r = await cli(emptyDir, 'secrets', 'list');
    assert.equal(r.code, 2);
    assert.equal(r.stderr.match(/--app APP is required \(or run it next to a starling\.toml\/fly\.toml with app = …\)/g)?.length, 1, r.stderr);
  });
});
