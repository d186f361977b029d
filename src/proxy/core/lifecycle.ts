import type { ProxyLimits } from './context.js';
import type { ReplayDirective } from './replay.js';

/**
 * The words of the exchange's state machine (decide.ts): its phases, the events it reacts to, the
 * actions it asks for and the ways it can end. Numbers (const enums), so a decision is a few integer
 * compares and its result a shared constant. README.md draws the diagram.
 */

/** Where one exchange is. Only the driver's dispatch (exchange.ts) assigns it, from decide's result. */
export const enum Phase {
  /** Choosing a machine (the first time, after a failed attempt, after a replay). */
  Routing,
  /** Every machine at hard_limit, or one starting: in the app's wait queue. */
  Waiting,
  /** A machine is chosen; its connection is being opened (or taken from the pool). */
  Connecting,
  /** The request went to the machine; no response head yet. */
  Sent,
  /** The response head went to the client; the body is streaming. */
  Response,
  /** 101 Switching Protocols: bytes both ways until either side ends. */
  Tunnel,
  /** The machine asked for a replay; the rest of the request body is still arriving. */
  ReplayWait,
  /** Answered, cut or abandoned: nothing more happens. */
  Done,
}

export const PHASE_NAMES = ['routing', 'waiting', 'connecting', 'sent', 'response', 'tunnel', 'replay-wait', 'done'] as const;

/** What happened. Events without data are shared constants (EV in decide.ts). */
export const enum Ev {
  /** The exchange exists (the head arrived, and the body bytes that came with it were taken). */
  Start,
  /** Routing found a machine. */
  Chosen,
  /** Routing found only machines at hard_limit, or one starting: wait for a slot. */
  Wait,
  /** No machine can take it (`why`: the reason), or the wait ended without one. */
  NoMachine,
  /** The wait queue says a slot may be free (a request finished, or new routes). */
  Wake,
  /** The machine connection is open. */
  Connected,
  /** The machine connection could not be opened (`why`: errno code or message). */
  ConnectFailed,
  /** The machine connection closed (`reused`: it came from the pool; `why` as above). */
  UpstreamClosed,
  /** A final response head (not 101, no replay header). */
  Head,
  /** 101 Switching Protocols. */
  Upgrade,
  /** A response head with a replay header: its parse (`directive`, or `why` it is not one). */
  ReplayAsked,
  /** The replay's target app is known; the directive is in effect. */
  DirectiveOk,
  /** The replay cannot be done (`why`, e.g. unknown_app). */
  DirectiveBad,
  /** The machine's response cannot be relayed (`why`). */
  BadResponse,
  /** The response is complete and the machine connection must be closed. */
  ResponseDone,
  /** The response is complete and its connection may serve another request. */
  ResponseDoneReusable,
  /** The response body is broken mid-way (`why`). */
  Truncated,
  /** The last byte of the request body arrived. */
  BodyDone,
  /** The request body outgrew what is kept for a replay or retry. */
  BodyUnheld,
  /** The request body's framing is invalid (`why`). */
  BadBody,
  /** The client closed its connection (HTTP/2: the stream). */
  ClientClosed,
  /** The proxy's sweep, with the time (`now`, monotonic ms): timeouts are decided here. */
  Tick,
}

/**
 * One shape for every event, so that decide's property loads stay monomorphic; most fields are
 * empty for most events. Build one with `event()`; the data-less ones are the shared EV constants.
 */
export interface Event {
  readonly type: Ev;
  /** Why it happened, in words: part of the answer, or the access log's `error`. */
  readonly why: string | undefined;
  /** UpstreamClosed: the connection came from the pool (the machine may have closed it idle). */
  readonly reused: boolean;
  /** ReplayAsked: the parsed directive; undefined when the header is not one (`why` says why). */
  readonly directive: ReplayDirective | undefined;
  /** Tick: monotonic ms. */
  readonly now: number;
}

export function event(type: Ev, why?: string, more?: { reused?: boolean; directive?: ReplayDirective; now?: number }): Event {
  return { type, why, reused: more?.reused ?? false, directive: more?.directive, now: more?.now ?? 0 };
}

/**
 * What the driver does, in the order a Step lists them. An action that can raise the next event
 * (Route, Enqueue, Connect, Stream, CheckReplay) comes last in its list.
 */
export const enum Act {
  /** Choose a machine (choose.ts; autostart) → Chosen, Wait or NoMachine. */
  Route,
  /** Join the app's wait queue → NoMachine (queue_full) when it is full. */
  Enqueue,
  /** Leave it: the exchange ends while waiting. */
  Dequeue,
  /** Count the attempt, take a load slot on the chosen machine, get a connection → Connected or ConnectFailed. */
  Connect,
  /** Write the request head and the body held so far; start the response timeout. */
  Send,
  /** Remember why the attempt failed; leave that machine out of the next choice. */
  NoteFailure,
  /** Count the retry; the body held is sent again from its start. */
  Retry,
  /** Close the machine connection. */
  Drop,
  /** Hand the machine connection back to the pool. */
  Pool,
  /** Give back the machine's load slot (a waiter may take it). */
  Unload,
  /** The response head arrived: upstream latency, and the response idle watch starts. */
  NoteHead,
  /** Write the response head and the body bytes that came with it → ResponseDone, or nothing yet. */
  Stream,
  /** Switch to passing bytes both ways. */
  Tunnel,
  /** Take the replay directive: replay source, machines left out, target app. */
  Retarget,
  /** → DirectiveOk, or DirectiveBad (unknown_app). */
  CheckReplay,
  /** Count the replay; route again under the directive's constraints, the body from its start. */
  Replay,
  /** The replay failed and its directive has a fallback: back to the machine that asked (or its app). */
  Fallback,
  /** Pause or resume the client's reading (how much is held here). */
  Flow,
  /** Cut the client: the machine cut the response short. Its close ends the exchange. */
  AbortClient,
  /** The machine ended the tunnel: end the client's side too. */
  EndTunnel,
  /** The sweep saw the response move (or not be the machine's to move): the idle watch restarts. */
  NoteActivity,
  /** The response is complete: count, log, hand the client connection back. */
  Finish,
  /** Answer the client from the proxy (Step.end says with what), then finish. */
  Reply,
  /** The response already started: cut the client instead of answering, then finish. */
  Cut,
  /** The client is gone: finish without writing. */
  Forget,
}

/** How an exchange that did not get a whole response ends (the driver renders each: ends.ts). */
export const enum End {
  /** 503: no machine for the app (none usable, queue full, waited too long). */
  Unavailable,
  /** 502: an attempt failed, the retry found no other machine. */
  RetryFailed,
  /** 502 with starling-replay-failed: the replay could not be done. */
  ReplayFailed,
  /** 502: the machine failed before answering and the request could not be retried. */
  MachineFailed,
  /** 502: the machine's response head is broken. */
  BadResponse,
  /** 504: no response head within responseTimeoutMs. */
  ResponseTimeout,
  /** 408: the request body stopped arriving. */
  BodyTimeout,
  /** 400: the request body's framing is invalid. */
  BadBody,
  /** 499: the client closed before the response was complete. */
  ClientGone,
  /** 101: the client closed the tunnel. */
  TunnelClosed,
  /** 499: the client stopped reading the response (stallTimeoutMs). */
  ClientStalled,
  /** 101: the client stopped reading the tunnel. */
  TunnelStalled,
  /** The response's status: the machine sent no body byte for responseIdleTimeoutMs (or the app's idle_timeout). */
  MachineStalled,
  /** 101: no byte either way through the upgraded connection for the app's idle_timeout. */
  TunnelIdle,
  /** The response's status: its body broke mid-way. */
  Truncated,
}

/** decide's answer: the next phase, what to do, and for an end, which one. Always a shared constant. */
export interface Step {
  readonly state: Phase;
  readonly actions: readonly Act[];
  readonly end?: End | undefined;
  /** The decision's own words, put before the event's (`upstream_error ECONNRESET`). */
  readonly why?: string | undefined;
}

/**
 * What decide looks at: the phase and the facts its rules need. The Exchange is one (its own fields
 * and its body's and relay's); a test writes one as a literal.
 */
export interface ExchangeState {
  readonly phase: Phase;
  /** Attempts at a machine so far (since the last replay). */
  readonly attempts: number;
  readonly replays: number;
  /** The replay under way may fall back to the machine that asked for it (`fallback=`), once. */
  readonly fallback: boolean;
  /** Set once an attempt failed: what the client is told if no other machine takes the request. */
  readonly lastFailure: string | undefined;
  /** The method may be sent twice (README "Retries"). */
  readonly idempotent: boolean;
  /** The request asked for an upgrade (Connection: upgrade). */
  readonly isUpgrade: boolean;
  /** Monotonic ms by which the response head must have come (Sent). */
  readonly responseDeadline: number;
  /** How long the machine may send no response body byte: the app's idle_timeout, else responseIdleTimeoutMs. */
  readonly responseIdleMs: number;
  /** How long an upgraded connection may carry nothing: the app's idle_timeout; undefined: no limit. */
  readonly tunnelIdleMs: number | undefined;
  /** The machine connection is paused because the client is not taking bytes; since when. */
  readonly upstreamPaused: boolean;
  readonly pausedSince: number;
  readonly body: {
    readonly done: boolean;
    /** The whole body received so far is still held (within replayMaxBytes). */
    readonly complete: boolean;
    /** Some of it reached a machine. */
    readonly sentAny: boolean;
    readonly lastDataAt: number;
  };
  readonly relay: {
    /** Body bytes came from the machine since the sweep last looked. */
    readonly moved: boolean;
    /** When the sweep last saw them move (or the head came). */
    readonly movedAt: number;
  };
  readonly limits: Pick<ProxyLimits, 'maxAttempts' | 'maxReplays' | 'stallTimeoutMs' | 'bodyTimeoutMs'>;
}

/**
 * The events that carry no data, shared by every exchange (decide keeps no event, so one object
 * serves all). `queueFull`, `expired` and `unknownApp` carry fixed words.
 */
export const EV = Object.freeze({
  start: event(Ev.Start),
  chosen: event(Ev.Chosen),
  wait: event(Ev.Wait),
  wake: event(Ev.Wake),
  queueFull: event(Ev.NoMachine, 'queue_full'),
  expired: event(Ev.NoMachine, 'no machine could take the request in time (every one at its hard_limit, or still starting)'),
  connected: event(Ev.Connected),
  head: event(Ev.Head),
  upgrade: event(Ev.Upgrade),
  directiveOk: event(Ev.DirectiveOk),
  unknownApp: event(Ev.DirectiveBad, 'unknown_app'),
  responseDone: event(Ev.ResponseDone),
  responseDoneReusable: event(Ev.ResponseDoneReusable),
  bodyDone: event(Ev.BodyDone),
  bodyUnheld: event(Ev.BodyUnheld),
  clientClosed: event(Ev.ClientClosed),
});
