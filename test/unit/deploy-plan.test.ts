/**
 * The deploy planner on data: each strategy's steps, and the rule that keeps an app serving — an
 * old machine goes only when a healthy new one stands in for it in its region (and process group).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deployTargets, describeTargets, groupTargets, nextStep, rollbackTargets, type PlanInput, type PlanMachine } from '../../src/control/deploy/index.js';

const m = (id: string, region: string, release: number, healthy = true, failed = false, group = 'app'): PlanMachine => ({ id, region, group, release, healthy, failed });
const base = (machines: PlanMachine[], over: Partial<PlanInput> = {}): PlanInput => ({
  release: 2,
  targets: { app: { ams: 2, fra: 1 } },
  batch: 1,
  waitHealth: true,
  retireAtEnd: false,
  machines,
  ...over,
});
const OLD = [m('a1', 'ams', 1), m('a2', 'ams', 1), m('f1', 'fra', 1)];

/** Plays a deploy to the end: created machines become healthy when waited on (or fail, if asked). */
function play(input: PlanInput, failIn?: string): { steps: string[]; minServing: number } {
  let machines = [...input.machines];
  const steps: string[] = [];
  let n = 0;
  let minServing = Infinity;
  for (let i = 0; i < 50; i++) {
    const serving = machines.filter((x) => x.healthy && !x.failed).length;
    minServing = Math.min(minServing, serving);
    const s = nextStep({ ...input, machines });
    const place = (x: { group: string; region: string }): string => (x.group === 'app' ? x.region : `${x.group}/${x.region}`);
    steps.push(s.kind === 'create' ? `create ${s.places.map(place).join(',')}` : s.kind === 'done' ? 'done' : `${s.kind} ${s.ids.join(',')}`);
    if (s.kind === 'done' || s.kind === 'fail') break;
    if (s.kind === 'create') for (const x of s.places) machines.push(m(`n${++n}`, x.region, input.release, false, false, x.group));
    if (s.kind === 'retire') machines = machines.filter((x) => !s.ids.includes(x.id));
    if (s.kind === 'wait') machines = machines.map((x) => (s.ids.includes(x.id) ? { ...x, healthy: x.region !== failIn, failed: x.region === failIn } : x));
  }
  return { steps, minServing };
}

describe('deploy plan', () => {
  it('rolling, one at a time: create, wait, retire the one it replaces, region by region', () => {
    const { steps, minServing } = play(base(OLD));
    assert.deepEqual(steps, ['create ams', 'wait n1', 'retire a1', 'create ams', 'wait n2', 'retire a2', 'create fra', 'wait n3', 'retire f1', 'done']);
    assert.equal(minServing, 3, 'never fewer serving machines than wanted');
  });

  it('rolling with max_unavailable 2 moves two regions at once', () => {
    const { steps } = play(base(OLD, { batch: 2 }));
    assert.deepEqual(steps.slice(0, 3), ['create ams,fra', 'wait n1,n2', 'retire a1,f1']);
    assert.equal(steps.at(-1), 'done');
  });

  it('bluegreen starts every new machine, then retires all old ones at once', () => {
    const { steps, minServing } = play(base(OLD, { batch: Infinity, retireAtEnd: true }));
    assert.deepEqual(steps, ['create ams,fra,ams', 'wait n1,n2,n3', 'retire a1,a2,f1', 'done']);
    assert.equal(minServing, 3);
  });

  it('immediate does not wait for checks', () => {
    const { steps } = play(base(OLD, { batch: Infinity, waitHealth: false }));
    assert.deepEqual(steps, ['create ams,fra,ams', 'retire a1,a2,f1', 'done']);
  });

  it('a new machine that fails stops the deploy before any old machine in its region goes', () => {
    const { steps, minServing } = play(base(OLD), 'ams');
    assert.deepEqual(steps, ['create ams', 'wait n1', 'fail n1']);
    assert.equal(minServing, 3);
  });

  it('a first deploy creates the targets; an unhealthy old machine is retired before a healthy one', () => {
    assert.deepEqual(nextStep(base([], { targets: { app: { ams: 1 } } })), { kind: 'create', places: [{ group: 'app', region: 'ams' }] });
    const mixed = [m('a1', 'ams', 1, true), m('a2', 'ams', 1, false), m('n1', 'ams', 2, true), m('f1', 'fra', 1)];
    assert.deepEqual(nextStep(base(mixed)), { kind: 'retire', ids: ['a2'] });
  });

  it('resumes from any point: the step depends only on the machines that exist', () => {
    const midway = [m('a2', 'ams', 1), m('f1', 'fra', 1), m('n1', 'ams', 2, true), m('n2', 'ams', 2, false)];
    assert.deepEqual(nextStep(base(midway)), { kind: 'wait', ids: ['n2'] });
    const surplus = [...midway.slice(0, 3), m('n2', 'ams', 2, true)];
    assert.deepEqual(nextStep(base(surplus)), { kind: 'retire', ids: ['a2'] });
  });

  it('rolling back is the same plan toward the old release, switching only when all of it is healthy', () => {
    const half = [m('a1', 'ams', 1), m('x1', 'ams', 2), m('x2', 'fra', 2, false, true)];
    const back = base(half, { release: 1, targets: { app: { ams: 2, fra: 1 } }, batch: Infinity, retireAtEnd: true });
    const { steps } = play(back);
    assert.deepEqual(steps, ['create ams,fra', 'wait n1,n2', 'retire x1,x2', 'done']);
  });

  it('process groups: a first deploy makes one machine per group; a machine stands in only for one of its own group', () => {
    const groups = { web: { fra: 1 }, worker: { fra: 1 } };
    assert.deepEqual(nextStep(base([], { targets: groups, batch: Infinity })), { kind: 'create', places: [{ group: 'web', region: 'fra' }, { group: 'worker', region: 'fra' }] });
    // A healthy new web machine does not retire the old worker: only a new worker does.
    const old = [m('w1', 'fra', 1, true, false, 'web'), m('k1', 'fra', 1, true, false, 'worker')];
    const { steps, minServing } = play(base(old, { targets: groups }));
    assert.deepEqual(steps, ['create web/fra', 'wait n1', 'retire w1', 'create worker/fra', 'wait n2', 'retire k1', 'done']);
    assert.equal(minServing, 2);
  });

  it('process groups: per-group counts are kept per region; a group the release dropped goes once every group is served', () => {
    const old = [m('a1', 'fra', 1), m('a2', 'ams', 1), m('k1', 'fra', 1, true, false, 'worker')];
    const { steps } = play(base(old, { targets: { web: { ams: 1, fra: 1 }, worker: { fra: 1 } }, batch: Infinity }));
    // `app` is gone from the release: its machines stay until web and worker are all healthy.
    assert.deepEqual(steps, ['create web/ams,web/fra,worker/fra', 'wait n1,n2,n3', 'retire k1,a1,a2', 'done']);
  });

  it("a deploy's targets: each group keeps its counts, a new group gets one in the primary region, a dropped group none", () => {
    const machines = [{ region: 'fra' }, { region: 'ams' }, { region: 'ams' }, { region: 'fra', process_group: 'worker' }];
    const { targets, from } = deployTargets(machines, ['app', 'worker', 'cron'], 'ams');
    assert.deepEqual(targets, { app: { fra: 1, ams: 2 }, worker: { fra: 1 }, cron: { ams: 1 } });
    assert.deepEqual(from, { app: { fra: 1, ams: 2 }, worker: { fra: 1 } }, 'what a rollback restores');
    assert.deepEqual(deployTargets(machines, ['web'], 'ams').targets, { web: { ams: 1 } }, "renamed: app's machines go, web starts with one");
    assert.deepEqual(deployTargets([], ['app'], 'fra').targets, { app: { fra: 1 } }, 'a first deploy: one machine in the primary region, as before groups');
    assert.equal(describeTargets({ app: { fra: 2 } }), '2 in fra');
    assert.equal(describeTargets(targets), 'app: 1 in fra, 2 in ams; worker: 1 in fra; cron: 1 in ams');
  });

  it('a deploy document from before process groups reads as all `app`, its rollback too', () => {
    const old = { targets: { fra: 2 } };
    assert.deepEqual(groupTargets(old), { app: { fra: 2 } });
    assert.deepEqual(rollbackTargets(old), { app: { fra: 2 } });
    assert.deepEqual(rollbackTargets({ targets: { fra: 1 }, group_targets: { web: { fra: 1 } }, from_group_targets: { app: { fra: 3 } } }), { app: { fra: 3 } });
  });
});
