import { isIdempotent, type RequestHead, type ResponseHead } from '../codec/index.js';
import { chooseMachine } from './choose.js';
import { formatReplaySrc, parseReplay, type ReplayDirective } from './replay.js';
import { allOverSoftLimit } from './autoscale.js';
import type { AppRoute, MachineRoute } from '../route-table/index.js';
import type { UpstreamConn, UpstreamOwner } from '../upstream/index.js';
import { stripQuery } from '../observe/index.js';
import type { ProxyContext } from './context.js';
import { buildRequestHead, type ResponseInfo } from './headers.js';
import { PEER_HEADER, peerKeyMatches, peerOrigin, type PeerOrigin } from './peer.js';
import type { Waiter } from './queue.js';
import { RequestBody } from './request-body.js';
import { ResponseRelay } from './response.js';

/**
 * The client side of one exchange: an HTTP/1.x connection or an HTTP/2 stream. The request path is
 * the same for both ("one request path, two front doors"); only these calls differ.
 */
export interface Downstream {
  readonly clientIp: string;
  readonly localPort: number;
  /** The connection is closing (drain, or the client asked): answer with close. */
  readonly closing: boolean;
  /** TLS was terminated here: X-Forwarded-Proto https. */
  readonly secure: boolean;
  /** HTTP/2: no chunked coding towards the client, no upgrades, keep-alive is per stream. */
  readonly h2: boolean;
  pause(): void;
  resume(): void;
  /** A 1xx interim answer (100 Continue, 103 Early Hints): the raw HTTP/1 head and its parse. */
  interim(raw: Buffer, resp: ResponseHead): void;
  /** Starts the response to the client. */
  head(resp: ResponseHead, info: ResponseInfo): void;
  /** Body bytes; false when the client is not taking more (wait for onClientDrain). */
  write(b: Buffer): boolean;
  cork(): void;
  uncork(): void;
  /** A response the proxy writes itself. */
  local(status: number, text: string, requestId: string, close: boolean, extra: readonly (readonly [string, string])[]): void;
  /**
   * The response cannot be completed: cut the connection (HTTP/1) or reset the stream (HTTP/2).
   * `reset`: over plain TCP send RST, not FIN, so not even a body delimited by the close looks whole.
   */
  abort(reset?: boolean): void;
  /** The upgraded connection's upstream side ended. */
  endTunnel(): void;
  exchangeDone(keepAlive: boolean, leftover: Buffer | undefined): void;
}

const FLOW_LIMIT = 64 * 1024;

type State = 'routing' | 'waiting' | 'connecting' | 'sent' | 'response' | 'tunnel' | 'replay-wait' | 'done';

/**
 * One request through the proxy: route → machine → response, with retries on connect failures,
 * queueing at hard_limit, and replays when the machine answers with a replay header.
 */
export class Exchange implements UpstreamOwner, Waiter {
  readonly requestId: string;
  readonly startedAt: number;
  readonly body: RequestBody;
  app: AppRoute;
  state: State = 'routing';
  machine: MachineRoute | undefined;
  up: UpstreamConn | undefined;
  leftover: Buffer | undefined;
  waitDeadline = 0;
  responseDeadline = 0;
  preferredUnavailable = false;
  retries = 0;
  replays = 0;
  private attempts = 0;
  private exclude: Set<MachineRoute> | undefined;
  private preferRegion: string | undefined;
  private forceRegion: string | undefined;
  private preferInstance: string | undefined;
  private forceInstance: string | undefined;
  private onlyRegions: readonly string[] | undefined;
  private replaySrc: string | undefined;
  /** Set when another Starling proxy sent this request (core/peer.ts): the edge facts it saw. */
  origin: PeerOrigin | undefined;
  private pendingReplay: ReplayDirective | undefined;
  /** Why the last attempt failed, while a retry is looking for another machine. */
  private lastFailure: string | undefined;
  private paused = false;
  upstreamFull = false;
  readonly relay: ResponseRelay;

  constructor(
    readonly ctx: ProxyContext,
    readonly client: Downstream,
    readonly head: RequestHead,
    app: AppRoute,
  ) {
    this.app = app;
    this.requestId = ctx.config.nextRequestId();
    this.startedAt = ctx.config.clock.monotonic();
    this.body = new RequestBody(head, ctx.config.limits.replayMaxBytes, this.startedAt);
    this.relay = new ResponseRelay(this);
    this.readPreferences();
  }

  get isUpgrade(): boolean {
    return this.head.upgrade !== undefined && this.head.connectionTokens.includes('upgrade');
  }

  /** One pass over the head for the routing preferences and the peer key (core/peer.ts). */
  private readPreferences(): void {
    const h = this.head;
    const peerKey = this.ctx.config.limits.peerKey;
    let fromPeer = false;
    for (let i = 0; i < h.names.length; i++) {
      const n = h.names[i]!;
      const c = n.charCodeAt(0);
      if (c !== 102 /* f */ && c !== 115 /* s */) continue;
      const key = n.startsWith('starling-') ? n.slice(9) : n.startsWith('fly-') ? n.slice(4) : undefined;
      const v = h.values[i]!;
      if (key === 'prefer-region') this.preferRegion = v.toLowerCase();
      else if (key === 'force-region') this.forceRegion = v.toLowerCase();
      else if (key === 'prefer-instance-id') this.preferInstance = v;
      else if (key === 'force-instance-id') this.forceInstance = v;
      else if (n === PEER_HEADER && peerKey !== undefined && peerKeyMatches(v, peerKey)) fromPeer = true;
    }
    if (fromPeer) this.origin = peerOrigin(h);
  }

  /** Bytes of the request that arrived with its head. */
  start(rest: Buffer | undefined): void {
    if (rest && rest.length > 0) this.onClientData(rest);
    if (this.state === 'routing') this.route();
  }

  // ---- client side -------------------------------------------------------------------------------

  onClientData(chunk: Buffer): void {
    if (this.state === 'done') return;
    if (this.state === 'tunnel') {
      this.up?.socket.write(chunk);
      return;
    }
    let at = 0;
    if (!this.body.done) {
      const writing = this.state === 'sent' || this.state === 'response';
      const up = this.up;
      at = this.body.feed(chunk, 0, this.ctx.config.clock.monotonic(), writing && up ? (b) => this.writeUp(up, b) : undefined);
      if (at < 0) {
        this.ctx.config.metrics.rejectedRequest(this.body.error ?? 'bad_chunk');
        this.local(400, `bad request body: ${this.body.error ?? 'invalid chunked framing'}\n`);
        return;
      }
      if (this.state === 'replay-wait') {
        if (!this.body.complete) return this.replayFailed('body_too_large');
        if (this.body.done) return this.doReplay();
      }
    }
    if (at < chunk.length) {
      const extra = at === 0 ? chunk : chunk.subarray(at);
      this.leftover = this.leftover ? Buffer.concat([this.leftover, extra]) : extra;
    }
    this.flow();
  }

  onClientDrain(): void {
    if (this.relay.pausedUpstream) this.relay.resumeUpstream();
  }

  onClientClose(): void {
    if (this.state === 'done') return;
    const wasTunnel = this.state === 'tunnel';
    this.dropUpstream(false);
    this.finish(wasTunnel ? 101 : 499, wasTunnel ? undefined : 'client closed the connection');
  }

  private writeUp(up: UpstreamConn, b: Buffer): void {
    if (!up.socket.write(b)) this.upstreamFull = true;
  }

  /** Pauses the client while the machine cannot take more, or while too much is held here. */
  flow(): void {
    const holding = this.state === 'routing' || this.state === 'waiting' || this.state === 'connecting';
    const want =
      this.upstreamFull ||
      (holding && this.body.pendingBytes > FLOW_LIMIT) ||
      (this.leftover !== undefined && this.leftover.length > FLOW_LIMIT);
    if (want && !this.paused) this.client.pause();
    else if (!want && this.paused) this.client.resume();
    this.paused = want;
  }

  // ---- routing -----------------------------------------------------------------------------------

  route(): void {
    const app = this.ctx.live.routes.apps.get(this.app.name);
    if (!app) return this.unavailable('app is no longer routed here');
    this.app = app;
    const choice = chooseMachine(
      app,
      {
        edgeRegion: this.ctx.config.region,
        preferRegion: this.preferRegion,
        forceRegion: this.forceRegion,
        preferInstance: this.preferInstance,
        forceInstance: this.forceInstance,
        onlyRegions: this.onlyRegions,
        exclude: this.exclude,
        localOnly: this.origin !== undefined,
      },
      this.ctx.config.random,
    );
    if (choice.kind === 'machine') {
      if (choice.preferredUnavailable) this.preferredUnavailable = true;
      // Every started machine over soft_limit: start a stopped one for the requests to come.
      if (choice.machine.load.inflight >= app.softLimit && allOverSoftLimit(app)) this.autostart(app);
      return this.connect(choice.machine);
    }
    // No started machine at all: start the nearest stopped one and hold the request until it serves.
    if (choice.kind === 'none' && !(choice.reason === 'no_healthy_machine' && this.autostart(app))) {
      return this.unavailable(choice.reason);
    }
    if (this.state !== 'waiting') {
      if (this.waitDeadline === 0) this.waitDeadline = this.ctx.config.clock.monotonic() + this.ctx.config.limits.queueTimeoutMs;
      if (!this.ctx.queue.add(this)) return this.unavailable('queue_full');
      this.state = 'waiting';
    }
  }

  wake(): void {
    if (this.state !== 'waiting') return;
    this.state = 'routing';
    this.route();
  }

  expire(): void {
    if (this.state !== 'waiting') return;
    this.state = 'routing';
    this.unavailable('no machine could take the request in time (every one at its hard_limit, or still starting)');
  }

  private autostart(app: AppRoute): boolean {
    return this.ctx.autoscaler.start(app);
  }

  private unavailable(reason: string): void {
    if (this.replays > 0) return this.replayFailed(reason);
    // A retry with nowhere to go: the client gets the machine's failure (502), not "no capacity".
    if (this.lastFailure !== undefined) return this.local(502, `${this.lastFailure}; no other machine: ${reason}\n`);
    // A peer's request this host cannot serve after all (its view was fresher than the sender's):
    // ask the sending proxy to replay it to another machine, as a machine would (elsewhere=true).
    const elsewhere = this.origin !== undefined ? ([['starling-replay', 'elsewhere=true']] as const) : [];
    this.local(503, `no machine available for app "${this.app.name}": ${reason}\n`, [['retry-after', '1'], ...elsewhere]);
  }

  private connect(m: MachineRoute): void {
    this.machine = m;
    m.load.inflight++;
    this.attempts++;
    this.state = 'connecting';
    this.ctx.pool.acquire(m.address, m.port, (err, up) => {
      if (this.state !== 'connecting' || this.machine !== m) {
        if (up) this.ctx.pool.release(up);
        return;
      }
      if (err || !up) return this.attemptFailed(err, false, false);
      this.attach(up);
    });
  }

  private attach(up: UpstreamConn): void {
    this.up = up;
    up.owner = this;
    this.state = 'sent';
    this.relay.reset();
    const o = this.origin;
    const m = this.machine;
    const peerKey = this.ctx.config.limits.peerKey;
    const headText = buildRequestHead(this.head, {
      clientIp: o ? o.clientIp : this.client.clientIp,
      port: o ? o.port : this.client.localPort,
      requestId: o?.requestId || this.requestId,
      edgeRegion: o?.edgeRegion || this.ctx.config.region,
      flyHeaders: this.ctx.config.limits.flyHeaders,
      replaySrc: this.replaySrc,
      upgrade: this.isUpgrade,
      secure: o ? o.secure : this.client.secure,
      forwardedFor: o?.forwardedFor,
      // The client's own force header travels as it is; otherwise the peer is asked to prefer the
      // machine chosen here, and may serve from another of its own if that one just went away.
      toPeer: m?.peer && peerKey !== undefined ? { key: peerKey, preferInstance: this.forceInstance === undefined ? m.id : undefined } : undefined,
    });
    const pending = this.body.takePending();
    const s = up.socket;
    if (pending.length === 0) {
      if (!s.write(headText, 'latin1')) this.upstreamFull = true;
    } else {
      s.cork();
      s.write(headText, 'latin1');
      for (const b of pending) this.writeUp(up, b);
      s.uncork();
      if (s.writableNeedDrain) this.upstreamFull = true;
    }
    const now = this.ctx.config.clock.monotonic();
    this.relay.sentAt = now;
    this.responseDeadline = now + this.ctx.config.limits.responseTimeoutMs;
    this.flow();
  }

  /** A failure before the machine started its response: next machine, or 502. */
  attemptFailed(err: Error | undefined, afterWrite: boolean, reused: boolean): void {
    const m = this.machine;
    this.dropUpstream(false);
    this.releaseMachine();
    // Retry only when nothing of the request can have been acted on (the connection never opened),
    // or when the method is idempotent and the whole body is still held. A POST on a reused
    // keep-alive connection that the machine dropped is not retried even without a body: the machine
    // may have acted on its head (Go's transport decides the same).
    const nothingActed = !afterWrite;
    const canRetry =
      this.attempts < this.ctx.config.limits.maxAttempts &&
      (nothingActed ? !this.body.sentAny || this.body.rewind() : isIdempotent(this.head.method) && this.body.rewind());
    if (m && !(afterWrite && reused)) (this.exclude ??= new Set()).add(m);
    const why = err ? (err as NodeJS.ErrnoException).code ?? err.message : 'connection closed';
    if (canRetry) {
      this.retries++;
      this.ctx.config.metrics.retry(this.app.name);
      this.lastFailure = `machine ${m?.id ?? '?'} failed before answering (${why})`;
      this.state = 'routing';
      return this.route();
    }
    if (this.replays > 0) return this.replayFailed(`upstream_error ${why}`);
    this.local(502, `machine ${m?.id ?? '?'} failed before answering (${why})\n`);
  }

  // ---- replay ------------------------------------------------------------------------------------

  /** The machine answered with a replay header; its response is discarded. */
  replay(value: string): void {
    const from = this.machine!;
    this.dropUpstream(false);
    this.releaseMachine();
    if (this.replays >= this.ctx.config.limits.maxReplays) return this.replayFailed('loop');
    const parsed = parseReplay(value);
    if (!parsed.ok) return this.replayFailed(`bad_directive ${parsed.reason}`);
    const d = parsed.directive;
    this.replaySrc = formatReplaySrc(from.id, from.region, Math.round(this.ctx.config.clock.now() * 1000), d.state);
    this.exclude = d.elsewhere ? new Set([from]) : undefined;
    if (d.app !== undefined) {
      const target = this.ctx.live.routes.apps.get(d.app);
      if (!target) return this.replayFailed('unknown_app');
      this.app = target;
    }
    this.pendingReplay = d;
    if (!this.body.complete) return this.replayFailed('body_too_large');
    if (!this.body.done) {
      this.state = 'replay-wait';
      this.flow();
      return;
    }
    this.doReplay();
  }

  private doReplay(): void {
    const d = this.pendingReplay!;
    this.pendingReplay = undefined;
    this.replays++;
    this.ctx.config.metrics.replay(this.app.name);
    this.body.rewind();
    this.onlyRegions = d.regions;
    this.forceInstance = d.instance;
    this.preferInstance = d.preferInstance;
    this.preferRegion = undefined;
    this.forceRegion = undefined;
    this.attempts = 0;
    this.waitDeadline = 0;
    this.state = 'routing';
    this.route();
  }

  private replayFailed(reason: string): void {
    this.ctx.config.metrics.replayFailed(this.app.name, reason.split(' ')[0]!);
    this.local(502, `replay failed: ${reason}\n`, [
      ['starling-replay-failed', reason],
      ...(this.ctx.config.limits.flyHeaders ? ([['fly-replay-failed', reason]] as const) : []),
    ]);
  }

  // ---- upstream events (the response side lives in ResponseRelay) -------------------------------

  onUpstreamData(chunk: Buffer): void {
    if (this.state === 'tunnel') {
      if (!this.client.write(chunk)) this.relay.pauseUpstream();
      return;
    }
    this.relay.onData(chunk);
  }

  onUpstreamEnd(): void {
    this.relay.onEnd();
  }

  onUpstreamClose(err: Error | undefined): void {
    const up = this.up;
    this.up = undefined;
    if (this.state === 'sent') return this.attemptFailed(err, true, up?.reused ?? false);
    if (this.state === 'tunnel') this.client.endTunnel();
    else if (this.state === 'response') {
      // The response was cut short: the client cannot be told with a status any more.
      this.client.abort();
    }
  }

  onUpstreamDrain(): void {
    if (!this.upstreamFull) return;
    this.upstreamFull = false;
    this.flow();
  }

  /** Detaches from the current upstream connection: back to the pool, or closed. */
  dropUpstream(reusable: boolean): void {
    const up = this.up;
    if (!up) return;
    this.up = undefined;
    up.owner = undefined;
    this.upstreamFull = false;
    if (reusable) {
      if (up.socket.isPaused()) up.socket.resume();
      this.ctx.pool.release(up);
    } else up.socket.destroy();
  }

  private releaseMachine(): void {
    const m = this.machine;
    if (!m) return;
    this.machine = undefined;
    m.load.inflight--;
    this.ctx.queue.slotFreed(m.app.name);
  }

  // ---- ends --------------------------------------------------------------------------------------

  /** A response written by the proxy itself. Closes the connection if the request was not read whole. */
  local(status: number, text: string, extra: readonly (readonly [string, string])[] = []): void {
    if (this.state === 'done') return;
    if (this.relay.started) {
      this.dropUpstream(false);
      this.client.abort();
      return this.finish(status, text.trim());
    }
    this.dropUpstream(false);
    const close = !this.body.done || this.head.close || this.client.closing || this.ctx.live.draining;
    this.client.local(status, text, this.requestId, close, extra);
    this.relay.bytesOut += text.length;
    this.finish(status, status >= 500 ? text.trim() : undefined, !close);
  }

  /** Bookkeeping common to every end; hands the connection back for the next request. */
  finish(status: number, error: string | undefined, keepAlive = false): void {
    if (this.state === 'done') return;
    if (this.state === 'waiting') this.ctx.queue.remove(this);
    const region = this.machine?.region ?? this.ctx.config.region;
    const machineId = this.machine?.id;
    this.state = 'done';
    this.releaseMachine();
    this.ctx.config.metrics.request(this.app.name, region, status);
    this.ctx.config.accessLog?.log({
      time: new Date(this.ctx.config.clock.now()).toISOString(),
      request_id: this.requestId,
      client: this.client.clientIp,
      method: this.head.method,
      host: this.head.host ?? '',
      path: stripQuery(this.head.target),
      status,
      app: this.app.name,
      machine: machineId,
      region,
      duration_ms: Math.round((this.ctx.config.clock.monotonic() - this.startedAt) * 1000) / 1000,
      bytes_out: this.relay.bytesOut,
      retries: this.retries,
      replays: this.replays,
      error,
    });
    if (this.paused) {
      this.paused = false;
      this.client.resume();
    }
    this.client.exchangeDone(keepAlive && this.body.done, this.leftover);
  }

  /** Enforces body and response timeouts (called by the proxy's sweep). */
  onTick(now: number): void {
    if (this.state === 'sent' && now > this.responseDeadline) {
      return this.local(504, `machine ${this.machine?.id ?? '?'} did not answer in time\n`);
    }
    if (this.relay.pausedUpstream && now - this.relay.pausedSince > this.ctx.config.limits.stallTimeoutMs) {
      // A client that stops reading (HTTP/1 slow read, HTTP/2 window never reopened) holds a machine
      // connection; it gets cut off rather than held forever.
      this.ctx.config.metrics.rejectedRequest('client_stalled');
      this.dropUpstream(false);
      this.client.abort();
      return this.finish(this.state === 'tunnel' ? 101 : 499, 'client stopped reading');
    }
    if (this.state === 'response' && this.relay.idleTooLong(now, this.ctx.config.limits.responseIdleTimeoutMs)) return this.relay.idleCutOff();
    const waitingForBody = !this.body.done && this.state !== 'tunnel' && this.state !== 'done';
    if (waitingForBody && now - this.body.lastDataAt > this.ctx.config.limits.bodyTimeoutMs) {
      this.ctx.config.metrics.rejectedRequest('body_timeout');
      this.local(408, 'request body timed out\n');
    }
  }
}
