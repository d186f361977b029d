/**
 * The control-plane commands of the `starling` CLI (apps, releases, secrets, regions) as a user runs
 * them: the built CLI as a child process against a real control plane on loopback, configured by
 * env, flags, or ~/.config/starling/config.toml. Secret values must appear in no output.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { startLoopbackControl, type LoopbackControl } from '../helpers/control.js';
import { AGENT_SECRET, joinHost } from '../helpers/hosts.js';

const TOKEN = randomBytes(16).toString('hex');
const SECRET = `s3cr3t-${randomBytes(12).toString('hex')}`;
let control: LoopbackControl;
let dir: string;
let home: string;
let url: string;
const outputs: string[] = [];

before(async () => {
  control = await startLoopbackControl('starling-cli-control-', TOKEN);
  ({ dir, home, url } = control);
});
after(() => control.close());

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

async function cli(args: string[], env: Record<string, string> = { STARLING_CONTROL_URL: url, STARLING_TOKEN: TOKEN }, stdin?: string): Promise<Run> {
  const r = await runCli(args, { env: { HOME: home, ...env }, cleanEnv: true, stdin });
  outputs.push(r.stdout, r.stderr);
  return r;
}

async function register(id: string, region: string): Promise<void> {
  const credential = await joinHost(url, TOKEN, id, region);
  const res = await fetch(`${url}/v1/hosts/${id}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' },
    body: JSON.stringify({ region, capacity: { machines: 8 }, agent_url: 'http://127.0.0.1:9400', agent_secret: AGENT_SECRET }),
  });
  assert.ok(res.ok, await res.text());
}

describe('starling apps / releases / secrets / regions', () => {
  it('creates and lists apps, in text and JSON', async () => {
    const created = await cli(['apps', 'create', 'web', '--primary-region', 'ams']);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /created app web in org personal \(primary region ams\)/);
    const text = await cli(['apps', 'list']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^NAME\s+ORG\s+PRIMARY REGION/);
    assert.match(text.stdout, /\nweb\s+personal\s+ams\s+-\s+0\s/);
    const json = await cli(['apps', 'list', '--json']);
    const apps = JSON.parse(json.stdout) as { name: string; primary_region: string }[];
    assert.deepEqual(apps.map((a) => [a.name, a.primary_region]), [['web', 'ams']]);
  });

  it('reports a duplicate app with the API message (exit 2) and invalid input with every detail', async () => {
    const dup = await cli(['apps', 'create', 'web', '--primary-region', 'ams']);
    assert.equal(dup.code, 2);
    assert.match(dup.stderr, /error: app web already exists/);
    assert.match(dup.stderr, /hint: /);
    // (A bad region no longer reaches the API: the CLI names it first, tested below.)
    const bad = await cli(['apps', 'create', 'Bad_Name', '--primary-region', 'ams', '--org', 'Bad_Org']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /\n {2}name: must be lower-case/);
    assert.match(bad.stderr, /\n {2}org: must be lower-case/);
  });

  it('refuses to destroy without --yes, destroys with it', async () => {
    assert.equal((await cli(['apps', 'create', 'doomed', '--primary-region', 'ams'])).code, 0);
    const refused = await cli(['apps', 'destroy', 'doomed']);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /without --yes/);
    assert.match(refused.stderr, /hint: starling apps destroy doomed --yes/);
    assert.match((await cli(['apps', 'list'])).stdout, /doomed/);
    const done = await cli(['apps', 'destroy', 'doomed', '--yes']);
    assert.equal(done.code, 0, done.stderr);
    assert.doesNotMatch((await cli(['apps', 'list'])).stdout, /doomed/);
    const gone = await cli(['apps', 'destroy', 'doomed', '--yes']);
    assert.equal(gone.code, 2);
    assert.match(gone.stderr, /no app "doomed"/);
  });

  it('sets, lists and unsets secrets without ever printing a value', async () => {
    const set = await cli(['secrets', 'set', '--app', 'web', `DATABASE_URL=${SECRET}`]);
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /set secret DATABASE_URL on app web \(digest [0-9a-f]{16}\)/);
    const piped = await cli(['secrets', 'set', '--app', 'web', 'API_KEY', '--stdin'], undefined, `${SECRET}-2\n`);
    assert.equal(piped.code, 0, piped.stderr);
    const list = await cli(['secrets', 'list', '--app', 'web']);
    assert.match(list.stdout, /API_KEY\s+[0-9a-f]{16}/);
    assert.match(list.stdout, /DATABASE_URL\s+[0-9a-f]{16}/);
    const json = JSON.parse((await cli(['secrets', 'list', '--app', 'web', '--json'])).stdout) as { secrets_version: number; secrets: { name: string }[] };
    assert.equal(json.secrets_version, 2);
    assert.deepEqual(json.secrets.map((s) => s.name), ['API_KEY', 'DATABASE_URL']);
    const malformed = await cli(['secrets', 'set', '--app', 'web', SECRET]);
    assert.equal(malformed.code, 2);
    const unset = await cli(['secrets', 'unset', '--app', 'web', 'API_KEY']);
    assert.equal(unset.code, 0, unset.stderr);
    assert.doesNotMatch((await cli(['secrets', 'list', '--app', 'web'])).stdout, /API_KEY/);
    const missing = await cli(['secrets', 'unset', '--app', 'web', 'API_KEY']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /has no secret "API_KEY"/);
    for (const text of outputs) assert.ok(!text.includes(SECRET), `secret value in output:\n${text}`);
  });

  it('sets several secrets in one change, and none when one pair is bad', async () => {
    const versionOf = async (): Promise<{ version: number; names: string[] }> => {
      const j = JSON.parse((await cli(['secrets', 'list', '--app', 'web', '--json'])).stdout) as { secrets_version: number; secrets: { name: string }[] };
      return { version: j.secrets_version, names: j.secrets.map((s) => s.name) };
    };
    const before = await versionOf();
    const set = await cli(['secrets', 'set', '--app', 'web', `MULTI_A=${SECRET}-a`, `MULTI_B=${SECRET}-b=with=equals`]);
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /set 2 secrets on app web: MULTI_A \(digest [0-9a-f]{16}\), MULTI_B \(digest [0-9a-f]{16}\); the app's secrets are now version/);
    const after = await versionOf();
    assert.equal(after.version, before.version + 1, 'both secrets in one change');
    assert.ok(after.names.includes('MULTI_A') && after.names.includes('MULTI_B'), after.names.join());
    const list = await cli(['secrets', 'list', '--app', 'web']);
    assert.match(list.stdout, /MULTI_A\s+[0-9a-f]{16}/);
    assert.match(list.stdout, /MULTI_B\s+[0-9a-f]{16}/);

    // A bad name among good pairs: exit 2, named (its value never shown), nothing set.
    const badName = await cli(['secrets', 'set', '--app', 'web', `MULTI_C=${SECRET}`, `9LIVES=${SECRET}-9`, `MULTI_D=${SECRET}`]);
    assert.equal(badName.code, 2);
    assert.match(badName.stderr, /secret name "9LIVES" must be/);
    // A pair without NAME=: named by its position.
    const noName = await cli(['secrets', 'set', '--app', 'web', `MULTI_C=${SECRET}`, SECRET]);
    assert.equal(noName.code, 2);
    assert.match(noName.stderr, /argument 2 has no NAME= in front/);
    const twice = await cli(['secrets', 'set', '--app', 'web', `MULTI_C=${SECRET}`, `MULTI_C=${SECRET}-2`]);
    assert.equal(twice.code, 2);
    assert.match(twice.stderr, /secret MULTI_C is given twice/);
    const refused = await versionOf();
    assert.equal(refused.version, after.version, 'a refused call changes nothing');
    assert.ok(!refused.names.includes('MULTI_C') && !refused.names.includes('MULTI_D'), refused.names.join());

    // --stage with several, and --stdin takes one NAME only.
    const staged = await cli(['secrets', 'set', '--app', 'web', '--stage', `MULTI_C=${SECRET}`, `MULTI_D=${SECRET}`, '--json']);
    assert.equal(staged.code, 0, staged.stderr);
    const reply = JSON.parse(staged.stdout) as { secrets_version: number; secrets: { name: string }[]; rollout: unknown };
    assert.deepEqual(reply.secrets.map((s) => s.name), ['MULTI_C', 'MULTI_D']);
    assert.equal(reply.secrets_version, after.version + 1);
    assert.equal(reply.rollout, null);
    const stdinTwo = await cli(['secrets', 'set', '--app', 'web', 'MULTI_E', 'MULTI_F', '--stdin'], undefined, SECRET);
    assert.equal(stdinTwo.code, 2);
    assert.match(stdinTwo.stderr, /with --stdin give one NAME alone/);
    for (const text of outputs) assert.ok(!text.includes(SECRET), `secret value in output:\n${text}`);
  });

  it('lists releases (none yet) and regions', async () => {
    const rel = await cli(['releases', 'list', '--app', 'web']);
    assert.equal(rel.code, 0, rel.stderr);
    assert.match(rel.stdout, /no releases yet/);
    assert.deepEqual(JSON.parse((await cli(['releases', 'list', '--app', 'web', '--json'])).stdout), []);
    assert.match((await cli(['regions', 'list'])).stdout, /no region has hosts yet/);
    await register('host-a', 'ams');
    await register('host-b', 'ams');
    await register('host-c', 'arn');
    const regions = await cli(['regions', 'list']);
    assert.match(regions.stdout, /\nams\s+Amsterdam\s+2\s+16\n/);
    assert.match(regions.stdout, /\narn\s+Stockholm\s+1\s+8/);
    const json = JSON.parse((await cli(['regions', 'list', '--json'])).stdout) as { code: string }[];
    assert.deepEqual(json.map((r) => r.code), ['ams', 'arn']);
    // Without --primary-region, the first region with hosts.
    const created = await cli(['apps', 'create', 'api']);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /primary region ams/);
  });

  it('takes region codes in any case and names an unknown one with the command that lists them', async () => {
    const created = await cli(['apps', 'create', 'loud', '--primary-region', 'LHR']);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /primary region lhr\)/);
    const host = await cli(['hosts', 'add', 'host-lhr', '--region', 'Lhr', '--json']);
    assert.equal(host.code, 0, host.stderr);
    assert.equal((JSON.parse(host.stdout) as { region: string }).region, 'lhr');
    // Accepted by the CLI and the API: what is left is that the app has nothing deployed.
    const scale = await cli(['scale', 'count', '1', '--app', 'loud', '--region', 'LHR,Ams']);
    assert.equal(scale.code, 2);
    assert.match(scale.stderr, /has no deployed release to scale/);

    for (const args of [
      ['apps', 'create', 'quiet', '--primary-region', 'xyz'],
      ['hosts', 'add', 'host-x', '--region', 'xyz'],
      ['scale', 'count', '1', '--app', 'loud', '--region', 'lhr,xyz'],
      ['logs', '--app', 'loud', '--region', 'xyz'],
    ]) {
      const r = await cli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /--[a-z-]+: unknown region "xyz"/, args.join(' '));
      assert.match(r.stderr, /hint: see starling regions list/, args.join(' '));
      assert.doesNotMatch(r.stderr, /GET \/v1\/regions/, args.join(' '));
    }
    assert.doesNotMatch((await cli(['apps', 'list'])).stdout, /quiet/);

    // The API lower-cases too, for clients other than this CLI.
    const res = await fetch(`${url}/v1/apps`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'shouty', primary_region: 'FRA' }),
    });
    assert.equal(res.status, 201, await res.clone().text());
    assert.equal(((await res.json()) as { primary_region: string }).primary_region, 'fra');
  });

  it('says how to configure the control plane when nothing is configured (exit 2)', async () => {
    const r = await cli(['apps', 'list'], {});
    assert.equal(r.code, 2);
    assert.match(r.stderr, /error: no control plane configured/);
    assert.match(r.stderr, /hint: .*STARLING_CONTROL_URL.*config\.toml/);
    const noToken = await cli(['apps', 'list'], { STARLING_CONTROL_URL: url });
    assert.equal(noToken.code, 2);
    assert.match(noToken.stderr, /no API token configured/);
  });

  it('rejects a wrong token with a hint and without printing either token (exit 2)', async () => {
    const wrong = 'wrong-token-0123456789';
    const r = await cli(['apps', 'list'], { STARLING_CONTROL_URL: url, STARLING_TOKEN: wrong });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /missing or wrong bearer token/);
    assert.match(r.stderr, /hint: the token is not one this control plane accepts/);
    assert.ok(!r.stderr.includes(wrong) && !r.stderr.includes(TOKEN));
  });

  it('exits 1 with a hint when the control plane cannot be reached', async () => {
    const r = await cli(['apps', 'list'], { STARLING_CONTROL_URL: 'http://127.0.0.1:1', STARLING_TOKEN: TOKEN });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot reach the control plane at http:\/\/127\.0\.0\.1:1/);
    assert.match(r.stderr, /hint: is it running/);
  });

  it('takes flags over env over ~/.config/starling/config.toml', async () => {
    const cfgDir = join(home, '.config', 'starling');
    mkdirSync(cfgDir, { recursive: true });
    writeFileSync(join(cfgDir, 'token'), `${TOKEN}\n`, { mode: 0o600 });
    writeFileSync(join(cfgDir, 'config.toml'), `control_url = "${url}"\ntoken_file = "token"\n`);
    const fromFile = await cli(['apps', 'list'], {});
    assert.equal(fromFile.code, 0, fromFile.stderr);
    assert.match(fromFile.stdout, /web/);
    // env beats the file: a wrong env token is used (and refused).
    const envWins = await cli(['apps', 'list'], { STARLING_TOKEN: 'wrong-token-0123456789' });
    assert.equal(envWins.code, 2);
    assert.match(envWins.stderr, /wrong bearer token/);
    // flags beat env: --control and --token-file over an unreachable URL and a wrong token.
    const badFile = join(dir, 'bad.token');
    writeFileSync(badFile, 'wrong-token-0123456789\n');
    const good = join(dir, 'good.token');
    writeFileSync(good, TOKEN);
    const flagsWin = await cli(['apps', 'list', '--control', url, '--token-file', good], { STARLING_CONTROL_URL: 'http://127.0.0.1:1', STARLING_TOKEN_FILE: badFile });
    assert.equal(flagsWin.code, 0, flagsWin.stderr);
    const flagBad = await cli(['apps', 'list', '--token-file', badFile], { STARLING_TOKEN: TOKEN });
    assert.equal(flagBad.code, 2);
    // an unknown key in the file is a configuration error naming it
    writeFileSync(join(cfgDir, 'config.toml'), `control_url = "${url}"\ntokn = "x"\n`);
    const typo = await cli(['apps', 'list'], {});
    assert.equal(typo.code, 2);
    assert.match(typo.stderr, /tokn: unknown key/);
  });
});
