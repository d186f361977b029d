/**
 * `[deploy] release_command` below the platform: its words split as flyctl splits them, its keys
 * in the app config, the machine config a host runs it with, where it is placed, the steps a
 * deploy takes on what its machine reported (crash and resume included), and the deploy runner
 * carrying them out on a real in-memory store with a manual clock (agents' reports written as
 * they would write them). The platform end to end: test/integration/deploy-release-command.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatCommandWords, machineConfigFor, parseAppConfig, splitCommandWords, type MachineDetailsDoc, type MachineDoc } from '../../src/contract/index.js';
import { DeployRunner, releaseCommandStep, type DeployDoc, type ReleaseCommandRun } from '../../src/control/deploy/index.js';
import { NoCapacityError, pickHostPreferring, planScaleCount, type HostView } from '../../src/control/scheduler/index.js';
import { MemoryStore } from '../../src/control/store/index.js';
import { ManualClock, isStarlingError, silentLogger } from '../../src/shared/index.js';
import { waitFor } from '../helpers/wait.js';

const T0 = 1_700_000_000_000;
const iso = (ms: number): string => new Date(ms).toISOString();

describe('release_command words', () => {
  it('splits as shell words: quotes, escapes; refuses an unclosed quote and an empty command', () => {
    const ok = (s: string): string[] => {
      const w = splitCommandWords(s);
      assert.ok(w.ok, s);
      return w.argv;
    };
    assert.deepEqual(ok('bin/rails db:migrate'), ['bin/rails', 'db:migrate']);
    assert.deepEqual(ok(`  sh -c 'echo "$HOME" && ls'  `), ['sh', '-c', 'echo "$HOME" && ls']);
    assert.deepEqual(ok('node "migrate all.mjs" --to=v\\ 2 ""'), ['node', 'migrate all.mjs', '--to=v 2', '']);
    assert.deepEqual(ok('echo "a \\"b\\" \\n"'), ['echo', 'a "b" \\n'], 'in double quotes a backslash escapes " but not n');
    assert.deepEqual(ok('a#b #c'), ['a#b', '#c'], 'no comments');
    assert.deepEqual(splitCommandWords('node "migrate.mjs'), { ok: false, reason: 'has an unclosed " quote' });
    assert.deepEqual(splitCommandWords('node \\'), { ok: false, reason: 'ends with a backslash that escapes nothing' });
    assert.deepEqual(ok("''x"), ['x']);
    assert.equal(splitCommandWords('   ').ok, false);
    for (const argv of [['node', 'migrate.mjs', '--to', 'v 2'], ['sh', '-c', "it's"], ['']]) {
      assert.deepEqual(ok(formatCommandWords(argv)), argv, 'what is shown splits back into the same words');
    }
  });

  it('the app config takes release_command as words and release_command_timeout (fly\'s 5m default), and says what is wrong', () => {
    const d = (extra: string) => parseAppConfig(`app = "x"\n[deploy]\n${extra}`, 's.toml');
    assert.deepEqual(d('release_command = "npx prisma migrate deploy"\n').config.deploy, { strategy: 'rolling', max_unavailable: 0.33, release_command: ['npx', 'prisma', 'migrate', 'deploy'], release_command_timeout_ms: 300_000 });
    assert.equal(d('release_command = "x"\nrelease_command_timeout = "90s"\n').config.deploy.release_command_timeout_ms, 90_000);
    assert.deepEqual(d('release_command = "x"\n').warnings, [], 'applied: never warned');
    const issues = (extra: string): string[] => {
      try {
        d(extra);
      } catch (e) {
        return (e as { issues: { path: string; message: string }[] }).issues.map((i) => `${i.path}: ${i.message}`);
      }
      return [];
    };
    assert.deepEqual(issues(`release_command = "node 'migrate.mjs"\n`), ["deploy.release_command: has an unclosed ' quote"]);
    assert.deepEqual(issues('release_command_timeout = "0s"\n'), ['deploy.release_command_timeout: must be from 1s to 24h']);
    assert.match(issues('release_command_timeout = "soon"\n')[0]!, /^deploy\.release_command_timeout: must be a duration/);
  });
});

describe('the release command machine config', () => {
  const config = { app: 'x', env: { GREETING: 'hi' }, experimental: { entrypoint: ['/bin/entry'], cmd: ['serve'] }, http_service: { internal_port: 8080, checks: [{ path: '/' }] }, deploy: { release_command: "migrate --to 'v 2'" } };
  it('is the release\'s machine with the command after the entrypoint, restart never, no checks, RELEASE_COMMAND=1', () => {
    const normal = machineConfigFor(config, { app: 'x', image: '/img', secrets: { DB: 's' } });
    const rc = machineConfigFor(config, { app: 'x', image: '/img', secrets: { DB: 's' }, role: 'release_command' });
    assert.deepEqual(normal.cmd, ['/bin/entry', 'serve']);
    assert.deepEqual(rc.cmd, ['/bin/entry', 'migrate', '--to', 'v 2'], "[experimental] entrypoint kept, the command in place of CMD (fly's init.cmd)");
    assert.deepEqual(rc.restart, { policy: 'never', max_retries: 0 });
    assert.deepEqual(rc.checks, {});
    assert.equal(Object.keys(normal.checks).length, 1);
    assert.deepEqual(rc.env, { GREETING: 'hi', RELEASE_COMMAND: '1' });
    assert.deepEqual(rc.secrets, { DB: 's' });
    assert.deepEqual([rc.image, rc.guest, rc.kill_signal, rc.internal_port], [normal.image, normal.guest, normal.kill_signal, normal.internal_port]);
  });

  it("on an image of its own, the image's ENTRYPOINT runs the command (its CMD does not); without a release_command it is refused", () => {
    const defaults = { base: 'image' as const, entrypoint: ['docker-entrypoint.sh'], cmd: ['node', 'server.js'], env: { PATH: '/usr/bin' }, workdir: '/srv', user: 'app' };
    const c = { app: 'x', deploy: { release_command: 'npm run migrate' } };
    const rc = machineConfigFor(c, { app: 'x', image: 'oci:sha256:' + 'a'.repeat(64), secrets: {}, defaults, role: 'release_command' });
    assert.deepEqual(rc.cmd, ['docker-entrypoint.sh', 'npm', 'run', 'migrate']);
    assert.deepEqual([rc.user, rc.workdir, rc.env.PATH], ['app', '/srv', '/usr/bin']);
    assert.deepEqual(machineConfigFor(c, { app: 'x', image: '/img', secrets: {}, role: 'release_command' }).cmd, ['npm', 'run', 'migrate'], 'a quick-start image: the words alone');
    assert.throws(() => machineConfigFor({ app: 'x' }, { app: 'x', image: '/img', secrets: {}, role: 'release_command' }), (e: unknown) => isStarlingError(e, 'ERR_MACHINE_SPEC'));
  });
});

describe('where the release command runs', () => {
  const hv = (id: string, region: string, used = 0, machines = 2, healthy = true): HostView => ({ id, region, capacity: { machines }, used, healthy });
  it('a host of the primary region with room, else the best host anywhere, else ERR_NO_CAPACITY', () => {
    assert.deepEqual(pickHostPreferring('ams', [hv('f1', 'fra'), hv('a1', 'ams', 1), hv('a2', 'ams')], []), { region: 'ams', host: 'a2' });
    assert.deepEqual(pickHostPreferring('ams', [hv('s1', 'sin', 1), hv('f1', 'fra'), hv('a1', 'ams', 2)], []), { region: 'fra', host: 'f1' }, 'ams is full: the freest host elsewhere');
    assert.deepEqual(pickHostPreferring('ams', [hv('f1', 'fra'), hv('a1', 'ams', 0, 2, false)], []), { region: 'fra', host: 'f1' }, 'an unhealthy host takes nothing');
    assert.throws(() => pickHostPreferring('ams', [hv('a1', 'ams', 2), hv('f1', 'fra', 2)], []), (e: unknown) => e instanceof NoCapacityError);
  });

  it('scale count does not count a release command machine as one of the app\'s', () => {
    const machines = [{ id: 'm1', region: 'fra', host: 'f1' }, { id: 'rc', region: 'fra', host: 'f1', role: 'release_command' }];
    const plan = planScaleCount([hv('f1', 'fra', 2, 8)], machines, { count: 2, primaryRegion: 'fra' });
    assert.equal(plan.create.length, 1);
    assert.deepEqual(planScaleCount([hv('f1', 'fra', 2, 8)], machines, { count: 0, primaryRegion: 'fra' }).destroy, ['m1']);
  });
});

const run = (o: Partial<ReleaseCommandRun> = {}): ReleaseCommandRun => ({
  command: 'migrate', machine: 'rc1', region: 'fra', host: 'h', attempt: 1, started_at: iso(T0), timeout_ms: 10_000, state: 'running', exit_code: null, finished_at: null, ...o,
});
const details = (id: string, o: Partial<MachineDetailsDoc> = {}): MachineDetailsDoc => ({
  id, app: 'rc', host: 'h', region: 'fra', release: 2, state: 'started', exit: null, checks: [], events: [], log_tail: [], updated_at: iso(T0), gone_at: null, ...o,
});
const exit = (code: number | null, signal: string | null = null) => ({ code, signal, at: iso(T0), exits: 1, will_restart: false });

describe('releaseCommandStep', () => {
  const step = (i: Partial<Parameters<typeof releaseCommandStep>[0]>) => releaseCommandStep({ run: undefined, resumed: false, present: [], details: undefined, now: T0, ...i });
  it('starts the first run (removing leftovers); a recorded success is never run again', () => {
    assert.deepEqual(step({ present: [{ id: 'old' }] }), { kind: 'start', attempt: 1, remove: ['old'], why: null });
    assert.deepEqual(step({ run: run({ state: 'succeeded' }), resumed: true, present: [{ id: 'rc1' }] }), { kind: 'skip' });
  });

  it('judges the run by what its machine reported: exit 0, a non-zero exit, a signal, a machine that could not start', () => {
    const at = { run: run(), present: [{ id: 'rc1' }] };
    assert.deepEqual(step({ ...at, details: details('rc1', { state: 'stopped', exit: exit(0) }) }), { kind: 'succeeded' });
    assert.deepEqual(step({ ...at, details: details('rc1', { state: 'failed', exit: exit(3) }) }), { kind: 'failed', reason: 'exited with code 3', exit: exit(3) });
    assert.deepEqual(step({ ...at, details: details('rc1', { state: 'failed', exit: exit(null, 'SIGKILL') }) }).kind, 'failed');
    const cannot = details('rc1', { state: 'failed', events: [{ at: iso(T0), type: 'failed', message: 'could not be created: no such image' }] });
    assert.deepEqual(step({ ...at, details: cannot }), { kind: 'failed', reason: 'could not run: could not be created: no such image', exit: null });
  });

  it('waits until its timeout; then, or when its machine is removed unfinished, fails', () => {
    const at = { run: run(), present: [{ id: 'rc1' }], details: details('rc1') };
    assert.deepEqual(step({ ...at, now: T0 + 9_999 }), { kind: 'wait', until: T0 + 10_000 });
    assert.deepEqual(step({ ...at, now: T0 + 10_000 }), { kind: 'failed', reason: 'did not finish within 10s (deploy.release_command_timeout)', exit: null });
    assert.equal(step({ ...at, present: [] }).kind, 'failed');
  });

  it('resumed after a crash: a result reported meanwhile counts; no result → the machine goes and the command runs again', () => {
    const at = { run: run(), resumed: true, present: [{ id: 'rc1' }] };
    assert.deepEqual(step({ ...at, details: details('rc1', { state: 'destroyed', exit: exit(0), gone_at: iso(T0) }) }), { kind: 'succeeded' });
    assert.equal(step({ ...at, details: details('rc1', { state: 'failed', exit: exit(1) }) }).kind, 'failed');
    const again = step({ ...at, details: details('rc1') });
    assert.deepEqual([again.kind, again.kind === 'start' && again.attempt, again.kind === 'start' && again.remove], ['start', 2, ['rc1']]);
    assert.equal(step({ ...at, present: [] }).kind, 'start', 'never placed, or removed meanwhile: run again');
  });
});

describe('the deploy runner runs the release command first', () => {
  const CONFIG = { app: 'rc', primary_region: 'fra', http_service: { internal_port: 8080 }, deploy: { release_command: 'node migrate.mjs', release_command_timeout: '10s' } };
  async function platform(clock: ManualClock): Promise<{ store: MemoryStore; runner: DeployRunner; deploy: (o?: Partial<DeployDoc>) => Promise<DeployDoc> }> {
    const store = new MemoryStore();
    await store.put('apps', 'rc', { name: 'rc', primary_region: 'fra', created_at: iso(T0), release_version: 2, deployed_release: 1, secrets_version: 0 });
    for (const v of [1, 2]) await store.put('releases', `rc.${String(v).padStart(8, '0')}`, { app: 'rc', version: v, config: CONFIG, image: { ref: 'r', digest: `sha256:${'a'.repeat(64)}` }, secrets_version: 0, created_at: iso(T0) });
    await store.put('hosts', 'h', { id: 'h', region: 'fra', capacity: { machines: 8 }, agent_url: 'http://127.0.0.1:1', registered_at: iso(T0), updated_at: iso(T0) });
    await machine(store, { id: 'old1', release: 1 });
    await store.put('machine_states', 'rc.old1', { id: 'old1', app: 'rc', host: 'h', region: 'fra', release: 1, state: 'started', healthy: true, updated_at: iso(T0) });
    const runner = new DeployRunner({ store, clock, logger: silentLogger });
    const deploy = async (o: Partial<DeployDoc> = {}): Promise<DeployDoc> => {
      const doc: DeployDoc = { id: 'd1', app: 'rc', release: 2, from_release: 1, strategy: 'rolling', max_unavailable: 1, wait_timeout_ms: 60_000, targets: { fra: 1 }, state: 'running', phase: '', error: null, events: [], started_at: iso(T0), updated_at: iso(T0), finished_at: null, ...o };
      await store.put('deploys', 'rc.d1', doc);
      runner.launch(doc);
      return doc;
    };
    return { store, runner, deploy };
  }
  const machine = (store: MemoryStore, o: Partial<MachineDoc>) => store.put('machines', `rc.${o.id!}`, { app: 'rc', region: 'fra', host: 'h', release: 2, deploy: 'd1', created_at: iso(T0), ...o });
  const machines = async (store: MemoryStore): Promise<MachineDoc[]> => (await store.list('machines')).map((e) => e.value as MachineDoc);
  const deployDoc = async (store: MemoryStore): Promise<DeployDoc> => (await store.get('deploys', 'rc.d1'))!.value as DeployDoc;

  it('resumed: a command its machine reported done meanwhile is not run again, and the rollout goes on', async () => {
    const clock = new ManualClock(T0);
    const { store, runner, deploy } = await platform(clock);
    await machine(store, { id: 'rc1', role: 'release_command' });
    await store.put('machine_details', 'rc.rc1', details('rc1', { state: 'stopped', exit: exit(0) }));
    await deploy({ release_command: run() });
    await waitFor(async () => (await machines(store)).some((m) => m.release === 2 && m.role === undefined), 'a machine of release 2');
    const d = await deployDoc(store);
    assert.deepEqual([d.release_command?.state, d.release_command?.attempt], ['succeeded', 1]);
    assert.ok(!(await machines(store)).some((m) => m.role !== undefined), 'the temporary machine went with the success');
    assert.ok(!d.events.some((e) => /running the release command/.test(e.message)), JSON.stringify(d.events));
    await runner.close();
  });

  it('resumed with no result: that machine is removed and the command runs again; its exit 3 fails the deploy with nothing replaced', async () => {
    const clock = new ManualClock(T0);
    const { store, runner, deploy } = await platform(clock);
    await machine(store, { id: 'rc1', role: 'release_command' });
    await store.put('machine_details', 'rc.rc1', details('rc1'));
    await deploy({ release_command: run() });
    let again: MachineDoc | undefined;
    await waitFor(async () => (again = (await machines(store)).find((m) => m.role === 'release_command' && m.id !== 'rc1')) !== undefined, 'a second release command machine');
    assert.ok(!(await machines(store)).some((m) => m.id === 'rc1'), 'the first one is gone');
    const d = await deployDoc(store);
    assert.deepEqual([d.release_command?.machine, d.release_command?.attempt], [again!.id, 2]);
    assert.ok(d.events.some((e) => /reported no result: removed, running the command again; running the release command "node migrate\.mjs"/.test(e.message)), JSON.stringify(d.events));
    // Its agent reports the exit, with its last lines.
    const tail = [{ time: iso(T0), stream: 'stderr' as const, message: 'relation "users" already exists' }];
    await store.put('machine_details', `rc.${again!.id}`, details(again!.id, { state: 'failed', exit: exit(3), log_tail: tail }));
    await waitFor(async () => (await deployDoc(store)).state === 'failed', 'the deploy to fail');
    const end = await deployDoc(store);
    assert.equal(end.failure?.exit?.code, 3);
    assert.deepEqual(end.failure?.log_tail, tail);
    assert.match(end.error ?? '', /^release command "node migrate\.mjs" exited with code 3 \(machine \w+, fra\): no machine was replaced$/);
    assert.deepEqual((await machines(store)).map((m) => m.id), ['old1'], 'the old machine alone, the temporary one gone');
    assert.equal(((await store.get('apps', 'rc'))!.value as { deployed_release: number }).deployed_release, 1);
    await runner.close();
  });

  it('a command that outlives release_command_timeout fails the deploy', async () => {
    const clock = new ManualClock(T0);
    const { store, runner, deploy } = await platform(clock);
    await deploy();
    await waitFor(async () => /^waiting for the release command/.test((await deployDoc(store)).phase), 'the runner waiting on the command');
    clock.advance(10_000);
    await waitFor(async () => (await deployDoc(store)).state === 'failed', 'the deploy to fail');
    assert.match((await deployDoc(store)).error ?? '', /did not finish within 10s \(deploy\.release_command_timeout\)/);
    assert.deepEqual((await machines(store)).map((m) => m.id), ['old1']);
    await runner.close();
  });
});
