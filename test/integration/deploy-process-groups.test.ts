/**
 * fly.toml process groups end to end: the control plane as a real process, two agents (fra, the
 * primary region, and ams) with real sandboxed machines, and the real CLI. `[processes]` web,
 * worker and cron with `http_service.processes = ["web"]`: a first deploy makes one machine per
 * group in the primary region; each runs its group's command and sees its FLY_PROCESS_GROUP; HTTP
 * through either host's proxy lands on web machines only, although the worker listens on the same
 * port; cron listens on nothing and needs no check. `scale count web=2 worker=1 --region fra,ams`
 * gives those counts, a second deploy keeps them, and a deploy without cron destroys its machine.
 * The platform Machines API makes a machine of the group `fly_process_group` names.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { killAllCli } from '../helpers/cli.js';
import { startPlatform, type Platform } from '../helpers/platform.js';
import { waitFor } from '../helpers/wait.js';

const FIXTURE = new URL('../../../test/fixtures/apps/env-echo/server.mjs', import.meta.url).pathname;
const HOSTS = ['f', 'a'] as const;
let p: Platform;
let appDir: string;

interface Machine { id: string; region: string; host: string; release: number; healthy: boolean; state: string; process_group?: string; role?: string }
interface Status { app: { deployed_release?: number }; machines: Machine[]; deploy: { state: string; error: string | null; events: { message: string }[] } }

/** cron: says its group, then idles without listening anywhere. */
const CRON = "console.log('cron group=' + process.env.FLY_PROCESS_GROUP + ' starling=' + process.env.STARLING_PROCESS_GROUP);\nsetInterval(() => {}, 1 << 30);\nprocess.on('SIGTERM', () => process.exit(0));\nprocess.on('SIGINT', () => process.exit(0));\n";

function writeApp(greeting: string, groups = ['web', 'worker', 'cron']): void {
  const commands: Record<string, string> = { web: 'node server.mjs', worker: 'node server.mjs --worker', cron: 'node cron.mjs' };
  writeFileSync(
    join(appDir, 'fly.toml'),
    `app = "grp"\nprimary_region = "fra"\nkill_signal = "SIGTERM"\nkill_timeout = "2s"\n[env]\nGREETING = "${greeting}"\n` +
      `[processes]\n${groups.map((g) => `${g} = "${commands[g]}"\n`).join('')}` +
      `[http_service]\ninternal_port = 8080\nprocesses = ["web"]\n[[http_service.checks]]\npath = "/healthz"\ninterval = "1s"\ntimeout = "500ms"\ngrace_period = "0s"\n` +
      `[deploy]\nmax_unavailable = 4\n`,
  );
}

const status = async (): Promise<Status> => (await p.api('GET', '/v1/apps/grp/status')).body as Status;
/** group → region → machines, of the app's own machines. */
async function counts(): Promise<Record<string, Record<string, number>>> {
  const out: Record<string, Record<string, number>> = {};
  for (const m of (await status()).machines) {
    const g = (out[m.process_group ?? '?'] ??= {});
    g[m.region] = (g[m.region] ?? 0) + 1;
  }
  return out;
}
async function deploy(): Promise<{ code: number | null; out: string }> {
  const r = await p.cli(['deploy', '--config', join(appDir, 'fly.toml'), '--image', appDir], 240_000);
  return { code: r.code, out: r.stdout + r.stderr };
}
/**
 * The machine's own answer to GET path, straight at its private address (not through a proxy).
 * A worker has no check: it is healthy once started, maybe before it listens.
 */
async function direct(m: Machine, path: string): Promise<string> {
  const view = p.agents.get(m.host.replace(/^host-/, ''))!.machines!.get('grp', m.id);
  let value: string | undefined;
  await waitFor(async () => {
    const r = await fetch(`http://${view!.private_ip}:8080${path}`).catch(() => undefined);
    if (r) value = ((await r.json()) as { value: string | null }).value ?? '';
    return r !== undefined;
  }, `machine ${m.id} to answer`, 30_000, 50);
  return value!;
}
/** Every machine that answers HTTP through each host's proxy, over `n` requests per host. */
async function answering(n: number): Promise<Set<string>> {
  const seen = new Set<string>();
  for (const h of HOSTS) {
    for (let i = 0; i < n; i++) {
      const r = await p.get(h, 'grp', '/');
      assert.equal(r.status, 200, `through host-${h}: ${r.status} ${r.body}`);
      seen.add((JSON.parse(r.body) as { machine: string }).machine);
    }
  }
  return seen;
}
const idsOf = (s: Status, group: string): string[] => s.machines.filter((m) => m.process_group === group).map((m) => m.id).sort();

before(async () => {
  p = await startPlatform([
    { name: 'f', region: 'fra' },
    { name: 'a', region: 'ams' },
  ], { prefix: 'deploy-groups' });
  appDir = join(p.dir, 'app');
  mkdirSync(appDir);
  copyFileSync(FIXTURE, join(appDir, 'server.mjs'));
  writeFileSync(join(appDir, 'cron.mjs'), CRON);
});

after(async () => {
  killAllCli();
  await p?.stop();
});

describe('process groups', { timeout: 900_000 }, () => {
  it('a first deploy makes one machine per group in the primary region; each runs its command and sees its group; HTTP reaches web only', async () => {
    const created = await p.cli(['apps', 'create', 'grp', '--primary-region', 'fra']);
    assert.equal(created.code, 0, created.stdout + created.stderr);
    writeApp('v1');
    const validate = await p.cli(['config', 'validate', '--config', join(appDir, 'fly.toml')]);
    assert.match(validate.stdout, /valid: .*process groups cron, web, worker/, validate.stdout + validate.stderr);
    const r = await deploy();
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /deploying release 1 \(rolling\) to cron: 1 in fra; web: 1 in fra; worker: 1 in fra/);
    assert.match(r.out, /machine \w+ fra v1 \(worker\) on host-f/, 'the live progress names each machine\'s group');

    const s = await status();
    assert.equal(s.deploy.state, 'succeeded');
    assert.deepEqual(await counts(), { cron: { fra: 1 }, web: { fra: 1 }, worker: { fra: 1 } });
    assert.ok(s.machines.every((m) => m.host === 'host-f' && m.release === 1 && m.healthy), JSON.stringify(s.machines));
    const [web] = s.machines.filter((m) => m.process_group === 'web');
    const [worker] = s.machines.filter((m) => m.process_group === 'worker');
    const [cron] = s.machines.filter((m) => m.process_group === 'cron');
    // Each sees its own group, under both names.
    assert.equal(await direct(web!, '/env?name=FLY_PROCESS_GROUP'), 'web');
    assert.equal(await direct(worker!, '/env?name=FLY_PROCESS_GROUP'), 'worker');
    assert.equal(await direct(worker!, '/env?name=STARLING_PROCESS_GROUP'), 'worker');
    await waitFor(async () => /cron group=cron starling=cron/.test((await p.cli(['logs', '--machine', cron!.id, '--app', 'grp'])).stdout), 'cron to log its group', 30_000, 200);
    // The worker listens on the same port, yet no request through either host reaches it.
    await waitFor(async () => (await p.get('a', 'grp', '/')).status === 200, 'web through host-a', 30_000, 50);
    assert.deepEqual([...(await answering(20))], [web!.id]);

    const shown = await p.cli(['status', '--app', 'grp']);
    assert.match(shown.stdout, new RegExp(`${worker!.id} +worker +fra`), shown.stdout);
    const listed = await p.cli(['machines', 'list', '--app', 'grp']);
    assert.match(listed.stdout, new RegExp(`${cron!.id} +cron +fra`), listed.stdout);
  });

  it('scale count web=2 worker=1 --region fra,ams gives those counts; a bare count is refused, naming the groups', async () => {
    const bare = await p.cli(['scale', 'count', '3', '--app', 'grp']);
    assert.notEqual(bare.code, 0);
    assert.match(bare.stderr, /several process groups \(cron, web, worker\)/, bare.stderr);
    const unknown = await p.cli(['scale', 'count', 'wrker=1', '--app', 'grp']);
    assert.match(unknown.stderr, /no process group "wrker" \(its groups: cron, web, worker\)/, unknown.stderr);

    const r = await p.cli(['scale', 'count', 'web=2', 'worker=1', '--region', 'fra,ams', '--app', 'grp']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /\+ machine \w+ \(web\) in ams on host-a/);
    assert.deepEqual(await counts(), { cron: { fra: 1 }, web: { fra: 2, ams: 2 }, worker: { fra: 1, ams: 1 } });
    await waitFor(async () => (await status()).machines.every((m) => m.healthy), 'every machine healthy', 60_000, 100);
    const s = await status();
    const seen = await answering(40);
    assert.ok([...seen].every((id) => idsOf(s, 'web').includes(id)), `only web answers: ${[...seen].join(', ')} of web ${idsOf(s, 'web').join(', ')}`);
    assert.ok(seen.size >= 2, 'more than one web machine answers');
    for (const m of s.machines.filter((x) => x.process_group === 'worker')) assert.equal(await direct(m, '/env?name=FLY_PROCESS_GROUP'), 'worker');
    const show = JSON.parse((await p.cli(['scale', 'show', '--app', 'grp', '--json'])).stdout) as { count: number; groups: { group: string; count: number; regions: { region: string; count: number }[] }[] };
    assert.equal(show.count, 7);
    assert.deepEqual(show.groups.map((g) => [g.group, g.count, g.regions.map((r) => `${r.count} in ${r.region}`).join(', ')]), [['cron', 1, '1 in fra'], ['web', 4, '2 in ams, 2 in fra'], ['worker', 2, '1 in ams, 1 in fra']]);
  });

  it("the Machines API makes a machine of the group its metadata's fly_process_group names, as flyctl does", async () => {
    const bad = await p.api('POST', '/v1/apps/grp/machines', { region: 'ams', config: { metadata: { fly_process_group: 'nope' } } });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'ERR_PROCESS_GROUP');
    const made = await p.api('POST', '/v1/apps/grp/machines', { region: 'ams', config: { metadata: { fly_process_group: 'worker' } } });
    assert.equal(made.status, 200, JSON.stringify(made.body));
    assert.equal(made.body.process_group, 'worker');
    assert.deepEqual(made.body.config.cmd, ['node', 'server.mjs', '--worker'], "the group's command");
    await waitFor(async () => (await status()).machines.some((m) => m.id === made.body.id && m.healthy), 'the new worker healthy', 30_000, 100);
    const m = (await status()).machines.find((x) => x.id === made.body.id)!;
    assert.equal(await direct(m, '/env?name=FLY_PROCESS_GROUP'), 'worker');
    assert.equal((await p.api('DELETE', `/v1/apps/grp/machines/${m.id}?force=true`)).status, 200);
    await waitFor(() => p.agents.get('a')!.machines!.get('grp', m.id) === undefined, 'it gone from its host', 30_000, 50);
  });

  it('a second deploy keeps every group\'s counts; a deploy without a group destroys its machines', async () => {
    writeApp('v2');
    const r = await deploy();
    assert.equal(r.code, 0, r.out);
    assert.deepEqual(await counts(), { cron: { fra: 1 }, web: { fra: 2, ams: 2 }, worker: { fra: 1, ams: 1 } });
    const s = await status();
    assert.ok(s.machines.every((m) => m.release === 2), 'every group moved to release 2');
    for (const id of await answering(10)) assert.ok(idsOf(s, 'web').includes(id), `${id} is a web machine`);
    const greeting = await p.get('a', 'grp', '/env?name=GREETING');
    assert.equal(JSON.parse(greeting.body).value, 'v2');

    writeApp('v3', ['web', 'worker']);
    const dropped = await deploy();
    assert.equal(dropped.code, 0, dropped.out);
    assert.deepEqual(await counts(), { web: { fra: 2, ams: 2 }, worker: { fra: 1, ams: 1 } });
    const cron = s.machines.find((m) => m.process_group === 'cron')!;
    await waitFor(() => p.agents.get('f')!.machines!.get('grp', cron.id) === undefined, 'the cron machine gone from its host', 30_000, 50);
  });
});
