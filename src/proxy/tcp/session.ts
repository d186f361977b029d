/**
 * One client connection of a TCP service, from the first byte to the close: the handlers that
 * come before any routing (opening.ts: TLS, PostgreSQL's SSLRequest), then the machine choice,
 * the connection to it (directly, or through its host's proxy: peer-tunnel.ts), then the bytes
 * both ways with backpressure and half-close, until both sides are done.
 *
 * The machine is chosen as for an HTTP request (core/choose.ts) on the service's own route; a
 * connection holds one unit of its machine's load while it lives (`concurrency.type` counts
 * connections). Connect failures try another machine (maxAttempts); when every machine is at
 * hard_limit the connection waits in the proxy's queue; when none is started, autostart.
 *
 * The client's bytes are held until the machine is connected (up to HOLD_BYTES; then the client is
 * paused), and the first ones are checked: a PROXY header from a client never reaches a machine.
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { TimerHandle } from '../../shared/index.js';
import { chooseMachine, peerToWake, type ProxyContext, type Waiter } from '../core/index.js';
import type { AppRoute, MachineRoute, TcpRoute } from '../route-table/index.js';
import { readTunnelAnswer, tunnelRequest, TUNNEL_OPEN, tunnelRefusal } from './peer-tunnel.js';
import { startsWithProxyHeader } from './proxy-protocol.js';

/** Client bytes held while the machine connects; beyond this the client is paused. */
const HOLD_BYTES = 64 * 1024;
/** A machine (or peer proxy) that does not accept the connection in this time is given up on. */
export const CONNECT_TIMEOUT_MS = 5000;
/** After the machine closed, how long the client has to take the last bytes and close. */
const LINGER_MS = 5000;

export interface SessionDeps {
  ctx: ProxyContext;
  /** Open sessions (drain waits for them; close cuts them). */
  sessions: Set<TcpSession>;
  /** Counted once per connection (starling_proxy_tcp_connections_total). */
  outcome(app: string, outcome: string): void;
}

/** Where the session's bytes come from, and what it owes the other end once connected. */
export type SessionFront =
  /** A client at the edge: `preamble` (the PROXY header) goes first to the machine. */
  | { kind: 'edge'; preamble: () => Buffer | undefined; clientIp: string }
  /** A peer proxy's tunnel: only this host's machines, the edge's choice first; 101 once connected. */
  | { kind: 'peer'; machineId: string | undefined; clientIp: string };

export class TcpSession implements Waiter {
  app: AppRoute;
  waitDeadline = 0;
  private up: net.Socket | undefined;
  private machine: MachineRoute | undefined;
  private readonly exclude = new Set<MachineRoute>();
  private attempts = 0;
  private held: Buffer[] = [];
  private heldBytes = 0;
  /** The client's first bytes were looked at (no PROXY header). */
  private checked: boolean;
  private downEnded = false;
  private connected = false;
  private done = false;
  private timer: TimerHandle | undefined;

  constructor(
    private readonly deps: SessionDeps,
    /** The plain stream to the client (a TLSSocket when TLS ended here). */
    private readonly down: Duplex,
    private readonly route: TcpRoute,
    private readonly front: SessionFront,
    first?: Buffer,
  ) {
    this.app = route.service;
    this.checked = front.kind === 'peer';
    deps.sessions.add(this);
    down.on('data', (b: Buffer) => this.fromClient(b));
    down.on('end', () => {
      this.downEnded = true;
      if (this.connected) this.up?.end();
    });
    down.on('error', () => this.finish('client_error'));
    down.on('close', () => this.finish(this.connected ? 'proxied' : 'client_closed'));
    if (first && first.length > 0) this.fromClient(first);
    if (!this.done) this.choose();
  }

  /** Waiter: a slot may be free, or the routes changed. */
  wake(): void {
    if (!this.done && !this.up) this.choose();
  }

  /** Waiter: no machine in time. */
  expire(): void {
    this.refuse('queue_timeout', 'no machine had room in time');
  }

  /** Cut (the proxy closes). */
  destroy(): void {
    this.finish('closed');
  }

  private choose(): void {
    const { ctx } = this.deps;
    // A reload builds new routes: take this service's current one.
    const route = ctx.live.routes.tcp.service(this.route.service.name, this.route.internalPort);
    if (!route) return this.refuse('no_service', 'the service is not routed here');
    const app = route.service;
    this.app = app;
    const peer = this.front.kind === 'peer';
    const choice = chooseMachine(
      app,
      { edgeRegion: ctx.config.region, exclude: this.exclude, localOnly: peer, preferInstance: peer ? this.front.machineId : undefined },
      ctx.config.random,
    );
    if (choice.kind === 'machine') return this.connect(choice.machine);
    if (choice.kind === 'wait' || ctx.autoscaler.start(app)) return this.wait(app);
    const wake = peer ? undefined : peerToWake(app, ctx.config.region, undefined, this.exclude);
    if (wake) return this.connect(wake);
    this.refuse('no_machine', 'no machine of the service is started and healthy');
  }

  private wait(app: AppRoute): void {
    const { ctx } = this.deps;
    // One deadline per connection: woken and queued again, it keeps the first one.
    if (this.waitDeadline === 0) this.waitDeadline = ctx.config.clock.monotonic() + ctx.config.limits.queueTimeoutMs;
    this.app = app;
    if (!ctx.queue.add(this)) this.refuse('queue_full', 'too many connections waiting for a machine');
  }

  private connect(m: MachineRoute): void {
    const { ctx } = this.deps;
    this.machine = m;
    this.attempts++;
    m.load.inflight++;
    const up = net.connect({ host: m.address, port: m.port, allowHalfOpen: true, noDelay: true });
    this.up = up;
    const peerKey = ctx.config.limits.peerKey;
    // A peer may start a stopped machine for the connection: it gets the queue's time for that.
    const wait = m.peer ? CONNECT_TIMEOUT_MS + ctx.config.limits.queueTimeoutMs : CONNECT_TIMEOUT_MS;
    this.timer = ctx.config.clock.setTimeout(() => this.failed(up, 'timed out'), wait);
    up.on('error', (e) => (this.connected ? this.finish('machine_error') : this.failed(up, e.message)));
    up.once('connect', () => {
      if (!m.peer) return this.open(up, undefined);
      if (peerKey === undefined) return this.failed(up, 'no peer key to reach another host');
      up.write(tunnelRequest({ app: m.app.name, internalPort: this.route.internalPort, machineId: m.id, clientIp: this.front.clientIp, edgeRegion: ctx.config.region, peerKey }));
      let answer: Buffer = Buffer.alloc(0);
      const onAnswer = (b: Buffer): void => {
        answer = Buffer.concat([answer, b]);
        const a = readTunnelAnswer(answer);
        if (a.kind === 'more') return;
        up.off('data', onAnswer);
        if (a.kind === 'refused') return this.failed(up, `its host's proxy answered ${a.status}: ${a.reason}`);
        this.open(up, a.rest);
      };
      up.on('data', onAnswer);
    });
    // The machine is done: what it sent is still on its way to the client (pipe ended our side),
    // so the client gets LINGER_MS to take it and close before it is cut off.
    up.on('close', () => {
      if (!this.connected || this.done) return;
      this.down.end();
      this.timer = ctx.config.clock.setTimeout(() => this.finish('proxied'), LINGER_MS);
    });
  }

  /** The machine is connected: what was held goes first, then bytes flow both ways. */
  private open(up: net.Socket, first: Buffer | undefined): void {
    if (this.done || this.up !== up) return;
    this.timer?.cancel();
    this.connected = true;
    const front = this.front;
    if (front.kind === 'peer') this.down.write(TUNNEL_OPEN);
    if (first && first.length > 0) this.down.write(first);
    up.pipe(this.down);
    up.on('drain', () => this.down.resume());
    if (front.kind === 'edge') {
      const preamble = front.preamble();
      if (preamble) up.write(preamble);
    }
    this.flush();
    if (this.downEnded && this.held.length === 0) up.end();
  }

  private fromClient(b: Buffer): void {
    if (this.done) return;
    if (!this.checked) {
      this.hold(b);
      const all = Buffer.concat(this.held);
      this.held = [all];
      const verdict = startsWithProxyHeader(all);
      if (verdict === 'yes') return this.refuse('client_proxy_header', 'a PROXY header from a client is not passed on');
      if (verdict === 'more') return;
      this.checked = true;
      return this.flush();
    }
    if (!this.connected) return this.hold(b);
    if (!this.up!.write(b)) this.down.pause();
  }

  private hold(b: Buffer): void {
    this.held.push(b);
    this.heldBytes += b.length;
    if (this.heldBytes >= HOLD_BYTES) this.down.pause();
  }

  private flush(): void {
    if (!this.connected || !this.checked || !this.up) return;
    const held = this.held;
    this.held = [];
    this.heldBytes = 0;
    let ok = true;
    for (const b of held) if (b.length > 0) ok = this.up.write(b);
    if (ok) this.down.resume();
    if (this.downEnded) this.up.end();
  }

  /** A connection attempt failed before any byte went through: another machine, or give up. */
  private failed(up: net.Socket, why: string): void {
    if (this.done || this.up !== up || this.connected) return;
    this.timer?.cancel();
    up.destroy();
    this.up = undefined;
    const m = this.machine!;
    this.machine = undefined;
    m.load.inflight--;
    this.deps.ctx.queue.slotFreed(m.app.name);
    this.exclude.add(m);
    this.deps.ctx.config.logger.debug('tcp connect failed', { app: m.app.name, machine: m.id, error: why });
    if (this.attempts >= this.deps.ctx.config.limits.maxAttempts) return this.refuse('connect_failed', `could not connect to a machine: ${why}`);
    this.choose();
  }

  /** No machine for this connection: a peer tells the edge why (it tries another); a client is closed. */
  private refuse(outcome: string, reason: string): void {
    if (this.done) return;
    this.deps.ctx.config.logger.debug('tcp connection refused', { app: this.app.name, client: this.front.clientIp, reason });
    if (this.front.kind === 'peer' && !this.connected) this.down.end(tunnelRefusal(503, reason));
    this.finish(outcome);
  }

  private finish(outcome: string): void {
    if (this.done) return;
    this.done = true;
    this.timer?.cancel();
    const { ctx, sessions } = this.deps;
    ctx.queue.remove(this);
    sessions.delete(this);
    this.deps.outcome(this.app.name, outcome);
    if (this.machine) {
      this.machine.load.inflight--;
      ctx.queue.slotFreed(this.machine.app.name);
      this.machine = undefined;
    }
    this.up?.destroy();
    // A peer's refusal is on its way out (end()); anything else is over.
    if (!(this.front.kind === 'peer' && outcome !== 'proxied' && !this.connected)) this.down.destroy();
  }
}
