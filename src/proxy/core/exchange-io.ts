import { isIdempotent, type RequestHead } from '../codec/index.js';
import type { AppRoute, MachineRoute } from '../route-table/index.js';
import { UpstreamConn, type Upstream, type UpstreamOwner } from '../upstream/index.js';
import { stripQuery } from '../observe/index.js';
import type { ProxyConfig, ProxyContext, ProxyLimits } from './context.js';
import type { Downstream } from './downstream.js';
import { joinWhy, settle, type EndFacts } from './ends.js';
import { buildRequestHead } from './headers.js';
import { Act, Phase, type Event, type ExchangeState, type Step } from './lifecycle.js';
import { peerOrigin, type PeerOrigin } from './peer.js';
import { Preferences } from './preferences.js';
import type { ReplayDirective } from './replay.js';
import { RequestBody, type BodySink } from './request-body.js';
import { ResponseRelay } from './response.js';

const FLOW_LIMIT = 64 * 1024;

/**
 * One exchange's state and what its actions do with bytes: the request to the machine, the two
 * connections' backpressure, and the ends (answer, cut, finish). The Exchange (exchange.ts) decides
 * when, through decide(); this is the how. Split from it only to keep each file readable.
 */
export abstract class ExchangeIO implements ExchangeState, EndFacts, BodySink {
  phase: Phase = Phase.Routing;
  attempts = 0;
  replays = 0;
  lastFailure: string | undefined;
  responseDeadline = 0;
  upstreamPaused = false;
  pausedSince = 0;
  waitDeadline = 0;
  readonly requestId: string;
  readonly body: RequestBody;
  readonly relay: ResponseRelay;
  readonly limits: Readonly<ProxyLimits>;
  app: AppRoute;
  /** The machine of the current attempt, while it holds a load slot there. */
  machine: MachineRoute | undefined;
  protected chosen: MachineRoute | undefined;
  protected up: Upstream | undefined;
  /** Client bytes after this request (the next pipelined one, or an upgraded stream's). */
  protected leftover: Buffer | undefined;
  protected readonly config: ProxyConfig;
  protected readonly startedAt: number;
  /** The client's request target, for the log (a replay's transform may change the one sent). */
  private readonly askedTarget: string;
  protected sentAt = 0;
  protected readonly prefs: Preferences;
  /** Set when another Starling proxy sent this request (peer.ts): the edge facts it saw. */
  protected readonly origin: PeerOrigin | undefined;
  protected replaySrc: string | undefined;
  protected pendingReplay: ReplayDirective | undefined;
  /** Where a replay with `fallback=` goes back to: the app and machine that asked for it. */
  protected fallbackTo: { app: AppRoute; machine: MachineRoute; head: RequestHead; mode: 'force_self' | 'prefer_self' } | undefined;
  /** decide's view: the replay under way may still fall back (it is armed until used). */
  get fallback(): boolean {
    return this.fallbackTo !== undefined;
  }
  /** The replay's `timeout=` is the wait deadline (the queue expires the request at it). */
  protected replayTimeout = false;
  /** Why a replay fell back: sent to the machine as `starling-replay-failed` / `fly-replay-failed`. */
  protected replayFailed: string | undefined;
  protected preferredUnavailable = false;
  protected retries = 0;
  protected localBytes = 0;
  protected paused = false;
  protected upstreamFull = false;

  constructor(
    protected readonly ctx: ProxyContext,
    protected readonly client: Downstream,
    /** The request as the machine is sent it: a JSON replay's `transform` changes it. */
    protected head: RequestHead,
    app: AppRoute,
  ) {
    const config = ctx.config;
    this.config = config;
    this.limits = config.limits;
    this.app = app;
    this.requestId = config.nextRequestId();
    this.startedAt = config.clock.monotonic();
    this.askedTarget = head.target;
    this.body = new RequestBody(head, config.limits.replayMaxBytes, this.startedAt);
    this.relay = new ResponseRelay(head, client, this.requestId, config.limits.flyHeaders);
    this.prefs = new Preferences(config.region);
    this.origin = this.prefs.read(head, ctx.acceptPeerKey) ? peerOrigin(head) : undefined;
  }

  get isUpgrade(): boolean {
    return this.head.upgrade !== undefined && this.head.connectionTokens.includes('upgrade');
  }
  get idempotent(): boolean {
    return isIdempotent(this.head.method);
  }
  get fromPeer(): boolean {
    return this.origin !== undefined;
  }
  get bodyError(): string | undefined {
    return this.body.error;
  }
  get responseStatus(): number | undefined {
    return this.relay.status;
  }
  get responseIdleMs(): number {
    return this.app.idleTimeoutMs ?? this.limits.responseIdleTimeoutMs;
  }
  get tunnelIdleMs(): number | undefined {
    return this.app.idleTimeoutMs;
  }
  get bytesOut(): number {
    return this.relay.bytesOut + this.localBytes;
  }

  // ---- what the actions do ---------------------------------------------------------------------

  /** The request head and the body held so far to the machine; its events go to `owner` from now on. */
  protected send(owner: UpstreamOwner): void {
    const up = this.up!;
    up.owner = owner;
    this.relay.reset();
    const o = this.origin;
    const m = this.machine;
    const limits = this.limits;
    const peerKey = limits.peerKey;
    const headText = buildRequestHead(this.head, {
      clientIp: o ? o.clientIp : this.client.clientIp,
      port: o ? o.port : this.client.localPort,
      requestId: o?.requestId || this.requestId,
      edgeRegion: o?.edgeRegion || this.config.region,
      flyHeaders: limits.flyHeaders,
      // A replay made here names this host's machine; else the one the first proxy made, if any.
      replaySrc: this.replaySrc ?? o?.replaySrc,
      replayFailed: this.replayFailed ?? o?.replayFailed,
      upgrade: this.isUpgrade,
      secure: o ? o.secure : this.client.secure,
      forwardedFor: o?.forwardedFor,
      // The client's own force header travels as it is; otherwise the peer is asked to prefer the
      // machine chosen here, and may serve from another of its own if that one just went away.
      toPeer: m?.peer && peerKey !== undefined ? { key: peerKey, preferInstance: this.prefs.forceInstance === undefined ? m.id : undefined } : undefined,
    });
    const pending = this.body.takePending();
    const s = up.socket;
    if (pending.length === 0) {
      if (!s.write(headText, 'latin1')) this.upstreamFull = true;
    } else {
      s.cork();
      s.write(headText, 'latin1');
      for (const b of pending) this.writeBody(b);
      s.uncork();
      if (s.writableNeedDrain) this.upstreamFull = true;
    }
    const now = this.config.clock.monotonic();
    this.sentAt = now;
    this.responseDeadline = now + limits.responseTimeoutMs;
    this.flow();
  }

  /** Body bytes to the machine (RequestBody's sink while a connection is open). */
  writeBody(b: Buffer): void {
    if (!this.up!.socket.write(b)) this.upstreamFull = true;
  }

  protected tunnel(): void {
    this.relay.tunnel();
    if (this.leftover) {
      this.up?.socket.write(this.leftover);
      this.leftover = undefined;
      this.flow();
    }
  }

  /** Pauses the client while the machine cannot take more, or while too much is held here. */
  protected flow(): void {
    const p = this.phase;
    const holding = p === Phase.Routing || p === Phase.Waiting || p === Phase.Connecting;
    const want =
      this.upstreamFull ||
      (holding && this.body.pendingBytes > FLOW_LIMIT) ||
      (this.leftover !== undefined && this.leftover.length > FLOW_LIMIT);
    if (want && !this.paused) this.client.pause();
    else if (!want && this.paused) this.client.resume();
    this.paused = want;
  }

  protected pauseUpstream(): void {
    if (this.upstreamPaused) return;
    this.upstreamPaused = true;
    this.pausedSince = this.config.clock.monotonic();
    this.up?.socket.pause();
  }

  protected resumeUpstream(): void {
    this.upstreamPaused = false;
    this.up?.socket.resume();
  }

  /** Detaches from the machine connection: back to the pool, or closed. */
  protected dropUpstream(reusable: boolean): void {
    const up = this.up;
    if (!up) return;
    this.up = undefined;
    up.owner = undefined;
    this.upstreamFull = false;
    if (reusable && up instanceof UpstreamConn) {
      if (up.socket.isPaused()) up.socket.resume();
      this.ctx.pool.release(up);
    } else up.socket.destroy();
  }

  protected unload(): void {
    const m = this.machine;
    if (!m) return;
    this.machine = undefined;
    m.load.inflight--;
    this.ctx.queue.slotFreed(m.app.name);
  }

  // ---- ends ------------------------------------------------------------------------------------

  /** Reply, Cut or Forget, with the words of decide's end (ends.ts). */
  protected end(how: Act, step: Step, ev: Event): void {
    const a = settle(step.end!, joinWhy(step.why, ev.why), this, this.config);
    this.dropUpstream(false);
    if (how === Act.Forget) return this.finish(a.status, a.text === '' ? undefined : a.text, false);
    if (how === Act.Cut) {
      this.client.abort(a.reset);
      return this.finish(a.status, a.text.trim(), false);
    }
    // The connection closes if the request was not read whole.
    const close = !this.body.done || this.head.close || this.client.closing || this.ctx.live.draining;
    this.client.local(a.status, a.text, this.requestId, close, a.extra);
    this.localBytes += a.text.length;
    this.finish(a.status, a.status >= 500 ? a.text.trim() : undefined, !close);
  }

  /** Bookkeeping common to every end; hands the connection back for the next request. */
  protected finish(status: number, error: string | undefined, keepAlive: boolean): void {
    const config = this.config;
    const region = this.machine?.region ?? config.region;
    const machineId = this.machine?.id;
    this.unload();
    config.metrics.request(this.app.name, region, status);
    config.accessLog?.log({
      time: new Date(config.clock.now()).toISOString(),
      request_id: this.requestId,
      client: this.client.clientIp,
      method: this.head.method,
      host: this.head.host ?? '',
      path: stripQuery(this.askedTarget),
      status,
      app: this.app.name,
      machine: machineId,
      region,
      duration_ms: Math.round((config.clock.monotonic() - this.startedAt) * 1000) / 1000,
      bytes_out: this.bytesOut,
      retries: this.retries,
      replays: this.replays,
      error,
    });
    if (this.paused) {
      this.paused = false;
      this.client.resume();
    }
    this.client.exchangeDone(keepAlive && this.body.done, this.leftover, this.app.idleTimeoutMs);
  }
}
