/**
 * When a deploy's new machine has certainly failed (control/deploy/verdict.ts), on data: a
 * machine that failed or exited for good, one crash-looping under `always`, one whose check keeps
 * failing past its grace period — and not one that is only slow, or restarting once.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MachineDetailsDoc, MachineDoc, MachineStateDoc } from '../../src/contract/index.js';
import { CHECK_FAILURES_IN_A_ROW, CRASH_LOOP_EXITS, certainFailure, describeFailure, plainOutput } from '../../src/control/deploy/verdict.js';

const at = '2026-01-01T00:00:00.000Z';
const m: MachineDoc = { id: 'm1', app: 'a', region: 'fra', host: 'h1', release: 2, deploy: 'd', created_at: at };
const state = (s: MachineStateDoc['state'], release = 2): MachineStateDoc => ({ id: 'm1', app: 'a', host: 'h1', region: 'fra', release, state: s, healthy: false, updated_at: at });
const details = (over: Partial<MachineDetailsDoc>): MachineDetailsDoc => ({
  id: 'm1', app: 'a', host: 'h1', region: 'fra', release: 2, state: 'started', exit: null, checks: [], events: [], log_tail: [], updated_at: at, gone_at: null, ...over,
});
const exit = (code: number, exits: number, will_restart: boolean) => ({ code, signal: null, at, exits, will_restart });

describe('deploy verdict', () => {
  it('a failed machine fails with its exit code and last lines', () => {
    const tail = Array.from({ length: 30 }, (_, i) => ({ time: at, stream: 'stderr' as const, message: `line ${i}` }));
    const f = certainFailure(m, state('failed'), details({ exit: exit(1, 4, false), log_tail: tail }));
    assert.equal(f?.reason, 'exited with code 1');
    assert.equal(describeFailure(f), 'machine m1 (fra) exited with code 1');
    assert.equal(f.log_tail.length, 20, 'the last 20 lines');
    assert.equal(f.log_tail.at(-1)?.message, 'line 29');
  });

  it('an exit with no restart coming fails; one restart coming does not, until a crash loop', () => {
    const exitEvent = [{ at, type: 'exit', message: 'exit 0' }];
    assert.equal(certainFailure(m, state('stopped'), details({ exit: exit(0, 1, false), events: exitEvent }))?.reason, 'exited with code 0');
    const stoppedLater = [...exitEvent, { at, type: 'stopped', message: 'autostopped: excess capacity in fra' }];
    assert.equal(certainFailure(m, state('stopped'), details({ exit: exit(1, 1, false), events: stoppedLater })), undefined, 'stopped by a stop, not by its exit');
    assert.equal(certainFailure(m, state('stopped'), details({ exit: exit(1, 1, true) })), undefined);
    assert.equal(certainFailure(m, state('started'), details({ exit: exit(1, CRASH_LOOP_EXITS - 1, false) })), undefined);
    assert.match(certainFailure(m, state('started'), details({ exit: exit(1, CRASH_LOOP_EXITS, true) }))?.reason ?? '', /crash-looping: exited 3 times/);
  });

  it('a check failing in a row past its grace period fails; a slow one does not', () => {
    const check = (failures: number, status: 'critical' | 'warning' = 'critical') => [{ name: 'http:8080/', status, output: 'connect ECONNREFUSED 10.0.0.2:8080', failures }];
    assert.equal(certainFailure(m, state('started'), details({ checks: check(CHECK_FAILURES_IN_A_ROW - 1) })), undefined);
    assert.equal(certainFailure(m, state('started'), details({ checks: check(0, 'warning') })), undefined);
    const f = certainFailure(m, state('started'), details({ checks: check(CHECK_FAILURES_IN_A_ROW) }));
    assert.equal(f?.reason, 'check http:8080/ failed 3 times in a row: connection refused');
    assert.deepEqual(f.check, { name: 'http:8080/', output: 'connect ECONNREFUSED 10.0.0.2:8080' });
  });

  it('a report of another release, or none, says nothing yet', () => {
    assert.equal(certainFailure(m, undefined, undefined), undefined);
    assert.equal(certainFailure(m, state('failed', 1), details({ exit: exit(1, 4, false) })), undefined);
    assert.match(certainFailure(m, state('failed'), undefined)?.reason ?? '', /failed on its host/);
  });

  it('check output in words', () => {
    assert.equal(plainOutput('HTTP 503'), 'status 503');
    assert.equal(plainOutput('timed out after 500 ms'), 'timed out after 500 ms');
  });
});
