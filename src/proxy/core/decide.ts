import { Act, End, Ev, Phase, type Event, type ExchangeState, type Step } from './lifecycle.js';

/**
 * The exchange's lifecycle, as one pure function: decide(state, event) → { state, actions }.
 * No I/O, no sockets, no clock (time comes in Tick events). Every result is one of the constants
 * below, so a decision allocates nothing. The driver (exchange.ts) performs the actions in order.
 */
export function decide(s: ExchangeState, ev: Event): Step {
  const p = s.phase;
  switch (ev.type) {
    case Ev.Start:
      return p === Phase.Routing ? ROUTE : STAY[p]!;
    case Ev.Wake:
      return p === Phase.Waiting ? ROUTE : STAY[p]!;
    case Ev.Chosen:
      return p === Phase.Routing ? CONNECT : STAY[p]!;
    case Ev.Wait:
      return p === Phase.Routing ? ENQUEUE : STAY[p]!;
    case Ev.NoMachine:
      return p === Phase.Routing || p === Phase.Waiting ? noMachine(s) : STAY[p]!;
    case Ev.Connected:
      // A connection that arrives after the exchange ended goes back to the pool.
      return p === Phase.Connecting ? SEND : LATE_CONNECTION[p]!;
    case Ev.ConnectFailed:
      return p === Phase.Connecting ? attemptFailed(s, false) : STAY[p]!;
    case Ev.UpstreamClosed:
      if (p === Phase.Sent) return attemptFailed(s, true);
      // Cut short: the client can no longer be told with a status; its close ends the exchange.
      if (p === Phase.Response) return ABORT_CLIENT;
      return p === Phase.Tunnel ? END_TUNNEL : STAY[p]!;
    case Ev.Head:
      return p === Phase.Sent ? STREAM : STAY[p]!;
    case Ev.Upgrade:
      return p !== Phase.Sent ? STAY[p]! : s.isUpgrade ? TUNNEL : UNASKED_UPGRADE;
    case Ev.BadResponse:
      return p === Phase.Sent ? BAD_RESPONSE : STAY[p]!;
    case Ev.ReplayAsked:
      if (p !== Phase.Sent) return STAY[p]!;
      if (s.replays >= s.limits.maxReplays) return REPLAY_LOOP;
      return ev.directive === undefined ? BAD_DIRECTIVE : RETARGET;
    case Ev.DirectiveOk:
      if (p !== Phase.ReplayWait) return STAY[p]!;
      return !s.body.complete ? REPLAY_TOO_LARGE : s.body.done ? REPLAY : AWAIT_BODY;
    case Ev.DirectiveBad:
      return p === Phase.ReplayWait ? REPLAY_FAILED : STAY[p]!;
    case Ev.BodyDone:
      return p === Phase.ReplayWait ? REPLAY : STAY[p]!;
    case Ev.BodyUnheld:
      return p === Phase.ReplayWait ? REPLAY_TOO_LARGE : STAY[p]!;
    case Ev.ResponseDone:
      return p === Phase.Response ? DONE_DROP : STAY[p]!;
    case Ev.ResponseDoneReusable:
      // The connection is reused only if the machine has seen the whole request body.
      return p !== Phase.Response ? STAY[p]! : s.body.done ? DONE_POOL : DONE_DROP;
    case Ev.Truncated:
      return p === Phase.Response ? TRUNCATED : STAY[p]!;
    case Ev.BadBody:
      return p === Phase.Tunnel ? STAY[p]! : fail(p, End.BadBody);
    case Ev.ClientClosed:
      if (p === Phase.Done) return STAY[p]!;
      return p === Phase.Tunnel ? TUNNEL_CLOSED : p === Phase.Waiting ? GONE_WAITING : GONE;
    case Ev.Tick:
      return tick(s, ev.now);
  }
}

/**
 * A failure before the machine answered. Retried on the next machine only when nothing of the
 * request can have been acted on (the connection never opened, and no body byte or the whole body
 * held), or when the method is idempotent and the whole body is still held; at most maxAttempts.
 * A POST on a reused keep-alive connection the machine dropped is not retried even without a body:
 * the machine may have acted on its head (Go's transport decides the same).
 */
function attemptFailed(s: ExchangeState, afterWrite: boolean): Step {
  const b = s.body;
  const safe = afterWrite ? s.idempotent && b.complete : !b.sentAny || b.complete;
  if (s.attempts < s.limits.maxAttempts && safe) return RETRY;
  if (s.replays > 0) return s.fallback ? FALLBACK_AFTER_ERROR : REPLAY_UPSTREAM_ERROR;
  return MACHINE_FAILED;
}

/** No machine: a replay falls back or fails as a replay, a retry with the machine's failure, else 503. */
function noMachine(s: ExchangeState): Step {
  if (s.replays > 0) return s.fallback ? FALLBACK : REPLAY_FAILED;
  return s.lastFailure !== undefined ? RETRY_FAILED : UNAVAILABLE;
}

/** An end the proxy answers: a reply before the response started, a cut after; out of the queue first. */
function fail(p: Phase, end: End): Step {
  if (p === Phase.Done) return STAY[p]!;
  if (p === Phase.Response || p === Phase.Tunnel) return CUT[end]!;
  return p === Phase.Waiting ? REPLY_WAITING[end]! : REPLY[end]!;
}

/** The sweep's timeouts, in this order: response head, client stall, machine stall, request body. */
function tick(s: ExchangeState, now: number): Step {
  const p = s.phase;
  const l = s.limits;
  if (p === Phase.Done) return STAY[p]!;
  if (p === Phase.Sent && now > s.responseDeadline) return RESPONSE_TIMEOUT;
  // A client that stops reading (HTTP/1 slow read, HTTP/2 window never reopened) holds a machine
  // connection; it is cut off rather than held forever.
  if (s.upstreamPaused && now - s.pausedSince > l.stallTimeoutMs) return p === Phase.Tunnel ? TUNNEL_STALLED : CLIENT_STALLED;
  let moved = false;
  if (p === Phase.Response) {
    // Time the client is not taking bytes (the stall timeout's) or the request body is still
    // arriving (the body timeout's; the machine may wait for it) is not the machine's idle time.
    if (s.relay.moved || s.upstreamPaused || !s.body.done) moved = true;
    else if (now - s.relay.movedAt > s.responseIdleMs) return MACHINE_STALLED;
  } else if (p === Phase.Tunnel && s.tunnelIdleMs !== undefined) {
    if (s.relay.moved) moved = true;
    else if (now - s.relay.movedAt > s.tunnelIdleMs) return TUNNEL_IDLE;
  }
  if (!s.body.done && p !== Phase.Tunnel && now - s.body.lastDataAt > l.bodyTimeoutMs) return fail(p, End.BodyTimeout);
  return moved ? (p === Phase.Tunnel ? NOTE_TUNNEL_ACTIVITY : NOTE_ACTIVITY) : STAY[p]!;
}

// ---- the results: every Step decide can return --------------------------------------------------

function step(state: Phase, actions: Act[], end?: End, why?: string): Step {
  return Object.freeze({ state, actions: Object.freeze(actions), end, why });
}

const PHASES = [Phase.Routing, Phase.Waiting, Phase.Connecting, Phase.Sent, Phase.Response, Phase.Tunnel, Phase.ReplayWait, Phase.Done];
const ENDS_COUNT = End.Truncated + 1;
const each = <T>(n: number, f: (i: number) => T): readonly T[] => Object.freeze(Array.from({ length: n }, (_, i) => f(i)));

/** Nothing to do; the phase stays. */
export const STAY: readonly Step[] = each(PHASES.length, (p) => step(p, []));
const LATE_CONNECTION = each(PHASES.length, (p) => step(p, [Act.Pool]));
const REPLY = each(ENDS_COUNT, (e) => step(Phase.Done, [Act.Reply], e));
const REPLY_WAITING = each(ENDS_COUNT, (e) => step(Phase.Done, [Act.Dequeue, Act.Reply], e));
const CUT = each(ENDS_COUNT, (e) => step(Phase.Done, [Act.Cut], e));

const ROUTE = step(Phase.Routing, [Act.Route]);
const ENQUEUE = step(Phase.Waiting, [Act.Enqueue]);
const CONNECT = step(Phase.Connecting, [Act.Connect]);
const SEND = step(Phase.Sent, [Act.Send]);
const RETRY = step(Phase.Routing, [Act.NoteFailure, Act.Retry, Act.Drop, Act.Unload, Act.Route]);
const MACHINE_FAILED = step(Phase.Done, [Act.NoteFailure, Act.Drop, Act.Unload, Act.Reply], End.MachineFailed);
const REPLAY_UPSTREAM_ERROR = step(Phase.Done, [Act.Drop, Act.Unload, Act.Reply], End.ReplayFailed, 'upstream_error');
const UNAVAILABLE = REPLY[End.Unavailable]!;
const RETRY_FAILED = REPLY[End.RetryFailed]!;
const REPLAY_FAILED = REPLY[End.ReplayFailed]!;

const STREAM = step(Phase.Response, [Act.NoteHead, Act.Stream]);
const TUNNEL = step(Phase.Tunnel, [Act.NoteHead, Act.Tunnel]);
const UNASKED_UPGRADE = step(Phase.Done, [Act.NoteHead, Act.Reply], End.BadResponse, '101 without an upgrade request');
const BAD_RESPONSE = REPLY[End.BadResponse]!;
const DONE_POOL = step(Phase.Done, [Act.Pool, Act.Finish]);
const DONE_DROP = step(Phase.Done, [Act.Drop, Act.Finish]);
const TRUNCATED = CUT[End.Truncated]!;
const ABORT_CLIENT = step(Phase.Response, [Act.AbortClient]);
const END_TUNNEL = step(Phase.Tunnel, [Act.EndTunnel]);

const REPLAY_LOOP = step(Phase.Done, [Act.NoteHead, Act.Drop, Act.Unload, Act.Reply], End.ReplayFailed, 'loop');
const BAD_DIRECTIVE = step(Phase.Done, [Act.NoteHead, Act.Drop, Act.Unload, Act.Reply], End.ReplayFailed);
const RETARGET = step(Phase.ReplayWait, [Act.NoteHead, Act.Retarget, Act.Drop, Act.Unload, Act.CheckReplay]);
const REPLAY = step(Phase.Routing, [Act.Replay, Act.Route]);
const AWAIT_BODY = step(Phase.ReplayWait, [Act.Flow]);
const REPLAY_TOO_LARGE = step(Phase.Done, [Act.Reply], End.ReplayFailed, 'body_too_large');
const FALLBACK = step(Phase.Routing, [Act.Fallback, Act.Route]);
const FALLBACK_AFTER_ERROR = step(Phase.Routing, [Act.Drop, Act.Unload, Act.Fallback, Act.Route], undefined, 'upstream_error');

const GONE = step(Phase.Done, [Act.Forget], End.ClientGone);
const GONE_WAITING = step(Phase.Done, [Act.Dequeue, Act.Forget], End.ClientGone);
const TUNNEL_CLOSED = step(Phase.Done, [Act.Forget], End.TunnelClosed);
const RESPONSE_TIMEOUT = REPLY[End.ResponseTimeout]!;
const CLIENT_STALLED = CUT[End.ClientStalled]!;
const TUNNEL_STALLED = CUT[End.TunnelStalled]!;
const MACHINE_STALLED = CUT[End.MachineStalled]!;
const TUNNEL_IDLE = CUT[End.TunnelIdle]!;
const NOTE_ACTIVITY = step(Phase.Response, [Act.NoteActivity]);
const NOTE_TUNNEL_ACTIVITY = step(Phase.Tunnel, [Act.NoteActivity]);
