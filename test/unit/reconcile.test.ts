/**
 * The reconciler and the state reporter against fakes (a machine manager, a control plane client)
 * on a ManualClock: what is made, stopped, destroyed and reported, and when failures are retried.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Reconciler, type ReconcileClient, type ReconcileMachines } from '../../src/sync/reconcile.js';
import { StateReporter, type MachineReport } from '../../src/sync/state-report.js';
import type { SyncView } from '../../src/sync/sync.js';
import type { MachineDoc, MachineStateDoc, ReleaseDoc } from '../../src/contract/index.js';
import type { MachineState } from '../../src/runtime/index.js';
import { ManualClock, StarlingError, silentLogger } from '../../src/shared/index.js';
import { waitFor } from '../helpers/wait.js';

const T = '2025-01-01T00:00:00.000Z';
const GOOD = `sha256:${'a'.repeat(64)}`;
const BAD = `sha256:${'b'.repeat(64)}`;
const CONFIG = { app: 'x', kill_signal: 'SIGTERM', kill_timeout: '7s', http_service: { internal_port: 3000 } };

const release = (app: string, version: number, digest = GOOD): ReleaseDoc => ({ app, version, config: { ...CONFIG, app }, image: { ref: 'r', digest }, secrets_version: 1, created_at: T });
const placement = (app: string, id: string, host = 'me', rel = 1): MachineDoc => ({ id, app, region: 'fra', host, release: rel, deploy: null, created_at: T });

let revision = 0;
function view(machines: MachineDoc[], releases: ReleaseDoc[], states: MachineStateDoc[] = []): SyncView {
  return {
    revision: ++revision,
    documents: new Map<string, Map<string, unknown>>([
      ['machines', new Map(machines.map((m) => [`${m.app}.${m.id}`, m]))],
      ['releases', new Map(releases.map((r) => [`${r.app}.${String(r.version).padStart(8, '0')}`, r]))],
      ['machine_states', new Map(states.map((s) => [`${s.app}.${s.id}`, s]))],
    ]),
  };
}

interface FakeMachine {
  app: string;
  state: MachineState;
  passing: boolean;
  kill: [string | undefined, number | undefined];
  secrets: Record<string, string>;
  image: string;
  config: Parameters<ReconcileMachines['create']>[1]['config'];
  task: boolean;
  env: Record<string, string>;
}

class FakeMachines implements ReconcileMachines {
  readonly all = new Map<string, FakeMachine>();
  readonly calls: string[] = [];
  private readonly listeners = new Set<() => void>();
  onChange(cb: () => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }
  get(app: string, id: string): ReturnType<ReconcileMachines['get']> {
    const m = this.all.get(id);
    return m && m.app === app ? ({ id, app, state: m.state, checks: { passing: m.passing, checks: [] } } as unknown as ReturnType<ReconcileMachines['get']>) : undefined;
  }
  async create(...[app, req, opts]: Parameters<ReconcileMachines['create']>): ReturnType<ReconcileMachines['create']> {
    const id = opts?.id ?? 'local-random';
    this.calls.push(`create ${app}/${id}`);
    const state = req.skip_start ? 'created' : 'started';
    this.all.set(id, { app, state, passing: false, kill: [opts?.kill_signal, opts?.kill_timeout_ms], secrets: req.config.secrets ?? {}, image: req.config.image, config: req.config, task: opts?.task === true, env: req.config.env ?? {} });
    this.emit();
    return this.get(app, id)!;
  }
  async stop(app: string, id: string, opts: { signal?: string | undefined; timeout_ms?: number | undefined } = {}): ReturnType<ReconcileMachines['stop']> {
    this.calls.push(`stop ${app}/${id}${opts.signal !== undefined || opts.timeout_ms !== undefined ? ` ${opts.signal} ${opts.timeout_ms}` : ''}`);
    this.all.get(id)!.state = 'stopped';
    this.emit();
    return this.get(app, id)!;
  }
  async start(app: string, id: string): Promise<NonNullable<ReturnType<ReconcileMachines['get']>>> {
    this.calls.push(`start ${app}/${id}`);
    this.all.get(id)!.state = 'started';
    this.emit();
    return this.get(app, id)!;
  }
  async destroy(app: string, id: string): Promise<void> {
    this.calls.push(`destroy ${app}/${id}`);
    this.all.delete(id);
    this.emit();
  }
  set(id: string, patch: Partial<FakeMachine>): void {
    Object.assign(this.all.get(id)!, patch);
    this.emit();
  }
  private emit(): void {
    for (const l of this.listeners) l();
  }
}

class FakeClient implements ReconcileClient {
  reachable = true;
  readonly calls: string[] = [];
  async json(method: string, path: string): Promise<unknown> {
    this.calls.push(`${method} ${path}`);
    if (!this.reachable) throw new StarlingError('ERR_CONTROL_UNREACHABLE', 'down');
    return { secrets: { API_KEY: 'v-secret' }, secrets_version: 1 };
  }
  async downloadImage(digest: string, file: string): Promise<'cached' | 'downloaded'> {
    this.calls.push(`image ${digest.slice(7, 11)} ${file}`);
    if (!this.reachable) throw new StarlingError('ERR_CONTROL_UNREACHABLE', 'down');
    if (digest === BAD) throw new StarlingError('ERR_IMAGE_NOT_FOUND', 'no such image');
    return 'downloaded';
  }
}

class FakeReporter {
  readonly latest = new Map<string, MachineReport>();
  report(app: string, id: string, r: MachineReport): void {
    this.latest.set(`${app}.${id}`, r);
  }
  forget(): void {}
}

function setup() {
  const clock = new ManualClock();
  const machines = new FakeMachines();
  const client = new FakeClient();
  const reporter = new FakeReporter();
  const rec = new Reconciler({ hostId: 'me', machines, client, reporter, downloadsDir: '/d', clock, logger: silentLogger });
  const idle = () => waitFor(() => rec.placed().every((p) => !p.busy), 'the reconciler idle', 2000, 1);
  return { clock, machines, client, reporter, rec, idle };
}

describe('Reconciler', () => {
  it('makes the placements of this host with their ids, images, secrets and kill settings, and reports their states', async () => {
    const { machines, client, reporter, rec, idle } = setup();
    rec.update(view([placement('web', 'm1'), placement('web', 'other', 'elsewhere')], [release('web', 1)]));
    await idle();
    assert.deepEqual(machines.calls, ['create web/m1']);
    const m = machines.all.get('m1')!;
    assert.deepEqual(m.kill, ['SIGTERM', 7000]);
    assert.deepEqual(m.secrets, { API_KEY: 'v-secret' });
    assert.equal(m.image, `/d/${'a'.repeat(64)}.tar.gz`);
    assert.ok(client.calls.includes('GET /v1/hosts/me/apps/web/machines/m1/secrets'));
    assert.deepEqual(reporter.latest.get('web.m1'), { state: 'started', healthy: false, release: 1 });
    machines.set('m1', { passing: true });
    assert.deepEqual(reporter.latest.get('web.m1'), { state: 'started', healthy: true, release: 1 });
    assert.equal(reporter.latest.has('web.other'), false);
  });

  it('a machine that cannot be made is reported failed, retried with backoff, and holds up no other', async () => {
    const { clock, machines, client, reporter, rec, idle } = setup();
    rec.update(view([placement('bad', 'b1'), placement('web', 'm1')], [release('bad', 1, BAD), release('web', 1)]));
    await idle();
    assert.deepEqual(machines.calls, ['create web/m1']);
    const { events, ...failed } = reporter.latest.get('bad.b1')!;
    assert.deepEqual(failed, { state: 'failed', healthy: false, release: 1 });
    assert.match(events?.[0]?.message ?? '', /^could not be created: /, 'the report says why');
    assert.equal(rec.placed().find((p) => p.id === 'b1')?.lastError?.code, 'ERR_IMAGE_NOT_FOUND');
    const tries = () => client.calls.filter((c) => c.startsWith(`image ${BAD.slice(7, 11)}`)).length;
    assert.equal(tries(), 1);
    // Backoff: 1 s, then 2 s, each up to a fifth earlier at random (shared/backoff.ts).
    clock.advance(799);
    assert.equal(tries(), 1, 'not before 0.8 s');
    clock.advance(201);
    await waitFor(() => tries() === 2, 'the first retry by 1 s');
    await idle();
    clock.advance(1599);
    assert.equal(tries(), 2, 'then not before 1.6 s');
    clock.advance(401);
    await waitFor(() => tries() === 3, 'the second retry by 2 s');
  });

  it('what failed for want of the control plane is retried as soon as a newer view arrives', async () => {
    const { machines, client, reporter, rec, idle } = setup();
    client.reachable = false;
    const docs: [MachineDoc[], ReleaseDoc[]] = [[placement('web', 'm1')], [release('web', 1)]];
    rec.update(view(...docs));
    await idle();
    assert.equal(rec.placed()[0]?.lastError?.code, 'ERR_CONTROL_UNREACHABLE');
    assert.equal(reporter.latest.has('web.m1'), false, 'not reported failed: the control plane could not take it anyway');
    client.reachable = true;
    rec.update(view(...docs));
    await waitFor(() => machines.all.has('m1'), 'm1 made without waiting for the backoff');
  });

  it('a removed placement is stopped then destroyed and reported destroyed; a new release replaces the machine', async () => {
    const { machines, reporter, rec, idle } = setup();
    rec.update(view([placement('web', 'm1'), placement('web', 'm2')], [release('web', 1), release('web', 2)]));
    await idle();
    rec.update(view([placement('web', 'm2', 'me', 2)], [release('web', 1), release('web', 2)]));
    await idle();
    assert.deepEqual([...machines.calls.slice(2)].sort(), ['create web/m2', 'destroy web/m1', 'destroy web/m2', 'stop web/m1', 'stop web/m2']);
    assert.ok(machines.calls.indexOf('stop web/m1') < machines.calls.indexOf('destroy web/m1'));
    assert.ok(machines.calls.indexOf('destroy web/m2') < machines.calls.lastIndexOf('create web/m2'));
    assert.equal(machines.all.has('m1'), false);
    assert.deepEqual(reporter.latest.get('web.m1'), { state: 'destroyed', healthy: false, release: 1 });
    assert.deepEqual(reporter.latest.get('web.m2'), { state: 'started', healthy: false, release: 2 });
    assert.deepEqual(rec.placed().map((p) => [p.id, p.running]), [['m2', 2]]);
  });

  it("a release command placement runs the command as a one-off task: no checks, restart never, never reported healthy, left as it ended", async () => {
    const { machines, reporter, rec, idle } = setup();
    const rel = { ...release('web', 2), config: { ...CONFIG, app: 'web', experimental: { cmd: ['node', 'server.mjs'] }, deploy: { release_command: "node migrate.mjs --to 'v 2'" } } };
    rec.update(view([{ ...placement('web', 'rc1', 'me', 2), role: 'release_command' }], [rel]));
    await idle();
    const m = machines.all.get('rc1')!;
    assert.equal(m.task, true);
    assert.deepEqual(m.config.cmd, ['node', 'migrate.mjs', '--to', 'v 2']);
    assert.deepEqual([m.config.restart, m.config.checks, m.config.env?.RELEASE_COMMAND], [{ policy: 'never', max_retries: 0 }, {}, '1']);
    machines.set('rc1', { passing: true });
    assert.deepEqual(reporter.latest.get('web.rc1'), { state: 'started', healthy: false, release: 2 });
    machines.set('rc1', { state: 'stopped' });
    rec.update(view([{ ...placement('web', 'rc1', 'me', 2), role: 'release_command' }], [rel]));
    await idle();
    assert.deepEqual(machines.calls, ['create web/rc1'], 'an ended command is not run again');
    assert.equal(reporter.latest.get('web.rc1')?.state, 'stopped');
  });

  it('a start or stop through the platform API is carried out once: autostart and autostop in between are not undone', async () => {
    const { machines, reporter, rec, idle } = setup();
    const rel = [release('web', 1)];
    rec.update(view([placement('web', 'm1')], rel));
    await idle();
    const stop1 = { ...placement('web', 'm1'), desired_state: 'stopped' as const, desired_version: 1, stop_signal: 'SIGINT', stop_timeout_ms: 500 };
    rec.update(view([stop1], rel));
    await idle();
    assert.deepEqual(machines.calls, ['create web/m1', 'stop web/m1 SIGINT 500']);
    assert.equal(reporter.latest.get('web.m1')?.state, 'stopped');
    // The proxy autostarts it for a request: the next views (same placement) leave it running.
    machines.set('m1', { state: 'started' });
    rec.update(view([stop1], rel));
    rec.update(view([stop1], rel));
    await idle();
    assert.equal(machines.all.get('m1')?.state, 'started');
    assert.equal(machines.calls.length, 2);
    // Another stop (a new version, the same desired state) stops it again; a start starts it.
    rec.update(view([{ ...stop1, desired_version: 2, stop_signal: 'SIGTERM', stop_timeout_ms: 1000 }], rel));
    await idle();
    assert.equal(machines.calls.at(-1), 'stop web/m1 SIGTERM 1000');
    rec.update(view([{ ...placement('web', 'm1'), desired_state: 'started', desired_version: 3 }], rel));
    await idle();
    assert.equal(machines.calls.at(-1), 'start web/m1');
    // Autostopped by the proxy: a started placement is not started again until asked.
    machines.set('m1', { state: 'stopped' });
    rec.update(view([{ ...placement('web', 'm1'), desired_state: 'started', desired_version: 3 }], rel));
    await idle();
    assert.equal(machines.all.get('m1')?.state, 'stopped');
    assert.equal(machines.calls.length, 4);
  });

  it('a machine made again (a restarted agent) is made in its desired state: stopped, not started, and reported stopped', async () => {
    const { machines, reporter, rec, idle } = setup();
    rec.update(view([{ ...placement('web', 'm1'), desired_state: 'suspended', desired_version: 4 }], [release('web', 1)]));
    await idle();
    assert.deepEqual(machines.calls, ['create web/m1']);
    assert.equal(machines.all.get('m1')?.state, 'created', 'made, never started');
    assert.deepEqual(reporter.latest.get('web.m1'), { state: 'stopped', healthy: false, release: 1 });
  });

  it("a placement's overrides reach the machine's config, and a change of them replaces the machine", async () => {
    const { machines, rec, idle } = setup();
    const rel = [release('web', 1)];
    rec.update(view([{ ...placement('web', 'm1'), overrides: { env: { MODE: 'one', API_KEY: 'not-the-secret' } } }], rel));
    await idle();
    assert.deepEqual(machines.all.get('m1')?.env, { MODE: 'one' }, "a secret's name stays the secret's");
    rec.update(view([{ ...placement('web', 'm1'), overrides: { env: { MODE: 'two' } } }], rel));
    await idle();
    assert.deepEqual(machines.calls, ['create web/m1', 'stop web/m1', 'destroy web/m1', 'create web/m1']);
    assert.deepEqual(machines.all.get('m1')?.env, { MODE: 'two' });
  });

  it('never touches a machine made through the local Machines API, even one in the way', async () => {
    const { machines, rec, idle } = setup();
    await machines.create('web', { config: { image: '/img' } }, { id: 'm1' });
    await machines.create('web', { config: { image: '/img' } }, { id: 'loc' });
    rec.update(view([placement('web', 'm1')], [release('web', 1)]));
    await idle();
    assert.equal(rec.placed()[0]?.lastError?.code, 'ERR_MACHINE_EXISTS');
    rec.update(view([], [release('web', 1)]));
    await idle();
    assert.deepEqual(machines.calls, ['create web/m1', 'create web/loc']);
    assert.ok(machines.all.has('m1') && machines.all.has('loc'));
  });

  it('reports destroyed what this host reported before but neither runs nor is asked for', async () => {
    const { reporter, rec, idle } = setup();
    const stale: MachineStateDoc = { id: 'old', app: 'web', host: 'me', region: 'fra', release: 3, state: 'started', healthy: true, updated_at: T };
    const theirs: MachineStateDoc = { ...stale, id: 'theirs', host: 'elsewhere' };
    rec.update(view([], [], [stale, theirs]));
    await idle();
    assert.deepEqual(reporter.latest.get('web.old'), { state: 'destroyed', healthy: false, release: 3 });
    assert.equal(reporter.latest.has('web.theirs'), false);
  });
});

describe('StateReporter', () => {
  class SlowClient {
    readonly sent: string[] = [];
    fail = false;
    /** Machines the control plane refuses reports for (not placed on this host: 403). */
    readonly forbidden = new Set<string>();
    private release: (() => void) | undefined;
    inflight = 0;
    async json(_m: string, path: string, body?: unknown): Promise<unknown> {
      this.inflight++;
      await new Promise<void>((resolve) => (this.release = resolve));
      this.inflight--;
      if (this.fail) throw new StarlingError('ERR_CONTROL_UNREACHABLE', 'down');
      if (this.forbidden.has(path.split('/').slice(-2, -1)[0]!)) throw new StarlingError('ERR_FORBIDDEN', 'not placed on this host', { fault: 'user' });
      this.sent.push(`${path.split('/').slice(-2, -1)[0]} ${(body as MachineReport).state}`);
      return {};
    }
    answer(): void {
      this.release?.();
    }
  }

  it('coalesces: while a report is on the wire, only the latest of the next ones is sent; an unchanged one is not sent again', async () => {
    const clock = new ManualClock();
    const client = new SlowClient();
    const r = new StateReporter({ client, hostId: 'h', clock, logger: silentLogger });
    r.report('web', 'm1', { state: 'created', healthy: false, release: 1 });
    await waitFor(() => client.inflight === 1, 'the first report sent');
    r.report('web', 'm1', { state: 'starting', healthy: false, release: 1 });
    r.report('web', 'm1', { state: 'started', healthy: false, release: 1 });
    r.report('web', 'm1', { state: 'started', healthy: true, release: 1 });
    client.answer();
    await waitFor(() => client.inflight === 1 && client.sent.length === 1, 'the second report sent');
    client.answer();
    await waitFor(() => r.backlog === 0, 'all delivered');
    assert.deepEqual(client.sent, ['m1 created', 'm1 started']);
    assert.deepEqual(r.deliveredFor('web', 'm1'), { state: 'started', healthy: true, release: 1 });
    r.report('web', 'm1', { state: 'started', healthy: true, release: 1 });
    assert.equal(r.backlog, 0);
  });

  it('drops a report the control plane forbids (a machine not placed on this host) instead of retrying it, and sends the rest', async () => {
    const clock = new ManualClock();
    const client = new SlowClient();
    client.forbidden.add('gone');
    const r = new StateReporter({ client, hostId: 'h', clock, logger: silentLogger });
    r.report('web', 'gone', { state: 'stopped', healthy: false, release: 1 });
    r.report('web', 'm1', { state: 'started', healthy: true, release: 1 });
    await waitFor(() => client.inflight === 1, 'the first report sent');
    client.answer();
    await waitFor(() => client.inflight === 1, 'the next one sent at once, without a backoff');
    client.answer();
    await waitFor(() => r.backlog === 0, 'nothing left to retry');
    assert.deepEqual(client.sent, ['m1 started']);
    await r.stop();
  });

  it('retries with backoff on the clock while the control plane is down; the latest state wins', async () => {
    const clock = new ManualClock();
    const client = new SlowClient();
    client.fail = true;
    const r = new StateReporter({ client, hostId: 'h', clock, logger: silentLogger });
    r.report('web', 'm1', { state: 'starting', healthy: false, release: 1 });
    await waitFor(() => client.inflight === 1, 'sent');
    client.answer();
    await waitFor(() => client.inflight === 0, 'failed');
    r.report('web', 'm1', { state: 'stopped', healthy: false, release: 1 });
    clock.advance(159);
    assert.equal(client.inflight, 0, 'no retry before 160 ms (200 ms, up to a fifth earlier)');
    client.fail = false;
    clock.advance(41);
    await waitFor(() => client.inflight === 1, 'retried');
    client.answer();
    await waitFor(() => r.backlog === 0, 'delivered');
    assert.deepEqual(client.sent, ['m1 stopped']);
    await r.stop();
  });
});
