import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  NoCapacityError,
  pickHostFor,
  planScaleCount,
  type HostView,
  type MachinePlacement,
  type PlacementPlan,
} from '../../src/control/scheduler/index.js';

const host = (id: string, region: string, capacity: number, used = 0, healthy = true): HostView => ({
  id,
  region,
  capacity: { machines: capacity },
  used,
  healthy,
});
const m = (id: string, region: string, hostId: string): MachinePlacement => ({ id, region, host: hostId });

/** Machines per host after the plan, for this app. */
function perHost(machines: readonly MachinePlacement[], plan: PlacementPlan): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of machines) if (!plan.destroy.includes(x.id)) out[x.host] = (out[x.host] ?? 0) + 1;
  for (const c of plan.create) out[c.host] = (out[c.host] ?? 0) + 1;
  return out;
}

function noCapacity(fn: () => unknown): NoCapacityError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof NoCapacityError, `expected NoCapacityError, got ${String(e)}`);
    assert.equal(e.code, 'ERR_NO_CAPACITY');
    assert.equal(e.fault, 'user');
    return e;
  }
  assert.fail('expected ERR_NO_CAPACITY, got a plan');
}

describe('planScaleCount', () => {
  const fra = [host('fra-1', 'fra', 10), host('fra-2', 'fra', 10), host('fra-3', 'fra', 10)];

  it('spreads new machines over the region hosts, fewest of this app first', () => {
    const hosts = [host('fra-1', 'fra', 10, 1), host('fra-2', 'fra', 10), host('fra-3', 'fra', 10)];
    const plan = planScaleCount(hosts, [m('a', 'fra', 'fra-1')], { count: 4, primaryRegion: 'fra' });
    assert.deepEqual(plan.destroy, []);
    assert.deepEqual(plan.create.map((c) => c.host), ['fra-2', 'fra-3', 'fra-1']);
    assert.deepEqual(perHost([m('a', 'fra', 'fra-1')], plan), { 'fra-1': 2, 'fra-2': 1, 'fra-3': 1 });
    assert.ok(plan.create.every((c) => c.region === 'fra'));
  });

  it('breaks ties by most free capacity, then host id', () => {
    const hosts = [host('b', 'fra', 10, 2), host('a', 'fra', 10, 2), host('c', 'fra', 10, 5)];
    assert.deepEqual(planScaleCount(hosts, [], { count: 2, primaryRegion: 'fra' }).create, [
      { region: 'fra', host: 'a' },
      { region: 'fra', host: 'b' },
    ]);
  });

  it('never fills a host beyond its capacity', () => {
    const hosts = [host('fra-1', 'fra', 2, 1), host('fra-2', 'fra', 5, 0)];
    const plan = planScaleCount(hosts, [], { count: 6, primaryRegion: 'fra' });
    assert.deepEqual(perHost([], plan), { 'fra-1': 1, 'fra-2': 5 });
  });

  it('skips unhealthy hosts', () => {
    const hosts = [host('fra-1', 'fra', 10, 0, false), host('fra-2', 'fra', 10)];
    const plan = planScaleCount(hosts, [], { count: 3, primaryRegion: 'fra' });
    assert.deepEqual(perHost([], plan), { 'fra-2': 3 });
  });

  it('scales down from the host with most of the app first, then the fullest', () => {
    const machines = [m('a', 'fra', 'fra-1'), m('b', 'fra', 'fra-1'), m('c', 'fra', 'fra-1'), m('d', 'fra', 'fra-2'), m('e', 'fra', 'fra-3')];
    const hosts = [host('fra-1', 'fra', 10, 3), host('fra-2', 'fra', 10, 9), host('fra-3', 'fra', 10, 1)];
    const plan = planScaleCount(hosts, machines, { count: 3, primaryRegion: 'fra' });
    assert.deepEqual(plan.create, []);
    assert.equal(plan.destroy.length, 2);
    assert.deepEqual(perHost(machines, plan), { 'fra-1': 1, 'fra-2': 1, 'fra-3': 1 });
    // One more down: every host holds one; fra-2 is the fullest.
    const down = planScaleCount(hosts, machines, { count: 2, primaryRegion: 'fra' });
    assert.deepEqual(perHost(machines, down), { 'fra-1': 1, 'fra-3': 1 });
  });

  it('scales down machines on unhealthy or unregistered hosts first', () => {
    const machines = [m('a', 'fra', 'fra-1'), m('b', 'fra', 'fra-1'), m('c', 'fra', 'fra-2'), m('d', 'fra', 'gone')];
    const hosts = [host('fra-1', 'fra', 10, 2), host('fra-2', 'fra', 10, 1, false)];
    const plan = planScaleCount(hosts, machines, { count: 2, primaryRegion: 'fra' });
    assert.deepEqual([...plan.destroy].sort(), ['c', 'd']);
  });

  it('places count machines in each listed region and leaves the others alone', () => {
    const hosts = [...fra, host('iad-1', 'iad', 4), host('iad-2', 'iad', 4), host('syd-1', 'syd', 4)];
    const machines = [m('s1', 'syd', 'syd-1'), m('s2', 'syd', 'syd-1'), m('f1', 'fra', 'fra-1'), m('f2', 'fra', 'fra-2'), m('f3', 'fra', 'fra-3')];
    const plan = planScaleCount(hosts, machines, { count: 2, regions: ['fra', 'iad'], primaryRegion: 'syd' });
    assert.equal(plan.destroy.length, 1);
    assert.ok(['f1', 'f2', 'f3'].includes(plan.destroy[0]!));
    assert.deepEqual(plan.create, [
      { region: 'iad', host: 'iad-1' },
      { region: 'iad', host: 'iad-2' },
    ]);
  });

  it('uses the primary region when no region is listed, and to 0 empties it', () => {
    const hosts = [...fra, host('iad-1', 'iad', 4)];
    const machines = [m('i1', 'iad', 'iad-1'), m('f1', 'fra', 'fra-1')];
    assert.deepEqual(planScaleCount(hosts, machines, { count: 2, primaryRegion: 'iad', regions: [] }), {
      create: [{ region: 'iad', host: 'iad-1' }],
      destroy: [],
    });
    assert.deepEqual(planScaleCount(hosts, machines, { count: 0, primaryRegion: 'fra' }), { create: [], destroy: ['f1'] });
  });

  it('fails with ERR_NO_CAPACITY and no plan when a region is short, naming every short region', () => {
    const hosts = [host('fra-1', 'fra', 3, 1), host('iad-1', 'iad', 5, 0, false), host('ams-1', 'ams', 9)];
    const e = noCapacity(() => planScaleCount(hosts, [], { count: 4, regions: ['ams', 'fra', 'iad', 'nrt'], primaryRegion: 'ams' }));
    assert.deepEqual(
      e.shortfalls.map((s) => [s.region, s.needed, s.placeable, s.healthyHosts]),
      [
        ['fra', 4, 2, 1],
        ['iad', 4, 0, 0],
        ['nrt', 4, 0, 0],
      ],
    );
    assert.match(e.message, /region fra: 4 machines needed, only 2 could be placed/);
    assert.match(e.message, /region iad has no healthy host/);
    assert.ok(!/ams/.test(e.message));
  });

  it('rejects a negative or fractional count and an empty region', () => {
    for (const count of [-1, 1.5, Number.NaN]) {
      assert.throws(() => planScaleCount(fra, [], { count, primaryRegion: 'fra' }), { code: 'ERR_SCALE_COUNT' });
    }
    assert.throws(() => planScaleCount(fra, [], { count: 1, regions: [''], primaryRegion: 'fra' }), { code: 'ERR_SCALE_REGION' });
  });
});

describe('pickHostFor', () => {
  const hosts = [host('fra-1', 'fra', 2, 2), host('fra-2', 'fra', 4, 1), host('fra-3', 'fra', 4, 3)];
  const machines = [m('a', 'fra', 'fra-1'), m('b', 'fra', 'fra-1'), m('c', 'fra', 'fra-2')];

  it('picks the least used host of the app with room', () => {
    assert.deepEqual(pickHostFor('fra', hosts, machines), { region: 'fra', host: 'fra-3' });
    assert.deepEqual(pickHostFor('fra', hosts, machines, { exclude: ['fra-3'] }), { region: 'fra', host: 'fra-2' });
  });

  it('counts the slot of a machine being released as free', () => {
    const full = [host('fra-1', 'fra', 1, 1)];
    noCapacity(() => pickHostFor('fra', full, [m('a', 'fra', 'fra-1')]));
    assert.deepEqual(pickHostFor('fra', full, [m('a', 'fra', 'fra-1')], { releasing: 'a' }), { region: 'fra', host: 'fra-1' });
  });

  it('fails with ERR_NO_CAPACITY when nothing fits', () => {
    const e = noCapacity(() => pickHostFor('iad', hosts, machines));
    assert.deepEqual(e.shortfalls, [{ region: 'iad', needed: 1, placeable: 0, healthyHosts: 0 }]);
  });
});

/** mulberry32: a small seeded PRNG, so a failing case can be replayed from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('planScaleCount properties over random clusters', () => {
  const REGIONS = ['ams', 'fra', 'iad', 'syd'];

  function scenario(seed: number) {
    const rnd = prng(seed);
    const int = (n: number): number => Math.floor(rnd() * n);
    const hosts: HostView[] = [];
    const machines: MachinePlacement[] = [];
    for (let h = 0; h < 2 + int(14); h++) {
      const region = REGIONS[int(REGIONS.length)]!;
      const capacity = int(8);
      const mine = int(capacity + 1);
      const others = int(capacity - mine + 2); // sometimes one over: hosts can be overcommitted
      hosts.push(host(`h${h}`, region, capacity, mine + others, rnd() > 0.2));
      for (let i = 0; i < mine; i++) machines.push(m(`m${h}-${i}`, region, `h${h}`));
    }
    const regions = rnd() < 0.3 ? undefined : REGIONS.filter(() => rnd() < 0.5);
    return { rnd, hosts, machines, request: { count: int(7), regions, primaryRegion: REGIONS[int(REGIONS.length)]! } };
  }

  it('plans exact counts within capacity, or fails only when capacity is really short', () => {
    let plans = 0;
    let failures = 0;
    for (let seed = 1; seed <= 500; seed++) {
      const { hosts, machines, request } = scenario(seed);
      const targets = request.regions?.length ? request.regions : [request.primaryRegion];
      const countIn = (r: string, list: readonly MachinePlacement[]): number => list.filter((x) => x.region === r).length;
      const freeIn = (r: string): number =>
        hosts.filter((h) => h.region === r && h.healthy).reduce((n, h) => n + Math.max(0, h.capacity.machines - h.used), 0);
      const short = targets.filter((r) => request.count - countIn(r, machines) > freeIn(r));
      let plan: PlacementPlan;
      try {
        plan = planScaleCount(hosts, machines, request);
      } catch (e) {
        assert.ok(e instanceof NoCapacityError, `seed ${seed}: ${String(e)}`);
        assert.deepEqual(e.shortfalls.map((s) => s.region), short, `seed ${seed}`);
        failures++;
        continue;
      }
      plans++;
      assert.deepEqual(short, [], `seed ${seed}: planned although capacity is short`);
      const after = [
        ...machines.filter((x) => !plan.destroy.includes(x.id)),
        ...plan.create.map((c, i) => m(`new-${i}`, c.region, c.host)),
      ];
      for (const r of REGIONS) {
        const want = targets.includes(r) ? request.count : countIn(r, machines);
        assert.equal(countIn(r, after), want, `seed ${seed}: region ${r}`);
      }
      for (const h of hosts) {
        const created = plan.create.filter((c) => c.host === h.id).length;
        if (created === 0) continue;
        assert.ok(h.healthy, `seed ${seed}: created on unhealthy ${h.id}`);
        assert.ok(h.used + created <= h.capacity.machines, `seed ${seed}: ${h.id} over capacity`);
      }
      assert.ok(plan.create.every((c) => hosts.find((h) => h.id === c.host)?.region === c.region), `seed ${seed}`);
      assert.equal(new Set(plan.destroy).size, plan.destroy.length, `seed ${seed}: a machine destroyed twice`);
    }
    assert.ok(plans > 100 && failures > 20, `too few of either outcome: ${plans} plans, ${failures} failures`);
  });

  it('gives the same plan whatever the order of hosts and machines', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const { rnd, hosts, machines, request } = scenario(seed);
      const shuffle = <T>(xs: T[]): T[] => {
        const out = [...xs];
        for (let i = out.length - 1; i > 0; i--) {
          const j = Math.floor(rnd() * (i + 1));
          [out[i], out[j]] = [out[j]!, out[i]!];
        }
        return out;
      };
      const run = (hs: HostView[], ms: MachinePlacement[]): unknown => {
        try {
          return planScaleCount(hs, ms, request);
        } catch (e) {
          return (e as Error).message;
        }
      };
      assert.deepEqual(run(shuffle(hosts), shuffle(machines)), run(hosts, machines), `seed ${seed}`);
    }
  });
});
