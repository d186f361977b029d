/**
 * The deploy planner on data: each strategy's steps, and the rule that keeps an app serving — an
 * old machine goes only when a healthy new one stands in for it in its region.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nextStep, type PlanInput, type PlanMachine } from '../../src/control/deploy/index.js';

const m = (id: string, region: string, release: number, healthy = true, failed = false): PlanMachine => ({ id, region, release, healthy, failed });
const base = (machines: PlanMachine[], over: Partial<PlanInput> = {}): PlanInput => ({
  release: 2,
  targets: { ams: 2, fra: 1 },
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
    steps.push(s.kind === 'create' ? `create ${s.regions.join(',')}` : s.kind === 'done' ? 'done' : `${s.kind} ${s.ids.join(',')}`);
    if (s.kind === 'done' || s.kind === 'fail') break;
    if (s.kind === 'create') for (const r of s.regions) machines.push(m(`n${++n}`, r, input.release, false));
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
    assert.deepEqual(nextStep(base([], { targets: { ams: 1 } })), { kind: 'create', regions: ['ams'] });
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
    const back = base(half, { release: 1, targets: { ams: 2, fra: 1 }, batch: Infinity, retireAtEnd: true });
    const { steps } = play(back);
    assert.deepEqual(steps, ['create ams,fra', 'wait n1,n2', 'retire x1,x2', 'done']);
  });
});
