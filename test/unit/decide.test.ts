import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decide } from '../../src/proxy/core/decide.js';
import { Act, End, Ev, EV, event, Phase, PHASE_NAMES, type Event, type ExchangeState, type Step } from '../../src/proxy/core/lifecycle.js';
import { DEFAULT_LIMITS } from '../../src/proxy/index.js';
import type { ReplayDirective } from '../../src/proxy/core/replay.js';

/**
 * The exchange's lifecycle on literal states and events: no sockets, no clock, no proxy. Each case
 * is one decision; the paths chain them as the driver would (the next state is the step's).
 */
type Over = Partial<Omit<ExchangeState, 'body' | 'relay'>> & { body?: Partial<ExchangeState['body']>; relay?: Partial<ExchangeState['relay']> };

function state(over: Over = {}): ExchangeState {
  return {
    phase: Phase.Routing,
    attempts: 0,
    replays: 0,
    fallback: false,
    lastFailure: undefined,
    idempotent: true,
    isUpgrade: false,
    responseDeadline: 0,
    upstreamPaused: false,
    pausedSince: 0,
    responseIdleMs: DEFAULT_LIMITS.responseIdleTimeoutMs,
    tunnelIdleMs: undefined,
    limits: DEFAULT_LIMITS,
    ...over,
    body: { done: true, complete: true, sentAny: false, lastDataAt: 0, ...over.body },
    relay: { moved: false, movedAt: 0, ...over.relay },
  };
}

/** A step, readably: `sent: Send`, `done: Drop, Unload, Reply (ReplayFailed: loop)`. */
function show(s: Step): string {
  const acts = s.actions.map((a) => ACT[a]).join(', ');
  const end = s.end === undefined ? '' : ` (${END[s.end]}${s.why ? `: ${s.why}` : ''})`;
  return `${PHASE_NAMES[s.state]}: ${acts}${end}`;
}
const ACT = ['Route', 'Enqueue', 'Dequeue', 'Connect', 'Send', 'NoteFailure', 'Retry', 'Drop', 'Pool', 'Unload', 'NoteHead', 'Stream', 'Tunnel',
  'Retarget', 'CheckReplay', 'Replay', 'Fallback', 'Flow', 'AbortClient', 'EndTunnel', 'NoteActivity', 'Finish', 'Reply', 'Cut', 'Forget'];
const END = ['Unavailable', 'RetryFailed', 'ReplayFailed', 'MachineFailed', 'BadResponse', 'ResponseTimeout', 'BodyTimeout', 'BadBody',
  'ClientGone', 'TunnelClosed', 'ClientStalled', 'TunnelStalled', 'MachineStalled', 'TunnelIdle', 'Truncated'];

/** Runs events through decide from `s`, carrying the phase; returns every step, shown. */
function path(s: ExchangeState, events: Event[]): string[] {
  let phase = s.phase;
  return events.map((ev) => {
    const step = decide({ ...s, phase }, ev);
    phase = step.state;
    return show(step);
  });
}

const closed = (reused = false): Event => event(Ev.UpstreamClosed, 'ECONNRESET', { reused });
const refused = event(Ev.ConnectFailed, 'ECONNREFUSED');
const tick = (now: number): Event => event(Ev.Tick, undefined, { now });
const directive: ReplayDirective = { regions: ['iad'], instance: undefined, preferInstance: undefined, app: undefined, state: undefined, elsewhere: false, timeoutMs: undefined, fallback: undefined };

describe('decide: the exchange lifecycle', () => {
  it('route → connect → head → body → done, the machine connection back to the pool', () => {
    assert.deepEqual(path(state(), [EV.start, EV.chosen, EV.connected, EV.head, EV.responseDoneReusable]), [
      'routing: Route',
      'connecting: Connect',
      'sent: Send',
      'response: NoteHead, Stream',
      'done: Pool, Finish',
    ]);
  });

  it('a response that ends before the machine saw the whole body, or cannot be reused, closes the connection', () => {
    assert.equal(show(decide(state({ phase: Phase.Response, body: { done: false } }), EV.responseDoneReusable)), 'done: Drop, Finish');
    assert.equal(show(decide(state({ phase: Phase.Response }), EV.responseDone)), 'done: Drop, Finish');
  });

  it('a connect failure moves to the next machine, at most maxAttempts', () => {
    assert.deepEqual(path(state({ attempts: 1 }), [EV.start, EV.chosen, refused]), [
      'routing: Route',
      'connecting: Connect',
      'routing: NoteFailure, Retry, Drop, Unload, Route',
    ]);
    const last = state({ phase: Phase.Connecting, attempts: DEFAULT_LIMITS.maxAttempts });
    assert.equal(show(decide(last, refused)), 'done: NoteFailure, Drop, Unload, Reply (MachineFailed)');
  });

  it('retries only when safe: never-opened, or idempotent with the body held (README "Retries")', () => {
    const sent = (o: Over) => show(decide(state({ phase: Phase.Sent, attempts: 1, ...o }), closed()));
    const retry = 'routing: NoteFailure, Retry, Drop, Unload, Route';
    const fail = 'done: NoteFailure, Drop, Unload, Reply (MachineFailed)';
    assert.equal(sent({ idempotent: true }), retry, 'GET after the write, body held');
    assert.equal(sent({ idempotent: false }), fail, 'POST after the write: the machine may have acted on it');
    assert.equal(sent({ idempotent: true, body: { complete: false, sentAny: true } }), fail, 'PUT whose body is no longer held');
    const connecting = (o: Over) => show(decide(state({ phase: Phase.Connecting, attempts: 1, ...o }), refused));
    assert.equal(connecting({ idempotent: false }), retry, 'POST that never reached a machine');
    assert.equal(connecting({ idempotent: false, body: { complete: false, sentAny: false } }), retry, 'nothing sent: the body is still pending');
    assert.equal(connecting({ idempotent: false, body: { complete: false, sentAny: true } }), fail, 'sent before, no longer held');
    // A reused connection is retried on the same terms (NoteFailure leaves the machine choosable).
    assert.equal(show(decide(state({ phase: Phase.Sent, attempts: 1, idempotent: false }), closed(true))), fail);
  });

  it('a retry with nowhere to go answers with the failure, not "no capacity"', () => {
    assert.equal(show(decide(state({ lastFailure: 'machine m1 failed' }), event(Ev.NoMachine, 'no_healthy_machine'))), 'done: Reply (RetryFailed)');
    assert.equal(show(decide(state(), event(Ev.NoMachine, 'no_healthy_machine'))), 'done: Reply (Unavailable)');
  });

  it('replay: the response is dropped, the request waits for its body, then routes again', () => {
    const asked = event(Ev.ReplayAsked, undefined, { directive });
    assert.deepEqual(path(state({ phase: Phase.Sent, body: { done: false } }), [asked, EV.directiveOk]), [
      'replay-wait: NoteHead, Retarget, Drop, Unload, CheckReplay',
      'replay-wait: Flow',
    ]);
    assert.equal(show(decide(state({ phase: Phase.ReplayWait }), EV.bodyDone)), 'routing: Replay, Route');
    assert.equal(show(decide(state({ phase: Phase.ReplayWait }), EV.directiveOk)), 'routing: Replay, Route', 'body already whole');
    assert.equal(show(decide(state({ phase: Phase.ReplayWait }), EV.bodyUnheld)), 'done: Reply (ReplayFailed: body_too_large)');
    assert.equal(show(decide(state({ phase: Phase.ReplayWait, body: { complete: false } }), EV.directiveOk)), 'done: Reply (ReplayFailed: body_too_large)');
    assert.equal(show(decide(state({ phase: Phase.ReplayWait }), EV.unknownApp)), 'done: Reply (ReplayFailed)');
  });

  it('replay: the loop guard, a bad directive, and a replay that finds no machine', () => {
    const asked = event(Ev.ReplayAsked, undefined, { directive });
    assert.equal(show(decide(state({ phase: Phase.Sent, replays: DEFAULT_LIMITS.maxReplays }), asked)), 'done: NoteHead, Drop, Unload, Reply (ReplayFailed: loop)');
    const bad = event(Ev.ReplayAsked, 'bad_directive no target');
    assert.equal(show(decide(state({ phase: Phase.Sent }), bad)), 'done: NoteHead, Drop, Unload, Reply (ReplayFailed)');
    assert.equal(show(decide(state({ replays: 1 }), event(Ev.NoMachine, 'region_unavailable'))), 'done: Reply (ReplayFailed)');
    assert.equal(show(decide(state({ phase: Phase.Sent, replays: 1, idempotent: false }), closed())), 'done: Drop, Unload, Reply (ReplayFailed: upstream_error)');
  });

  it('replay with a fallback: no machine, or a failed attempt, sends it back (once) instead of 502', () => {
    assert.equal(show(decide(state({ replays: 1, fallback: true }), event(Ev.NoMachine, 'region_unavailable'))), 'routing: Fallback, Route');
    assert.equal(show(decide(state({ phase: Phase.Waiting, replays: 1, fallback: true }), event(Ev.NoMachine, 'timeout'))), 'routing: Fallback, Route');
    const attemptsLeft = state({ phase: Phase.Sent, replays: 1, fallback: true });
    assert.equal(show(decide(attemptsLeft, closed())), 'routing: NoteFailure, Retry, Drop, Unload, Route', 'a retry in the target comes first');
    const lastAttempt = state({ phase: Phase.Sent, replays: 1, fallback: true, attempts: DEFAULT_LIMITS.maxAttempts });
    assert.equal(show(decide(lastAttempt, closed())), 'routing: Drop, Unload, Fallback, Route');
    assert.equal(show(decide(state({ replays: 1, fallback: false }), event(Ev.NoMachine, 'region_unavailable'))), 'done: Reply (ReplayFailed)', 'after its one fallback: 502');
  });

  it('queue at hard_limit: wait, route again when woken, 503 once the deadline passed', () => {
    assert.deepEqual(path(state(), [EV.start, EV.wait, EV.wake, EV.wait, EV.expired]), [
      'routing: Route',
      'waiting: Enqueue',
      'routing: Route',
      'waiting: Enqueue',
      'done: Reply (Unavailable)',
    ]);
    assert.equal(show(decide(state({ phase: Phase.Waiting }), EV.queueFull)), 'done: Reply (Unavailable)');
  });

  it('autostart: a request for a stopped machine waits in the queue like one at hard_limit, then connects', () => {
    // The driver asked the runtime to start one and reports Wait; the new routes wake it.
    assert.deepEqual(path(state(), [EV.start, EV.wait, EV.wake, EV.chosen]), ['routing: Route', 'waiting: Enqueue', 'routing: Route', 'connecting: Connect']);
  });

  it('client gone: the exchange ends without a word, out of the queue first', () => {
    assert.equal(show(decide(state({ phase: Phase.Sent }), EV.clientClosed)), 'done: Forget (ClientGone)');
    assert.equal(show(decide(state({ phase: Phase.Waiting }), EV.clientClosed)), 'done: Dequeue, Forget (ClientGone)');
    assert.equal(show(decide(state({ phase: Phase.Tunnel }), EV.clientClosed)), 'done: Forget (TunnelClosed)');
    // A connection that opens after the client left goes back to the pool.
    assert.equal(show(decide(state({ phase: Phase.Done }), EV.connected)), 'done: Pool');
  });

  it('machine stall: no body byte for responseIdleTimeoutMs cuts the response', () => {
    const idle = DEFAULT_LIMITS.responseIdleTimeoutMs;
    const at = (o: Over) => show(decide(state({ phase: Phase.Response, relay: { movedAt: 1000 }, ...o }), tick(1000 + idle + 1)));
    assert.equal(at({}), 'done: Cut (MachineStalled)');
    assert.equal(at({ relay: { moved: true, movedAt: 1000 } }), 'response: NoteActivity', 'bytes came since the last sweep');
    assert.equal(at({ upstreamPaused: true, pausedSince: 1000 + idle }), 'response: NoteActivity', 'the client is not reading: not the machine');
    assert.equal(at({ body: { done: false, lastDataAt: 1000 + idle } }), 'response: NoteActivity', 'the upload is still arriving');
    assert.equal(show(decide(state({ phase: Phase.Response, relay: { movedAt: 1000 } }), tick(1000 + idle))), 'response: ');
  });

  it("an app's idle_timeout: the response's idle limit, and one for upgraded connections, which have none without it", () => {
    const idle = 5000;
    const resp = (o: Over, now: number) => show(decide(state({ phase: Phase.Response, relay: { movedAt: 1000 }, responseIdleMs: idle, ...o }), tick(now)));
    assert.equal(resp({}, 1000 + idle + 1), 'done: Cut (MachineStalled)');
    assert.equal(resp({}, 1000 + idle), 'response: ');
    const tun = (o: Over, now: number) => show(decide(state({ phase: Phase.Tunnel, relay: { movedAt: 1000 }, ...o }), tick(now)));
    assert.equal(tun({}, 1000 + 86_400_000), 'tunnel: ', 'no idle limit on an upgrade unless the app sets one');
    assert.equal(tun({ tunnelIdleMs: idle }, 1000 + idle + 1), 'done: Cut (TunnelIdle)');
    assert.equal(tun({ tunnelIdleMs: idle }, 1000 + idle), 'tunnel: ');
    assert.equal(tun({ tunnelIdleMs: idle, relay: { moved: true, movedAt: 1000 } }, 1000 + idle + 1), 'tunnel: NoteActivity', 'bytes went through since the last sweep');
  });

  it('client stall: a client that takes nothing for stallTimeoutMs is cut off', () => {
    const stall = DEFAULT_LIMITS.stallTimeoutMs;
    const s = { upstreamPaused: true, pausedSince: 0 };
    assert.equal(show(decide(state({ phase: Phase.Response, ...s }), tick(stall + 1))), 'done: Cut (ClientStalled)');
    assert.equal(show(decide(state({ phase: Phase.Tunnel, ...s }), tick(stall + 1))), 'done: Cut (TunnelStalled)');
    assert.equal(show(decide(state({ phase: Phase.Tunnel, ...s }), tick(stall))), 'tunnel: ');
  });

  it('the response head and the request body have their own deadlines', () => {
    assert.equal(show(decide(state({ phase: Phase.Sent, responseDeadline: 500 }), tick(501))), 'done: Reply (ResponseTimeout)');
    assert.equal(show(decide(state({ phase: Phase.Sent, responseDeadline: 500 }), tick(500))), 'sent: ');
    const slow = { body: { done: false, lastDataAt: 0 } };
    const t = tick(DEFAULT_LIMITS.bodyTimeoutMs + 1);
    assert.equal(show(decide(state({ phase: Phase.Waiting, ...slow }), t)), 'done: Dequeue, Reply (BodyTimeout)');
    assert.equal(show(decide(state({ phase: Phase.Response, ...slow }), t)), 'done: Cut (BodyTimeout)', 'the response started: cut');
  });

  it('bad input from either side', () => {
    assert.equal(show(decide(state({ phase: Phase.Sent }), event(Ev.BadResponse, 'response head too large'))), 'done: Reply (BadResponse)');
    assert.equal(show(decide(state({ phase: Phase.Sent }), EV.upgrade)), 'done: NoteHead, Reply (BadResponse: 101 without an upgrade request)');
    assert.equal(show(decide(state({ phase: Phase.Sent, isUpgrade: true }), EV.upgrade)), 'tunnel: NoteHead, Tunnel');
    assert.equal(show(decide(state({ phase: Phase.Connecting }), event(Ev.BadBody))), 'done: Reply (BadBody)');
    assert.equal(show(decide(state({ phase: Phase.Response }), event(Ev.Truncated, 'bad chunk'))), 'done: Cut (Truncated)');
    assert.equal(show(decide(state({ phase: Phase.Response }), closed())), 'response: AbortClient', 'its close ends the exchange (ClientGone)');
    assert.equal(show(decide(state({ phase: Phase.Tunnel }), closed())), 'tunnel: EndTunnel');
  });

  it('an exchange that is done ignores everything, and no decision allocates', () => {
    const done = state({ phase: Phase.Done });
    const all: Event[] = [...Object.values(EV), closed(), refused, tick(1e12), event(Ev.BadBody), event(Ev.ReplayAsked, undefined, { directive })];
    for (const ev of all) {
      if (ev === EV.connected) continue;
      assert.equal(show(decide(done, ev)), 'done: ', `event ${ev.type}`);
    }
    const s = state({ phase: Phase.Sent });
    assert.equal(decide(s, EV.head), decide(s, EV.head), 'the same constant step');
    assert.ok(Object.isFrozen(decide(s, EV.head)) && Object.isFrozen(decide(s, EV.head).actions));
    assert.equal(Act.Forget + 1, ACT.length, 'every action is named here');
    assert.equal(End.Truncated + 1, END.length, 'every end is named here');
  });
});
