import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chooseMachine, type Choice, type ChooseRequest } from '../../src/proxy/core/index.js';
import { RouteTable, parseRoutesSpec, type AppRoute, type MachineRoute } from '../../src/proxy/route-table/index.js';

interface M {
  id: string;
  region: string;
  load?: number;
  state?: string;
  healthy?: boolean;
  peer?: boolean;
}

/** An app "web" with these machines; limits default to soft 2, hard 4. */
function makeApp(
  machines: M[],
  opts: { soft?: number; hard?: number | null; rtt?: Record<string, Record<string, number>> } = {},
): AppRoute {
  const concurrency: Record<string, unknown> = { type: 'requests', soft_limit: opts.soft ?? 2 };
  if (opts.hard !== null) concurrency.hard_limit = opts.hard ?? 4;
  const spec = parseRoutesSpec(
    {
      apps: [
        {
          name: 'web',
          hostnames: ['web.example.com'],
          service: { concurrency },
          machines: machines.map((m, i) => ({
            id: m.id,
            region: m.region,
            address: `10.0.0.${i + 1}`,
            state: m.state ?? 'started',
            healthy: m.healthy ?? true,
            ...(m.peer ? { peer: true } : {}),
          })),
        },
      ],
      ...(opts.rtt ? { rtt: opts.rtt } : {}),
    },
    'test',
  );
  const app = new RouteTable(spec).apps.get('web');
  assert.ok(app);
  for (const m of machines) machine(app, m.id).load.inflight = m.load ?? 0;
  return app;
}

function machine(app: AppRoute, id: string): MachineRoute {
  const m = app.byId.get(id);
  assert.ok(m, `machine ${id}`);
  return m;
}

/** The id of the chosen machine, or the kind (and reason) of a non-machine answer. */
function pick(app: AppRoute, req: Partial<ChooseRequest> = {}, random?: () => number): string {
  const c: Choice = chooseMachine(app, { edgeRegion: 'fra', ...req }, random);
  if (c.kind === 'machine') return c.machine.id;
  return c.kind === 'none' ? `none:${c.reason}` : 'wait';
}

/** A seeded PRNG (mulberry32) so that "over many draws" tests are repeatable. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function picks(app: AppRoute, draws: number, random: () => number): Set<string> {
  const seen = new Set<string>();
  for (let i = 0; i < draws; i++) seen.add(pick(app, {}, random));
  return seen;
}

const far = (region: string, id = `${region}-1`): M => ({ id, region });

describe('chooseMachine: within and across regions', () => {
  it("prefers the edge's own region even when another region is idle", () => {
    const app = makeApp([{ id: 'fra-1', region: 'fra', load: 1 }, far('ams')]);
    assert.equal(pick(app), 'fra-1');
    assert.equal(pick(app, { edgeRegion: 'ams' }), 'ams-1');
  });

  it('picks the least-loaded machine of the region', () => {
    const app = makeApp([
      { id: 'a', region: 'fra', load: 1 },
      { id: 'b', region: 'fra', load: 0 },
      { id: 'c', region: 'fra', load: 1 },
    ]);
    assert.equal(pick(app, {}, () => 0), 'b');
    assert.equal(pick(app, {}, () => 0.999), 'b');
  });

  it('breaks ties with the injected random, so each tied machine can be picked', () => {
    const app = makeApp([
      { id: 'a', region: 'fra' },
      { id: 'b', region: 'fra', load: 1 },
      { id: 'c', region: 'fra' },
      { id: 'd', region: 'fra' },
    ]);
    let calls = 0;
    const counting = (v: number) => (): number => {
      calls++;
      return v;
    };
    const low = pick(app, {}, counting(0));
    const high = pick(app, {}, counting(0.999));
    assert.ok(calls > 0, 'the injected random is used');
    assert.notEqual(low, high, 'different draws pick different tied machines');
    assert.equal(pick(app, {}, () => 0), low, 'the same draws give the same machine');
    assert.deepEqual([...picks(app, 300, seeded(7))].sort(), ['a', 'c', 'd']);
  });

  it('with Math.random, every tied machine gets picked over many draws', () => {
    const app = makeApp([far('fra', 'a'), far('fra', 'b'), far('fra', 'c'), { id: 'busy', region: 'fra', load: 1 }]);
    assert.deepEqual([...picks(app, 500, Math.random)].sort(), ['a', 'b', 'c']);
  });

  it('soft_limit never sends traffic out of the region', () => {
    const app = makeApp(
      [{ id: 'fra-1', region: 'fra', load: 3 }, { id: 'fra-2', region: 'fra', load: 2 }, far('ams')],
      { soft: 2, hard: 5 },
    );
    assert.equal(pick(app), 'fra-2');
  });

  it('has no hard limit when the app sets none', () => {
    const app = makeApp([{ id: 'fra-1', region: 'fra', load: 10_000 }, far('ams')], { hard: null });
    assert.equal(pick(app), 'fra-1');
  });

  it('leaves the region when no local machine is usable or under hard_limit, nearest region first', () => {
    const local: M[] = [
      { id: 'fra-sick', region: 'fra', healthy: false },
      { id: 'fra-off', region: 'fra', state: 'stopped' },
      { id: 'fra-full', region: 'fra', load: 4 },
    ];
    const app = makeApp([...local, far('sin'), far('iad'), far('lhr'), far('cdg'), far('ams')]);
    assert.deepEqual(app.regionsFrom('fra').slice(0, 4), ['fra', 'ams', 'cdg', 'lhr']);
    assert.equal(pick(app), 'ams-1');
    machine(app, 'ams-1').load.inflight = 4;
    assert.equal(pick(app), 'cdg-1');
    assert.equal(pick(app, { exclude: new Set(['cdg-1', 'lhr-1'].map((id) => machine(app, id))) }), 'iad-1');
    assert.equal(pick(app, { exclude: new Set(['cdg-1', 'lhr-1', 'iad-1'].map((id) => machine(app, id))) }), 'sin-1');
  });

  it('does not treat stopped or unhealthy machines as usable even when idle', () => {
    const app = makeApp([{ id: 'fra-1', region: 'fra', state: 'starting' }, { id: 'fra-2', region: 'fra', healthy: false }, far('iad')]);
    assert.equal(pick(app), 'iad-1');
  });

  it('lets measured RTTs in the routes override the model', () => {
    const machines = [{ id: 'fra-1', region: 'fra', healthy: false }, far('ams'), far('sin')];
    assert.equal(pick(makeApp(machines)), 'ams-1');
    assert.equal(pick(makeApp(machines, { rtt: { sin: { fra: 3 } } })), 'sin-1');
  });

  it("waits when every usable machine is at hard_limit, and answers 'none' when none is usable", () => {
    const full = makeApp([
      { id: 'fra-1', region: 'fra', load: 4 },
      { id: 'iad-1', region: 'iad', load: 5 },
      { id: 'sin-1', region: 'sin', healthy: false },
    ]);
    assert.equal(pick(full), 'wait');
    const dead = makeApp([{ id: 'fra-1', region: 'fra', healthy: false }, { id: 'iad-1', region: 'iad', state: 'stopped' }]);
    assert.equal(pick(dead), 'none:no_healthy_machine');
    assert.equal(pick(makeApp([])), 'none:no_healthy_machine');
  });

  it('skips excluded machines, in the region and beyond', () => {
    const app = makeApp([{ id: 'fra-1', region: 'fra' }, { id: 'fra-2', region: 'fra', load: 3 }, far('ams')]);
    assert.equal(pick(app, { exclude: new Set([machine(app, 'fra-1')]) }), 'fra-2');
    assert.equal(pick(app, { exclude: new Set(app.machines) }), 'none:no_healthy_machine');
  });
});

describe('chooseMachine: region and instance requests', () => {
  const world = (): AppRoute => makeApp([far('fra'), far('ams'), far('iad'), far('sin')]);

  it('prefer-region goes there first and falls back to the usual order', () => {
    const app = world();
    assert.equal(pick(app, { preferRegions: ['iad'] }), 'iad-1');
    machine(app, 'iad-1').load.inflight = 4;
    assert.equal(pick(app, { preferRegions: ['iad'] }), 'fra-1');
    assert.equal(pick(app, { preferRegions: ['nrt'] }), 'fra-1');
  });

  it('prefer-region takes an ordered list: the first usable of them, then the usual order', () => {
    const app = world();
    assert.equal(pick(app, { preferRegions: ['nrt', 'sin', 'iad'] }), 'sin-1', 'regions the app lacks are skipped');
    machine(app, 'sin-1').load.inflight = 4;
    assert.equal(pick(app, { preferRegions: ['nrt', 'sin', 'iad'] }), 'iad-1', 'the next in the list, not the nearest');
    machine(app, 'iad-1').load.inflight = 4;
    assert.equal(pick(app, { preferRegions: ['sin', 'iad'] }), 'fra-1', 'then the usual nearest-first order');
  });

  it('force-region goes only there', () => {
    const app = world();
    assert.equal(pick(app, { forceRegion: 'sin' }), 'sin-1');
    machine(app, 'sin-1').load.inflight = 4;
    assert.equal(pick(app, { forceRegion: 'sin' }), 'wait');
    assert.equal(pick(app, { forceRegion: 'nrt' }), 'none:region_unavailable');
    const sick = makeApp([far('fra'), { id: 'sin-1', region: 'sin', healthy: false }]);
    assert.equal(pick(sick, { forceRegion: 'sin' }), 'none:region_unavailable');
  });

  it('prefer-instance picks that machine when usable, even far away', () => {
    const app = world();
    const c = chooseMachine(app, { edgeRegion: 'fra', preferInstance: 'sin-1' });
    assert.deepEqual(c.kind === 'machine' && [c.machine.id, c.preferredUnavailable], ['sin-1', false]);
  });

  it('prefer-instance falls back, flagged, when the machine is unusable, full, excluded or unknown', () => {
    const app = makeApp([far('fra'), far('ams'), { id: 'sin-1', region: 'sin', healthy: false }, { id: 'iad-1', region: 'iad', load: 4 }]);
    const fallback = (req: Partial<ChooseRequest>): [string, boolean] | string => {
      const c = chooseMachine(app, { edgeRegion: 'fra', ...req });
      return c.kind === 'machine' ? [c.machine.id, c.preferredUnavailable] : c.kind;
    };
    assert.deepEqual(fallback({ preferInstance: 'sin-1' }), ['fra-1', true]);
    assert.deepEqual(fallback({ preferInstance: 'iad-1' }), ['fra-1', true]);
    assert.deepEqual(fallback({ preferInstance: 'nope' }), ['fra-1', true]);
    assert.deepEqual(fallback({ preferInstance: 'ams-1', exclude: new Set([machine(app, 'ams-1')]) }), ['fra-1', true]);
  });

  it('force-instance picks that machine, waits when it is full, else instance_unavailable', () => {
    const app = makeApp([far('fra'), far('ams'), { id: 'sin-1', region: 'sin', healthy: false }, { id: 'iad-1', region: 'iad', load: 4 }]);
    assert.equal(pick(app, { forceInstance: 'ams-1' }), 'ams-1');
    assert.equal(pick(app, { forceInstance: 'iad-1' }), 'wait');
    assert.equal(pick(app, { forceInstance: 'sin-1' }), 'none:instance_unavailable');
    assert.equal(pick(app, { forceInstance: 'nope' }), 'none:instance_unavailable');
    assert.equal(pick(app, { forceInstance: 'ams-1', exclude: new Set([machine(app, 'ams-1')]) }), 'none:instance_unavailable');
  });

  it('onlyRegions (a replay to a region list) goes nearest-first among those regions only', () => {
    const app = world();
    assert.equal(pick(app, { onlyRegions: ['sin', 'ams'] }), 'ams-1');
    assert.equal(pick(app, { onlyRegions: ['sin', 'iad'] }), 'iad-1');
    machine(app, 'ams-1').load.inflight = 4;
    assert.equal(pick(app, { onlyRegions: ['sin', 'ams'] }), 'sin-1');
    assert.equal(pick(app, { onlyRegions: ['sin', 'ams'], exclude: new Set([machine(app, 'sin-1')]) }), 'wait');
    machine(app, 'ams-1').load.inflight = 0;
    const both = new Set([machine(app, 'sin-1'), machine(app, 'ams-1')]);
    assert.equal(pick(app, { onlyRegions: ['sin', 'ams'], exclude: both }), 'none:region_unavailable');
    assert.equal(pick(app, { onlyRegions: ['nrt'] }), 'none:region_unavailable');
  });
});

describe('a request from another Starling proxy (localOnly)', () => {
  const app = () => makeApp([{ id: 'remote', region: 'fra', peer: true }, { id: 'own', region: 'ams' }]);
  const pick = (req: Partial<ChooseRequest>): string => {
    const c = chooseMachine(app(), { edgeRegion: 'fra', localOnly: true, ...req }, () => 0);
    return c.kind === 'machine' ? c.machine.id : c.kind === 'none' ? c.reason : c.kind;
  };

  it("never goes back out to another host's proxy, even in the edge's own region", () => {
    assert.equal(pick({}), 'own');
    assert.equal(pick({ preferInstance: 'remote' }), 'own');
    assert.equal(pick({ forceInstance: 'remote' }), 'instance_unavailable');
    const client = chooseMachine(app(), { edgeRegion: 'fra' }, () => 0);
    assert.equal(client.kind === 'machine' ? client.machine.id : client.kind, 'remote', "a client's request may go there");
  });
});
