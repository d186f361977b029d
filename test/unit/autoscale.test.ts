import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { machinesToStop, machineToStart, allOverSoftLimit, parseRoutesSpec, RouteTable, type AppRoute } from '../../src/proxy/index.js';

function app(machines: { id: string; region: string; state?: string; load?: number; peer?: boolean }[], service: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): AppRoute {
  const spec = parseRoutesSpec(
    {
      apps: [
        {
          name: 'web',
          hostnames: ['web.test'],
          service: { concurrency: { soft_limit: 2 }, auto_stop_machines: 'stop', ...service },
          machines: machines.map((m) => ({ id: m.id, region: m.region, address: '127.0.0.1', state: m.state ?? 'started', ...(m.peer ? { peer: true } : {}) })),
          ...extra,
        },
      ],
    },
    'test',
  );
  const a = new RouteTable(spec).apps.get('web')!;
  for (const m of machines) a.byId.get(m.id)!.load.inflight = m.load ?? 0;
  return a;
}

describe('autostart decision', () => {
  it('starts the nearest stopped machine, skipping ones already starting', () => {
    const a = app([
      { id: 'sin1', region: 'sin', state: 'stopped' },
      { id: 'ams1', region: 'ams', state: 'stopped' },
      { id: 'ams2', region: 'ams', state: 'suspended' },
    ]);
    assert.equal(machineToStart(a, 'fra', new Set())?.id, 'ams1');
    assert.equal(machineToStart(a, 'fra', new Set(['web/ams1']))?.id, 'ams2');
    assert.equal(machineToStart(a, 'fra', new Set(['web/ams1', 'web/ams2']))?.id, 'sin1');
    assert.equal(machineToStart(a, 'fra', new Set(['web/ams1', 'web/ams2', 'web/sin1'])), undefined);
  });

  it('starts only in the regions a request is restricted to (a forced region, a replay), and never another host\'s machine', () => {
    const a = app([
      { id: 'ams1', region: 'ams', state: 'stopped' },
      { id: 'sin1', region: 'sin', state: 'stopped' },
      { id: 'lhr1', region: 'lhr', state: 'stopped', peer: true },
    ]);
    assert.equal(machineToStart(a, 'fra', new Set(), ['sin'])?.id, 'sin1');
    assert.equal(machineToStart(a, 'fra', new Set(), ['sin', 'ams'])?.id, 'ams1', 'nearest first among them');
    assert.equal(machineToStart(a, 'fra', new Set(), ['syd']), undefined);
    assert.equal(machineToStart(a, 'fra', new Set(), ['lhr']), undefined, "lhr1 is its own host's to start");
    assert.equal(machineToStart(a, 'lhr', new Set())?.id, 'ams1');
  });

  it('never starts a failed or destroyed machine', () => {
    const a = app([
      { id: 'a', region: 'fra', state: 'failed' },
      { id: 'b', region: 'fra', state: 'destroyed' },
    ]);
    assert.equal(machineToStart(a, 'fra', new Set()), undefined);
  });

  it('all over soft_limit only when every started machine is', () => {
    assert.equal(allOverSoftLimit(app([{ id: 'a', region: 'fra', load: 2 }, { id: 'b', region: 'iad', load: 1 }])), false);
    assert.equal(allOverSoftLimit(app([{ id: 'a', region: 'fra', load: 2 }, { id: 'b', region: 'iad', load: 3 }])), true);
    assert.equal(allOverSoftLimit(app([{ id: 'a', region: 'fra', state: 'stopped' }])), false);
  });
});

describe('autostop decision (excess = N − (over soft_limit + 1))', () => {
  it('stops one idle machine per region when there is excess', () => {
    const stop = machinesToStop(app([
      { id: 'f1', region: 'fra', load: 0 },
      { id: 'f2', region: 'fra', load: 0 },
      { id: 'f3', region: 'fra', load: 1 },
      { id: 'i1', region: 'iad', load: 0 },
      { id: 'i2', region: 'iad', load: 0 },
    ]));
    assert.equal(stop.length, 2);
    assert.deepEqual(stop.map((m) => m.region).sort(), ['fra', 'iad']);
    assert.ok(stop.every((m) => m.load.inflight === 0));
  });

  it('keeps machines the load needs: N − (over + 1) < 1', () => {
    assert.deepEqual(machinesToStop(app([{ id: 'a', region: 'fra', load: 2 }, { id: 'b', region: 'fra', load: 0 }])), []);
  });

  it('stops a region\'s only machine at zero load, not under load', () => {
    assert.equal(machinesToStop(app([{ id: 'a', region: 'fra', load: 0 }])).length, 1);
    assert.equal(machinesToStop(app([{ id: 'a', region: 'fra', load: 1 }])).length, 0);
  });

  it('honours min_machines_running in the primary region only', () => {
    const machines = [
      { id: 'f1', region: 'fra' },
      { id: 'f2', region: 'fra' },
      { id: 'i1', region: 'iad' },
    ];
    const stop = machinesToStop(app(machines, { min_machines_running: 2 }, { primary_region: 'fra' }));
    assert.deepEqual(stop.map((m) => m.id), ['i1']);
  });

  it('does nothing when auto_stop_machines is off (the default)', () => {
    assert.deepEqual(machinesToStop(app([{ id: 'a', region: 'fra' }], { auto_stop_machines: 'off' })), []);
    assert.deepEqual(machinesToStop(app([{ id: 'a', region: 'fra' }], { auto_stop_machines: false })), []);
  });
});
