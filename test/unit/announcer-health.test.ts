/**
 * The announcer's health monitor (src/announcer/health.ts) on a ManualClock, with a scripted probe:
 * `rise` consecutive passes before the prefixes are announced, `fall` consecutive failures before
 * they are withdrawn, `damping_ms` between a withdrawal and the next announcement, and the order of
 * the transitions it reports. Each check runs one probe (tick) and then moves the clock one interval.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HealthMonitor } from '../../src/announcer/health.js';
import type { HealthSpec } from '../../src/announcer/types.js';
import { ManualClock, silentLogger } from '../../src/shared/index.js';

const INTERVAL = 100;
const spec = (over: Partial<HealthSpec>): HealthSpec => ({
  url: 'http://unused.invalid/',
  interval_ms: INTERVAL,
  timeout_ms: 50,
  rise: 1,
  fall: 1,
  damping_ms: 0,
  ...over,
});

/** A transition the monitor reported: when (ms since the first check) and which way. */
type Change = [ms: number, healthy: boolean];

interface Run {
  changes: Change[];
  /** isHealthy after each check. */
  states: boolean[];
  monitor: HealthMonitor;
  clock: ManualClock;
  check(result: boolean | 'throw'): Promise<void>;
}

function monitor(s: HealthSpec): Run {
  const clock = new ManualClock();
  const t0 = clock.monotonic();
  let next: boolean | 'throw' = false;
  const probe = (): Promise<boolean> => (next === 'throw' ? Promise.reject(new Error('probe crashed')) : Promise.resolve(next));
  const changes: Change[] = [];
  const states: boolean[] = [];
  const m = new HealthMonitor(s, probe, clock, silentLogger, (healthy) => changes.push([clock.monotonic() - t0, healthy]));
  return {
    changes,
    states,
    monitor: m,
    clock,
    async check(result) {
      next = result;
      await m.tick();
      states.push(m.isHealthy);
      clock.advance(s.interval_ms);
    },
  };
}

async function checks(r: Run, results: readonly (boolean | 'throw')[]): Promise<void> {
  for (const x of results) await r.check(x);
}

describe('HealthMonitor', () => {
  it('rise: announces after `rise` consecutive passes, not before; a failure starts the count again', async () => {
    const r = monitor(spec({ rise: 3 }));
    await checks(r, [true, true, false, true, true, true, true]);
    assert.deepEqual(r.states, [false, false, false, false, false, true, true], 'healthy on the 3rd pass after the failure');
    assert.deepEqual(r.changes, [[500, true]], 'one announcement, at the 6th check');
  });

  it('fall: withdraws after `fall` consecutive failures, not before; a pass starts the count again', async () => {
    const r = monitor(spec({ rise: 1, fall: 3 }));
    await checks(r, [true, false, false, true, false, false, false, false]);
    assert.deepEqual(r.states, [true, true, true, true, true, true, false, false], 'unhealthy on the 3rd failure after the pass');
    assert.deepEqual(r.changes, [[0, true], [600, false]]);
  });

  it('a probe that throws counts as a failure', async () => {
    const r = monitor(spec({ rise: 1, fall: 2 }));
    await checks(r, [true, 'throw', 'throw']);
    assert.deepEqual(r.changes, [[0, true], [200, false]]);
    assert.equal(r.monitor.lastResult, false);
  });

  it('damping: after a withdrawal, passing checks are not announced until damping_ms have passed', async () => {
    const r = monitor(spec({ damping_ms: 1000 }));
    await checks(r, [true, false]); // announced at 0, withdrawn at 100: the withdrawal is not delayed
    assert.deepEqual(r.changes, [[0, true], [100, false]]);
    await checks(r, [true, true, true, true, true]); // 200..600: passing, held back
    assert.deepEqual(r.changes, [[0, true], [100, false]], 'not announced within 1000 ms of the withdrawal');
    assert.equal(r.monitor.isHealthy, false);
    assert.equal(r.monitor.dampingLeft(), 400, 'at 700: 400 ms of the damping period left');
    await checks(r, [true, true, true, true, true]); // 700..1100
    assert.deepEqual(r.changes, [[0, true], [100, false], [1100, true]], 'announced at the first passing check 1000 ms after the withdrawal');
    assert.equal(r.monitor.dampingLeft(), 0);
  });

  it('damping: a check that flaps every interval moves the route at most once per damping period', async () => {
    const r = monitor(spec({ damping_ms: 1000 }));
    const flapping = Array.from({ length: 40 }, (_, i) => i % 2 === 0); // pass, fail, pass, … for 4 s
    await checks(r, flapping);
    // Without damping this would be 20 announcements and 20 withdrawals.
    assert.deepEqual(r.changes, [
      [0, true],
      [100, false],
      [1200, true], // 1100 was a failing check: the first pass after the damping period
      [1300, false],
      [2400, true],
      [2500, false],
      [3600, true],
      [3700, false],
    ]);
  });

  it('damping: a check that fails again while held back is not announced when the period ends', async () => {
    const r = monitor(spec({ rise: 2, damping_ms: 500 }));
    await checks(r, [true, true, false]); // announced at 100, withdrawn at 200
    await checks(r, [true, true, true, false, false, false]); // 300..500 passing but held back; failing from 600 on
    assert.deepEqual(r.changes, [[100, true], [200, false]]);
    await checks(r, [true, true]); // 900, 1000: two passes again (rise 2), past the damping period
    assert.deepEqual(r.changes, [[100, true], [200, false], [1000, true]]);
  });

  it('transitions alternate, starting with an announcement: a check failing from the start withdraws nothing', async () => {
    const never = monitor(spec({ rise: 2, fall: 2 }));
    await checks(never, [false, false, false, 'throw', false]);
    assert.deepEqual(never.changes, [], 'nothing was announced, so nothing is withdrawn');
    const r = monitor(spec({ rise: 2, fall: 2, damping_ms: 300 }));
    await checks(r, [false, false, true, true, true, false, false, false, false, true, true, true, true, false, false]);
    assert.deepEqual(r.changes, [[300, true], [600, false], [1000, true], [1400, false]]);
    for (let i = 1; i < r.changes.length; i++) assert.notEqual(r.changes[i]![1], r.changes[i - 1]![1], `change ${i} flips the state`);
  });

  it('start() probes at once and then every interval_ms on the injected clock; stop() ends it', async () => {
    const clock = new ManualClock();
    let probes = 0;
    const m = new HealthMonitor(spec({ rise: 2 }), () => Promise.resolve(++probes > 0), clock, silentLogger, () => undefined);
    const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve)); // the probe's promise, not time
    m.start();
    await settle();
    assert.deepEqual([probes, m.isHealthy], [1, false], 'one probe at start: one pass of the two needed');
    clock.advance(INTERVAL - 1);
    await settle();
    assert.equal(probes, 1, 'no second probe before the interval');
    clock.advance(1);
    await settle();
    assert.deepEqual([probes, m.isHealthy], [2, true]);
    m.stop();
    clock.advance(10 * INTERVAL);
    await settle();
    assert.equal(probes, 2, 'no probe after stop()');
  });
});
