/**
 * `--lab NAME` and `lab use`, without a lab: which control plane a command picks (the lab's file
 * under HOME, a flag, the environment, the config file), and the errors that say what to do. The
 * lab's own end-to-end test (test/e2e/lab.test.ts) deploys through a real one.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setDefaultLab } from '../../src/cli/lab-target.js';
import { runCli } from '../helpers/cli.js';
import { startLoopbackControl } from '../helpers/control.js';

const home = mkdtempSync(join(tmpdir(), 'starling-lab-target-'));
const env = { HOME: home };
const config = join(home, '.config', 'starling', 'config.toml');
after(() => rmSync(home, { recursive: true, force: true }));

describe('--lab and lab use', () => {
  it('a lab that is not up is named, with the command that brings it up', async () => {
    const r = await runCli(['apps', 'list', '--lab', 'nope'], { env, cleanEnv: true });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /lab "nope" \(--lab\) is not up, or was brought up with another HOME: there is no \S+\/\.config\/starling\/labs\/nope\.toml/);
    assert.match(r.stderr, /hint: bring it up with starling lab up --name nope/);
  });

  it('a name that is not a lab name is refused before any file is read', async () => {
    const r = await runCli(['apps', 'list', '--lab', '../../etc/x'], { env, cleanEnv: true });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--lab: a lab's name is 1-8 of a-z and 0-9, got "\.\.\/\.\.\/etc\/x"/);
  });

  it('--control and --lab together, or STARLING_CONTROL_URL and STARLING_LAB, are an error, not a guess', async () => {
    const both = await runCli(['apps', 'list', '--lab', 'x', '--control', 'http://127.0.0.1:1'], { env, cleanEnv: true });
    assert.equal(both.code, 2);
    assert.match(both.stderr, /give --control URL or --lab NAME, not both/);
    const envs = await runCli(['apps', 'list'], { env: { ...env, STARLING_CONTROL_URL: 'http://127.0.0.1:1', STARLING_LAB: 'x' }, cleanEnv: true });
    assert.equal(envs.code, 2);
    assert.match(envs.stderr, /STARLING_CONTROL_URL and STARLING_LAB are both set/);
  });

  it("lab in the config file (lab use) wins over its control_url; --control wins over both; lab use --clear goes back", async () => {
    const cp = await startLoopbackControl('starling-lab-target-cp-');
    try {
      mkdirSync(join(home, '.config', 'starling'), { recursive: true });
      const tokenFile = join(home, 'token');
      writeFileSync(tokenFile, cp.token);
      writeFileSync(config, `# mine\ncontrol_url = "${cp.url}"\ntoken_file = "${tokenFile}"\n`);
      assert.equal((await runCli(['apps', 'list'], { env, cleanEnv: true })).code, 0, 'control_url alone');
      assert.equal(setDefaultLab(config, 'gone'), undefined);
      const viaLab = await runCli(['apps', 'list'], { env, cleanEnv: true });
      assert.equal(viaLab.code, 2);
      assert.match(viaLab.stderr, /lab "gone" \(lab in \S+config\.toml \(starling lab use\)\) is not up/);
      const flag = await runCli(['apps', 'list', '--control', cp.url, '--token-file', tokenFile], { env, cleanEnv: true });
      assert.equal(flag.code, 0, flag.stderr);
      const clear = await runCli(['lab', 'use', '--clear'], { env, cleanEnv: true });
      assert.equal(clear.code, 0, clear.stderr);
      assert.match(clear.stdout, /lab gone is no longer used/);
      assert.equal(readFileSync(config, 'utf8'), `# mine\ncontrol_url = "${cp.url}"\ntoken_file = "${tokenFile}"\n`, 'the other lines and the comment stay');
      assert.equal((await runCli(['apps', 'list'], { env, cleanEnv: true })).code, 0, 'back to control_url');
    } finally {
      await cp.close();
    }
  });
});

describe('lab exec', () => {
  it("`lab exec CITY -- curl --help` runs curl's help in the lab, not lab exec's own", async () => {
    const r = await runCli(['lab', 'exec', 'lhr', '--name', 'nolab', '--', 'curl', '--help'], { env, cleanEnv: true });
    assert.doesNotMatch(r.stdout, /starling lab exec CITY -- CMD\.\.\./, 'not the help of lab exec');
    assert.match(r.stderr, /there is no lab "nolab"/, 'it tried to run the command in the lab');
  });
});
