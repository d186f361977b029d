/**
 * `[deploy] release_command` end to end: the control plane as a real process, two agents (fra and
 * ams, the app's primary region) with real sandboxed machines, and the real CLI. The command runs
 * once, in a temporary machine of the new release with its env and secrets, on a host of the
 * primary region, before any machine is created or replaced; a command that exits 3 fails the
 * deploy with its exit code and output while the old release keeps serving; a control plane killed
 * while the command runs does not run it again once its machine reported success.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { killAllCli } from '../helpers/cli.js';
import { startPlatform, type Platform } from '../helpers/platform.js';
import { waitFor } from '../helpers/wait.js';

const FIXTURE = new URL('../../../test/fixtures/apps/env-echo/server.mjs', import.meta.url).pathname;
const SECRET = 's3cret-value-789';
const HOSTS = ['f', 'a'] as const;
let p: Platform;
let appDir: string;

interface Run { machine: string; region: string; host: string; attempt: number; state: string; exit_code: number | null; command: string }
interface Status {
  app: { deployed_release?: number };
  machines: { id: string; release: number; healthy: boolean; state: string; role?: string }[];
  deploy: { id: string; state: string; error: string | null; events: { message: string }[]; release_command?: Run | null; failure?: { exit: { code: number | null } | null; log_tail: { message: string }[] } | null };
}

/**
 * The release command prints what it sees — its arguments, RELEASE_COMMAND, the release's
 * GREETING, a digest of the secret (a secret's value is redacted in logs) — then exits with
 * MIGRATE_EXIT after MIGRATE_SLEEP_MS.
 */
const MIGRATE = `import { createHash } from 'node:crypto';
const digest = (v) => (v === undefined ? 'unset' : createHash('sha256').update(v).digest('hex').slice(0, 16));
console.log('migrate ' + process.argv.slice(2).join('|') + ' release=' + process.env.RELEASE_COMMAND + ' greeting=' + process.env.GREETING + ' secret=' + digest(process.env.DB_PASSWORD) + ' region=' + process.env.FLY_REGION);
const code = Number(process.env.MIGRATE_EXIT ?? '0');
setTimeout(() => {
  if (code !== 0) console.error('migration failed: relation "users" already exists');
  else console.log('migrated');
  process.exit(code);
}, Number(process.env.MIGRATE_SLEEP_MS ?? '0'));
`;

function writeApp(greeting: string, env: Record<string, string> = {}): void {
  writeFileSync(
    join(appDir, 'starling.toml'),
    `app = "rc"\nprimary_region = "ams"\nkill_signal = "SIGTERM"\nkill_timeout = "2s"\n` +
      `[env]\nGREETING = "${greeting}"\n${Object.entries(env).map(([k, v]) => `${k} = "${v}"\n`).join('')}` +
      `[experimental]\ncmd = ["node", "server.mjs"]\n` +
      `[http_service]\ninternal_port = 8080\n[[http_service.checks]]\npath = "/healthz"\ninterval = "1s"\ntimeout = "500ms"\ngrace_period = "0s"\n` +
      `[deploy]\nrelease_command = "node migrate.mjs --to 'v 2'"\nrelease_command_timeout = "2m"\n`,
  );
}

const status = async (): Promise<Status> => (await p.api('GET', '/v1/apps/rc/status')).body as Status;
const greetingVia = async (host: string): Promise<string | null> => {
  const r = await p.get(host, 'rc', '/env?name=GREETING');
  return r.status === 200 ? ((JSON.parse(r.body) as { value: string | null }).value ?? null) : null;
};
async function deploy(args: string[] = []): Promise<{ code: number | null; out: string }> {
  const r = await p.cli(['deploy', '--config', join(appDir, 'starling.toml'), '--image', appDir, ...args], 180_000);
  return { code: r.code, out: r.stdout + r.stderr };
}
/** The temporary machine is gone everywhere: its placement, its host's machine, its state report. */
async function goneEverywhere(id: string): Promise<void> {
  assert.ok(!(await status()).machines.some((m) => m.id === id), 'no placement left');
  await waitFor(async () => ((await p.api('GET', `/v1/apps/rc/machines/${id}/status`)).body as { gone_at?: string | null }).gone_at != null, `machine ${id} reported gone`, 30_000, 50);
  for (const h of HOSTS) assert.equal(p.agents.get(h)!.machines!.get('rc', id), undefined, `host-${h} holds no machine ${id}`);
}

before(async () => {
  p = await startPlatform([
    { name: 'f', region: 'fra' },
    { name: 'a', region: 'ams' },
  ], { prefix: 'deploy-rc' });
  appDir = join(p.dir, 'app');
  mkdirSync(appDir);
  copyFileSync(FIXTURE, join(appDir, 'server.mjs'));
  writeFileSync(join(appDir, 'migrate.mjs'), MIGRATE);
});

after(async () => {
  killAllCli();
  await p?.stop();
});

describe('release_command gates a deploy', { timeout: 600_000 }, () => {
  it('runs once, in a machine of the new release with its env and secrets, in the primary region, before any machine is created', async () => {
    const created = await p.cli(['apps', 'create', 'rc', '--primary-region', 'ams']);
    assert.equal(created.code, 0, created.stdout + created.stderr);
    const secret = await p.cli(['secrets', 'set', '--app', 'rc', `DB_PASSWORD=${SECRET}`]);
    assert.equal(secret.code, 0, secret.stdout + secret.stderr);
    writeApp('v1');
    const r = await deploy();
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /running the release command "node migrate\.mjs --to 'v 2'" on machine \w+ \(ams, host-a\), timeout 2m/);
    assert.match(r.out, /machine \w+ ams v1 \(release command\) on host-a/, 'the live progress names the temporary machine');
    assert.match(r.out, /release command succeeded on machine \w+ \(exit code 0\)/);

    const s = await status();
    assert.equal(s.deploy.state, 'succeeded');
    assert.equal(s.app.deployed_release, 1);
    const run = s.deploy.release_command!;
    assert.deepEqual([run.state, run.exit_code, run.attempt, run.region, run.host], ['succeeded', 0, 1, 'ams', 'host-a']);
    const events = s.deploy.events.map((e) => e.message);
    assert.equal(events.filter((e) => /running the release command/.test(e)).length, 1, 'run exactly once');
    const ran = events.findIndex((e) => /release command succeeded/.test(e));
    const firstCreate = events.findIndex((e) => /^created /.test(e));
    assert.ok(ran >= 0 && firstCreate > ran, `the command ended before the first machine was created: ${JSON.stringify(events)}`);
    assert.ok(s.machines.length === 1 && s.machines.every((m) => m.role === undefined && m.release === 1 && m.id !== run.machine));
    for (const h of HOSTS) await waitFor(async () => (await greetingVia(h)) === 'v1', `v1 through host-${h}`, 20_000, 50);

    await goneEverywhere(run.machine);
    const logs = await p.cli(['logs', '--machine', run.machine, '--app', 'rc']);
    assert.equal(logs.code, 0, logs.stdout + logs.stderr);
    const digest = createHash('sha256').update(SECRET).digest('hex').slice(0, 16);
    assert.match(logs.stdout, new RegExp(`migrate --to\\|v 2 release=1 greeting=v1 secret=${digest} region=ams`), 'its argv, RELEASE_COMMAND, the env and the secret');
    assert.match(logs.stdout, /migrated/);
  });

  it('a release command that exits 3 fails the deploy before any machine is replaced, with its exit code and output', async () => {
    const before = (await status()).machines.map((m) => m.id).sort();
    writeApp('v2', { MIGRATE_EXIT: '3' });
    const r = await deploy();
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /release command "node migrate\.mjs --to 'v 2'" exited with code 3/);
    assert.match(r.out, /exit code: 3/);
    assert.match(r.out, /greeting=v2/, "the command ran with the new release's env, and its output is shown");
    assert.match(r.out, /migration failed: relation "users" already exists/);
    assert.match(r.out, /deploy failed: .*no machine was replaced/);

    const s = await status();
    assert.equal(s.deploy.state, 'failed');
    assert.equal(s.app.deployed_release, 1, 'the deployed release stays');
    assert.equal(s.deploy.failure?.exit?.code, 3);
    assert.ok(s.deploy.failure?.log_tail.some((l) => /relation "users" already exists/.test(l.message)), JSON.stringify(s.deploy.failure));
    assert.deepEqual(s.machines.map((m) => m.id).sort(), before, 'the same machines');
    assert.ok(s.machines.every((m) => m.release === 1 && m.healthy));
    assert.ok(!s.deploy.events.some((e) => /^(created|retiring|no spare capacity)/.test(e.message)), JSON.stringify(s.deploy.events));
    for (const h of HOSTS) assert.equal(await greetingVia(h), 'v1', `host-${h} still serves the old release`);
    await goneEverywhere(s.deploy.release_command!.machine);
  });

  it('a control plane killed while the command runs: resumed, the command that succeeded meanwhile is not run again', async () => {
    writeApp('v3', { MIGRATE_SLEEP_MS: '4000' });
    const started = await deploy(['--detach']);
    assert.equal(started.code, 0, started.out);
    let temp = '';
    await waitFor(async () => {
      const m = (await status()).machines.find((x) => x.role === 'release_command' && x.state === 'started');
      temp = m?.id ?? '';
      return m !== undefined;
    }, 'the release command running', 60_000, 50);
    // Running, never routed: not in its host's routes, never reported healthy.
    assert.ok(!p.agents.get('a')!.machines!.routesFor('rc').some((m) => m.id === temp));
    assert.equal((await status()).machines.find((m) => m.id === temp)?.healthy, false);
    await p.stopControl('SIGKILL');
    for (const h of HOSTS) assert.equal(await greetingVia(h), 'v1', `host-${h} serves with the control plane gone`);
    await p.startControl();
    const d = (await status()).deploy;
    assert.equal(d.state, 'interrupted');
    await waitFor(async () => ((await p.api('GET', `/v1/apps/rc/machines/${temp}/status`)).body as { exit?: unknown }).exit != null, 'the command to end and its host to report it', 60_000, 100);

    const resumed = await p.cli(['deploy', 'resume', d.id, '--app', 'rc'], 180_000);
    assert.equal(resumed.code, 0, resumed.stdout + resumed.stderr);
    const s = await status();
    assert.equal(s.deploy.state, 'succeeded');
    assert.equal(s.app.deployed_release, 3);
    assert.deepEqual([s.deploy.release_command!.machine, s.deploy.release_command!.attempt, s.deploy.release_command!.state], [temp, 1, 'succeeded']);
    assert.equal(s.deploy.events.filter((e) => /running the release command/.test(e.message)).length, 1, 'not run again');
    for (const h of HOSTS) await waitFor(async () => (await greetingVia(h)) === 'v3', `v3 through host-${h}`, 20_000, 50);
    await goneEverywhere(temp);
  });
});
