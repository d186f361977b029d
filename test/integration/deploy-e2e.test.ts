/**
 * Deploys end to end: the control plane as a real process, three agents (two in fra, one in ams)
 * with real sandboxed machines, and the real CLI — `starling deploy`, `scale count`, `status`,
 * `secrets set`, `deploy resume`. While deploys roll, clients keep asking every proxy and must
 * never see a failure. Covers rolling over two regions, canary, bluegreen, a release failing its
 * checks (rolled back, the old machines serving throughout), scaling up and down across regions,
 * secrets rolling the machines, and a control plane killed with SIGKILL mid-deploy (no committed
 * release lost, the proxies keep serving, the deploy resumes).
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { killAllCli } from '../helpers/cli.js';
import { startPlatform, type Platform } from '../helpers/platform.js';
import { waitFor } from '../helpers/wait.js';

const FIXTURE = new URL('../../../test/fixtures/apps/env-echo/server.mjs', import.meta.url).pathname;
const HOSTS = ['a', 'b', 'c'] as const;
let p: Platform;
let appDir: string;

interface StatusJson {
  app: { deployed_release?: number };
  machines: { id: string; region: string; host: string; release: number; state: string; healthy: boolean }[];
  deploy: { id: string; state: string; strategy: string; events: { message: string }[]; error: string | null } | null;
}

function writeApp(greeting: string, extra: { check?: string; strategy?: string } = {}): void {
  writeFileSync(
    join(appDir, 'starling.toml'),
    `app = "web"\nprimary_region = "fra"\nkill_signal = "SIGTERM"\nkill_timeout = "2s"\n` +
      `[env]\nGREETING = "${greeting}"\n[experimental]\ncmd = ["node", "server.mjs"]\n` +
      `[http_service]\ninternal_port = 8080\n[[http_service.checks]]\npath = "${extra.check ?? '/healthz'}"\ninterval = "1s"\ntimeout = "500ms"\ngrace_period = "0s"\n` +
      `[deploy]\nstrategy = "${extra.strategy ?? 'rolling'}"\nmax_unavailable = 1\n`,
  );
}

/** Machines named in a "created ID (REGION, HOST), …" deploy event. */
const placedIn = (event: string): number => event.match(/\(\w+, host-\w+\)/g)?.length ?? 0;
const status = async (): Promise<StatusJson> => (await p.api('GET', '/v1/apps/web/status')).body as StatusJson;
const greetingVia = async (host: string): Promise<string | null> => {
  const r = await p.get(host, 'web', '/env?name=GREETING');
  return r.status === 200 ? ((JSON.parse(r.body) as { value: string | null }).value ?? null) : null;
};

/** Clients asking every proxy every 25 ms; `stop()` returns what they saw. */
function clients(): { stop(): Promise<{ requests: number; failures: string[]; greetings: Set<string> }> } {
  let running = true;
  const failures: string[] = [];
  const greetings = new Set<string>();
  let requests = 0;
  const loops = HOSTS.map(async (h) => {
    while (running) {
      const r = await p.get(h, 'web', '/env?name=GREETING');
      requests++;
      if (r.status !== 200) failures.push(`${h}: ${r.status} ${r.body.slice(0, 100)}`);
      else greetings.add(String((JSON.parse(r.body) as { value: unknown }).value));
      await new Promise((resolve) => setTimeout(resolve, 25)); // pacing the load, not synchronisation
    }
  });
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      return { requests, failures, greetings };
    },
  };
}

async function deploy(args: string[] = []): Promise<{ code: number | null; out: string }> {
  const r = await p.cli(['deploy', '--config', join(appDir, 'starling.toml'), '--image', appDir, ...args], 180_000);
  return { code: r.code, out: r.stdout + r.stderr };
}

async function allOn(release: number, count: number): Promise<void> {
  await waitFor(
    async () => {
      const s = await status();
      return s.machines.length === count && s.machines.every((m) => m.release === release && m.healthy);
    },
    `${count} healthy machines on release ${release}`,
    60_000,
    100,
  );
}

before(async () => {
  p = await startPlatform([
    { name: 'a', region: 'fra' },
    { name: 'b', region: 'fra' },
    { name: 'c', region: 'ams' },
  ], { prefix: 'deploy-e2e' });
  appDir = join(p.dir, 'app');
  mkdirSync(appDir);
  copyFileSync(FIXTURE, join(appDir, 'server.mjs'));
});

after(async () => {
  killAllCli();
  await p?.stop();
});

describe('deploys end to end', { timeout: 600_000 }, () => {
  it('starling deploy --create creates the app, follows the rollout live, and scale count spreads it over two regions', async () => {
    writeApp('v1');
    const first = await deploy(['--create']);
    assert.equal(first.code, 0, first.out);
    assert.match(first.out, /app web created \(primary region fra\)/);
    assert.match(first.out, /machine \w+ fra v1 on host-[ab]: started, healthy/, 'live progress shows the machine state');
    assert.match(first.out, /release v1 deployed/);
    assert.match(first.out, /the app answers at: http:\/\/web\.starling\.test {2}https:\/\/web\.starling\.test\n/);

    const scaled = await p.cli(['scale', 'count', '2', '--region', 'fra,ams', '--app', 'web']);
    assert.equal(scaled.code, 0, scaled.stdout + scaled.stderr);
    await allOn(1, 4);
    const s = await status();
    assert.deepEqual(s.machines.map((m) => m.region).sort(), ['ams', 'ams', 'fra', 'fra']);
    assert.deepEqual([...new Set(s.machines.filter((m) => m.region === 'fra').map((m) => m.host))].sort(), ['host-a', 'host-b'], 'spread over both fra hosts');
    // Each proxy serves from its own region.
    await waitFor(async () => (await p.get('c', 'web')).status === 200, 'web through the ams proxy', 10_000);
    assert.equal(JSON.parse((await p.get('c', 'web')).body).region, 'ams');
    assert.equal(JSON.parse((await p.get('a', 'web')).body).region, 'fra');
    const text = await p.cli(['status', '--app', 'web']);
    assert.match(text.stdout, /v1 deployed/);
    assert.equal(text.stdout.match(/passing/g)?.length, 4, text.stdout);
  });

  it('a rolling deploy over two regions replaces every machine with no failed request', async () => {
    writeApp('v2');
    const load = clients();
    const r = await deploy(['--strategy', 'rolling']);
    const seen = await load.stop();
    assert.equal(r.code, 0, r.out);
    await allOn(2, 4);
    assert.deepEqual(seen.failures, [], `${seen.requests} requests`);
    assert.ok(seen.greetings.has('v1') && seen.greetings.has('v2'), 'both releases served during the roll');
    for (const h of HOSTS) await waitFor(async () => (await greetingVia(h)) === 'v2', `v2 through ${h}`, 10_000);
  });

  it('canary starts one machine first; bluegreen starts them all, then retires the old ones at once', async () => {
    writeApp('v3');
    const canary = await deploy(['--strategy', 'canary']);
    assert.equal(canary.code, 0, canary.out);
    const events = (await status()).deploy!.events.map((e) => e.message);
    const creates = events.filter((e) => e.startsWith('created '));
    assert.equal(placedIn(creates[0]!), 1, `the canary alone first: ${creates[0]}`);
    await allOn(3, 4);

    writeApp('v4');
    const load = clients();
    const bg = await deploy(['--strategy', 'bluegreen']);
    const seen = await load.stop();
    assert.equal(bg.code, 0, bg.out);
    const bgEvents = (await status()).deploy!.events.map((e) => e.message);
    assert.equal(bgEvents.filter((e) => e.startsWith('created ')).length, 1, 'one step creates every new machine');
    assert.equal(placedIn(bgEvents.find((e) => e.startsWith('created '))!), 4);
    const retires = bgEvents.filter((e) => e.startsWith('retiring'));
    assert.equal(retires.length, 1, 'the old ones go in one step');
    assert.deepEqual(seen.failures, []);
    await allOn(4, 4);
  });

  it('a release that fails its checks is rolled back, and the old machines serve throughout', async () => {
    writeApp('v5-broken', { check: '/status/503' });
    const load = clients();
    const r = await deploy(['--wait-timeout', '4']);
    const seen = await load.stop();
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /deploy rolled back to v4/);
    assert.deepEqual(seen.failures, [], 'no failed request while the broken release was tried');
    assert.ok(!seen.greetings.has('v5-broken'), 'traffic never reached a machine that failed its checks');
    await allOn(4, 4);
    const s = await status();
    assert.equal(s.app.deployed_release, 4);
    assert.equal(s.deploy?.state, 'rolled_back');
  });

  it('secrets reach the app through a rolled release, and never the API; --stage does not roll', async () => {
    const staged = await p.cli(['secrets', 'set', '--app', 'web', 'API_KEY=first-value-123', '--stage']);
    assert.equal(staged.code, 0, staged.stderr);
    assert.match(staged.stdout, /no machines rolled/);
    const set = await p.cli(['secrets', 'set', '--app', 'web', 'API_KEY=second-value-456']);
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /machines roll onto it: release v6/);
    await waitFor(async () => (await status()).deploy?.state === 'succeeded' && (await status()).app.deployed_release === 6, 'the secrets rollout', 90_000, 200);
    await allOn(6, 4);
    for (const h of HOSTS) {
      await waitFor(async () => JSON.parse((await p.get(h, 'web', '/env?name=API_KEY')).body).value === 'second-value-456', `the secret through ${h}`, 10_000);
    }
    const listed = await p.api('GET', '/v1/apps/web/secrets');
    assert.ok(!JSON.stringify(listed.body).includes('second-value-456'));
    assert.ok(!p.lines.join('').includes('second-value-456') && !p.controlStderr().includes('second-value-456'), 'a secret value in a log');
  });

  it("starling logs gathers the machines' lines from their hosts, per region", async () => {
    const r = await p.cli(['logs', '--app', 'web', '--region', 'ams', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { lines: { region: string; message: string; host: string }[]; unreachable: unknown[] };
    assert.deepEqual(out.unreachable, []);
    assert.ok(out.lines.some((l) => /listening on 8080/.test(l.message)), r.stdout);
    assert.ok(out.lines.every((l) => l.region === 'ams' && l.host === 'host-c'));
    const text = await p.cli(['logs', '--app', 'web']);
    assert.match(text.stdout, / fra \w+ {3}listening on 8080/);
  });

  it('scales down in one region and leaves the other alone', async () => {
    const r = await p.cli(['scale', 'count', '1', '--region', 'ams', '--app', 'web', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { destroyed: string[] }).destroyed.length, 1);
    await allOn(6, 3);
    assert.deepEqual((await status()).machines.map((m) => m.region).sort(), ['ams', 'fra', 'fra']);
  });

  it('SIGKILL of the control plane mid-deploy: no committed release lost, proxies keep serving, the deploy resumes', async () => {
    writeApp('v7');
    const started = await deploy(['--detach']);
    assert.equal(started.code, 0, started.out);
    await waitFor(async () => (await status()).machines.some((m) => m.release === 7), 'a machine of release 7 placed', 30_000, 50);
    await p.stopControl('SIGKILL');
    for (const h of HOSTS) assert.equal((await p.get(h, 'web')).status, 200, `${h} serves with the control plane gone`);
    await p.startControl();
    const releases = (await p.api('GET', '/v1/apps/web/releases')).body.releases as { version: number }[];
    assert.deepEqual(releases.map((r) => r.version), [1, 2, 3, 4, 5, 6, 7]);
    const d = (await status()).deploy!;
    assert.equal(d.state, 'interrupted');
    const another = await deploy();
    assert.equal(another.code, 2, 'a new deploy waits until the interrupted one is resumed or rolled back');
    assert.match(another.out, new RegExp(`deploy ${d.id} of app web was interrupted: starling deploy resume ${d.id}`));
    const resumed = await p.cli(['deploy', 'resume', d.id, '--app', 'web'], 180_000);
    assert.equal(resumed.code, 0, resumed.stdout + resumed.stderr);
    await allOn(7, 3);
    for (const h of HOSTS) await waitFor(async () => (await greetingVia(h)) === 'v7', `v7 through ${h}`, 10_000);
  });

  it('releases list says what became of each release; releases rollback deploys the last good one again, with the current secrets', async () => {
    const listed = await p.cli(['releases', 'list', '--app', 'web', '--json']);
    assert.equal(listed.code, 0, listed.stderr);
    const statuses = (JSON.parse(listed.stdout) as { version: number; status: string }[]).map((r) => `v${r.version} ${r.status}`);
    // v5 failed its checks and was rolled back; v6 was the secrets rollout; v7 runs now; v8 was made
    // by the deploy the interrupted one refused, and never deployed.
    assert.deepEqual(statuses, ['v1 superseded', 'v2 superseded', 'v3 superseded', 'v4 superseded', 'v5 rolled_back', 'v6 superseded', 'v7 deployed', 'v8 created']);
    const table = await p.cli(['releases', 'list', '--app', 'web']);
    assert.match(table.stdout, /^v5 +rolled back +sha256:[0-9a-f]{12} +\/\S+\/app +0 /m, 'status, digest and where the image came from');

    const none = await p.cli(['releases', 'rollback', 'v7', '--app', 'web']);
    assert.equal(none.code, 2, 'the deployed release is not a rollback target');
    assert.match(none.stderr, /v7 is the release deployed now/);
    const unknown = await p.cli(['releases', 'rollback', '42', '--app', 'web']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /app web has no release v42/);

    const back = await p.cli(['releases', 'rollback', '--app', 'web'], 180_000);
    assert.equal(back.code, 0, back.stdout + back.stderr);
    assert.match(back.stdout, /release v9 created: v6's config and image, with the current secrets/);
    assert.match(back.stdout, /rolled back: release v9 \(v6 again\) deployed/);
    await allOn(9, 3);
    for (const h of HOSTS) {
      await waitFor(async () => (await greetingVia(h)) === 'v4', `v6's config (GREETING v4) through ${h}`, 10_000);
      assert.equal(JSON.parse((await p.get(h, 'web', '/env?name=API_KEY')).body).value, 'second-value-456', 'the secrets stay');
    }
    const after = JSON.parse((await p.cli(['releases', 'list', '--app', 'web', '--json'])).stdout) as { version: number; status: string }[];
    assert.deepEqual(after.slice(-3).map((r) => `v${r.version} ${r.status}`), ['v7 superseded', 'v8 created', 'v9 deployed']);
  });
});
