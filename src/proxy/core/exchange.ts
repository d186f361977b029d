import type { Upstream, UpstreamOwner, UpstreamWaiter } from '../upstream/index.js';
import { allOverSoftLimit, peerToWake } from './autoscale.js';
import { chooseMachine } from './choose.js';
import { decide } from './decide.js';
import { ExchangeIO } from './exchange-io.js';
import { Act, EV, Ev, event, Phase, type Event, type Step } from './lifecycle.js';
import type { Waiter } from './queue.js';
import { formatReplaySrc } from './replay.js';
import { transformed } from './replay-json.js';
import { StaticSource } from './static-source.js';
import { askStatic } from './statics.js';

/**
 * One request through the proxy, driven by decide(): every input (client bytes, the machine's
 * connection, the queue, the sweep) becomes an event; `dispatch` asks decide what follows, sets the
 * phase — the only place it changes — and performs the actions (their I/O is in exchange-io.ts).
 */
export class Exchange extends ExchangeIO implements UpstreamOwner, UpstreamWaiter, Waiter {
  /** The head was read; `rest`: the bytes that came with it. */
  start(rest: Buffer | undefined): void {
    if (rest !== undefined && rest.length > 0) this.onClientData(rest);
    this.dispatch(EV.start);
  }

  // ---- inputs: each becomes an event ----------------------------------------------------------

  onClientData(chunk: Buffer): void {
    const p = this.phase;
    if (p === Phase.Done) return;
    if (p === Phase.Tunnel) {
      this.relay.moved = true;
      return void this.up?.socket.write(chunk);
    }
    const body = this.body;
    let at = 0;
    let unheld = false;
    let done = false;
    if (!body.done) {
      const held = body.complete;
      const sink = (p === Phase.Sent || p === Phase.Response) && this.up !== undefined ? this : undefined;
      at = body.feed(chunk, 0, this.config.clock.monotonic(), sink);
      if (at < 0) return this.dispatch(event(Ev.BadBody, body.error));
      unheld = held && !body.complete;
      done = body.done;
    }
    if (at < chunk.length) {
      const extra = at === 0 ? chunk : chunk.subarray(at);
      this.leftover = this.leftover ? Buffer.concat([this.leftover, extra]) : extra;
    }
    // Only the moments the body changes are events (a replay waits for them); the bytes are not.
    if (unheld) this.dispatch(EV.bodyUnheld);
    if (done) this.dispatch(EV.bodyDone);
    if (this.phase !== Phase.Done) this.flow();
  }

  onClientDrain(): void {
    if (this.upstreamPaused) this.resumeUpstream();
  }

  onClientClose(): void {
    this.dispatch(EV.clientClosed);
  }

  onUpstreamConnect(err: Error | undefined, up: Upstream | undefined): void {
    if (up === undefined) return this.dispatch(event(Ev.ConnectFailed, errorWords(err)));
    this.up = up;
    this.dispatch(EV.connected);
  }

  onUpstreamData(chunk: Buffer): void {
    if (this.phase === Phase.Tunnel) {
      this.relay.moved = true;
      if (!this.client.write(chunk)) this.pauseUpstream();
      return;
    }
    const ev = this.relay.onData(chunk);
    if (this.relay.blocked) this.pauseUpstream();
    if (ev !== undefined) this.dispatch(ev);
  }

  onUpstreamEnd(): void {
    const ev = this.relay.onEnd();
    if (ev !== undefined) this.dispatch(ev);
  }

  onUpstreamClose(err: Error | undefined): void {
    const reused = this.up?.reused ?? false;
    this.up = undefined;
    this.dispatch(event(Ev.UpstreamClosed, errorWords(err), { reused }));
  }

  onUpstreamDrain(): void {
    if (!this.upstreamFull) return;
    this.upstreamFull = false;
    this.flow();
  }

  wake(): void {
    this.dispatch(EV.wake);
  }

  expire(): void {
    this.dispatch(this.replayTimeout ? REPLAY_TIMEOUT : EV.expired);
  }

  /** From the proxy's sweep. */
  onTick(now: number): void {
    this.dispatch(event(Ev.Tick, undefined, { now }));
  }

  // ---- the one place the phase changes ---------------------------------------------------------

  private dispatch(ev: Event): void {
    const step = decide(this, ev);
    this.phase = step.state;
    const acts = step.actions;
    for (let i = 0; i < acts.length; i++) {
      this.perform(acts[i]!, step, ev);
      // An action that raised the next event (always the last of its list) has moved on already.
      if (this.phase !== step.state) return;
    }
  }

  private perform(a: Act, step: Step, ev: Event): void {
    switch (a) {
      case Act.Route:
        return this.route();
      case Act.Enqueue:
        if (this.waitDeadline === 0) this.waitDeadline = this.config.clock.monotonic() + this.limits.queueTimeoutMs;
        return this.ctx.queue.add(this) ? undefined : this.dispatch(EV.queueFull);
      case Act.Dequeue:
        return this.ctx.queue.remove(this);
      case Act.Connect:
        return this.connect();
      case Act.Send:
        return this.send(this);
      case Act.NoteFailure:
        return this.noteFailure(ev);
      case Act.Retry:
        this.retries++;
        this.config.metrics.retry(this.app.name);
        // The body goes again from its start (decide made sure it is all held), unless none was sent.
        if (ev.type === Ev.UpstreamClosed || this.body.sentAny) this.body.rewind();
        return;
      case Act.Drop:
        return this.dropUpstream(false);
      case Act.Pool:
        return this.dropUpstream(true);
      case Act.Unload:
        return this.unload();
      case Act.NoteHead: {
        const now = this.config.clock.monotonic();
        this.config.metrics.upstreamLatency(this.app.name, (now - this.sentAt) / 1000);
        return this.relay.noteTime(now);
      }
      case Act.Stream:
        return this.stream();
      case Act.Tunnel:
        return this.tunnel();
      case Act.Retarget:
        return this.retarget(ev);
      case Act.CheckReplay:
        return this.dispatch(this.pendingReplay !== undefined ? EV.directiveOk : EV.unknownApp);
      case Act.Replay:
        return this.replay();
      case Act.Fallback:
        return this.fallBack(step, ev);
      case Act.Flow:
        return this.flow();
      case Act.AbortClient:
        return this.client.abort();
      case Act.EndTunnel:
        return this.client.endTunnel();
      case Act.NoteActivity:
        return this.relay.noteTime(ev.now);
      case Act.Finish:
        return this.finish(this.relay.status ?? 502, undefined, this.relay.keepAlive);
      case Act.Reply:
      case Act.Cut:
      case Act.Forget:
        return this.end(a, step, ev);
    }
  }

  // ---- the actions --------------------------------------------------------------------------------

  private route(): void {
    const app = this.ctx.live.routes.apps.get(this.app.name);
    if (!app) return this.dispatch(event(Ev.NoMachine, 'app is no longer routed here'));
    this.app = app;
    const choice = chooseMachine(app, this.prefs, this.config.random);
    if (choice.kind === 'machine') {
      if (choice.preferredUnavailable) this.preferredUnavailable = true;
      // Every started machine over soft_limit: start a stopped one for the requests to come.
      if (choice.machine.load.inflight >= app.softLimit && allOverSoftLimit(app)) this.ctx.autoscaler.start(app);
      this.chosen = choice.machine;
      return this.dispatch(EV.chosen);
    }
    // No started machine at all (in the regions the request is restricted to: fly-force-region, a
    // replay's regions): start the nearest stopped one there and hold the request until it serves;
    // when that one is another host's, send the request to that host, whose proxy starts it.
    if (choice.kind === 'none') {
      if (choice.reason === 'instance_unavailable') return this.dispatch(event(Ev.NoMachine, choice.reason));
      const regions = this.restrictedRegions(choice.reason);
      if (this.ctx.autoscaler.start(app, regions)) return this.dispatch(EV.wait);
      const peer = this.prefs.localOnly ? undefined : peerToWake(app, this.prefs.edgeRegion, regions, this.prefs.exclude);
      if (!peer) return this.dispatch(event(Ev.NoMachine, choice.reason));
      this.chosen = peer;
      return this.dispatch(EV.chosen);
    }
    this.dispatch(EV.wait);
  }

  /** The regions a request that found none of its machines usable may be served in; undefined: any. */
  private restrictedRegions(reason: 'no_healthy_machine' | 'region_unavailable'): readonly string[] | undefined {
    if (reason === 'no_healthy_machine') return undefined;
    return this.prefs.forceRegion !== undefined ? [this.prefs.forceRegion] : this.prefs.onlyRegions;
  }

  private connect(): void {
    const m = this.chosen!;
    this.chosen = undefined;
    this.machine = m;
    m.load.inflight++;
    this.attempts++;
    const file = this.app.statics.length > 0 ? askStatic(this.ctx.statics, this.app, this.head, m) : undefined;
    if (!file) return this.ctx.pool.acquire(m.address, m.port, this);
    const attempt = this.attempts;
    void file.then((f) => {
      // Still this attempt's (the client may have left, the sweep may have ended it meanwhile).
      if (this.phase !== Phase.Connecting || this.machine !== m || this.attempts !== attempt) return;
      if (f) this.onUpstreamConnect(undefined, new StaticSource(f, this.head));
      else this.ctx.pool.acquire(m.address, m.port, this);
    });
  }

  private noteFailure(ev: Event): void {
    const m = this.machine;
    this.lastFailure = `machine ${m?.id ?? '?'} failed before answering (${ev.why})`;
    // A reused connection the machine closed says nothing about the machine: it may be tried again.
    if (m && !(ev.type === Ev.UpstreamClosed && ev.reused)) this.prefs.avoid(m);
  }

  private stream(): void {
    const ev = this.relay.begin(this.preferredUnavailable, this.ctx.live.draining, this.app.responseHeaders);
    if (this.relay.blocked) this.pauseUpstream();
    if (ev !== undefined) this.dispatch(ev);
  }

  /** The directive takes effect: where the replay says it came from, what it leaves out, its app. */
  private retarget(ev: Event): void {
    const d = ev.directive;
    if (d === undefined) return; // decide retargets only with a directive
    const from = this.machine!;
    this.replaySrc = formatReplaySrc(from.id, from.region, Math.round(this.config.clock.now() * 1000), d.state);
    this.prefs.replayFrom(from, d);
    this.fallbackTo = d.fallback === undefined ? undefined : { app: this.app, machine: from, head: this.head, mode: d.fallback };
    if (d.transform) this.head = transformed(this.head, d.transform);
    const target = d.app === undefined ? this.app : this.ctx.live.routes.apps.get(d.app);
    if (target) this.app = target;
    this.pendingReplay = target ? d : undefined;
  }

  private replay(): void {
    const d = this.pendingReplay!;
    this.pendingReplay = undefined;
    this.replays++;
    this.config.metrics.replay(this.app.name);
    this.body.rewind();
    this.prefs.replay(d);
    this.attempts = 0;
    // `timeout=`: the wait for a machine of the target ends then (the queue's own limit otherwise).
    this.replayTimeout = d.timeoutMs !== undefined;
    this.waitDeadline = d.timeoutMs === undefined ? 0 : this.config.clock.monotonic() + d.timeoutMs;
  }

  /** The replay failed (`why`): the request goes back to the machine that asked, saying why. */
  private fallBack(step: Step, ev: Event): void {
    const to = this.fallbackTo!;
    this.fallbackTo = undefined;
    this.replayTimeout = false;
    const why = step.why ?? ev.why ?? 'unavailable';
    this.replayFailed = why;
    // Counted as the replay's failure (its first word, as ends.ts counts one answered 502).
    this.config.metrics.replayFailed(this.app.name, why.split(' ')[0]!);
    this.app = to.app;
    // The machine that asked gets the request it answered, not the replay's transform of it.
    this.head = to.head;
    this.prefs.fallBack(to.machine, to.mode);
    this.body.rewind();
    this.attempts = 0;
    this.waitDeadline = 0;
  }
}

/** A replay's `timeout=` passed while it waited for a machine of its target. */
const REPLAY_TIMEOUT = event(Ev.NoMachine, 'timeout');

function errorWords(err: Error | undefined): string {
  return err ? ((err as NodeJS.ErrnoException).code ?? err.message) : 'connection closed';
}
