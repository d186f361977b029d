/**
 * UDP services at the edge (fly's `[[services]] protocol = "udp"`): a socket per public port on
 * each of the proxy's service addresses; a client's datagrams go to the nearest healthy machine,
 * chosen once per flow (the client's address and port, on one public port) and kept while the flow
 * lives (FLOW_IDLE_MS without a datagram either way ends it). The machine's answers go back from
 * the socket the client wrote to, so they leave from the address and port it wrote to (the anycast
 * address, when the proxy is given it: a socket on 0.0.0.0 would answer from whichever address the
 * route picks).
 *
 * A flow to a machine on another host goes through that host's proxy: one tunnel (TCP, the peer
 * key, tcp/peer-tunnel.ts) per flow, carrying framed datagrams (frames.ts). A flow counts as one
 * unit of its machine's load, as a TCP connection does. flow-limits.ts bounds what a flood can take.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { describeError, type TimerHandle } from '../../shared/index.js';
import { chooseMachine, peerToWake, type ProxyContext } from '../core/index.js';
import type { MachineRoute, RouteTable, TcpPortRoute } from '../route-table/index.js';
import { readTunnelAnswer, tunnelRequest } from '../tcp/index.js';
import { FlowLimits } from './flow-limits.js';
import { frame, FrameReader } from './frames.js';
import { acceptUdpTunnel, type UdpTunnelTarget } from './udp-tunnel.js';

export const FLOW_IDLE_MS = 30_000;
/** Datagrams held for a flow whose tunnel is still opening; more are dropped. */
const HOLD = 64;

interface Flow {
  key: string;
  address: string;
  port: number;
  /** The socket the client wrote to: answers leave from it. */
  front: dgram.Socket;
  machine: MachineRoute;
  last: number;
  send(b: Buffer): void;
  close(): void;
}

export class UdpEdge {
  private hosts: string[] = [];
  private readonly sockets = new Map<number, dgram.Socket[]>();
  private readonly problems = new Map<number, string>();
  private readonly flows = new Map<string, Flow>();
  private readonly limits: FlowLimits;
  private readonly sweeper: TimerHandle;
  private closed = false;
  /** Peer proxies' tunnels to this host's machines, to cut when the proxy closes. */
  private readonly tunnels = new Set<() => void>();

  constructor(
    private readonly ctx: ProxyContext,
    private readonly count: (app: string, outcome: string) => void,
  ) {
    this.limits = new FlowLimits(() => ctx.config.clock.monotonic());
    this.sweeper = ctx.config.clock.setInterval(() => this.sweep(), 1000);
  }

  /** Serves UDP services on these addresses (the anycast addresses; the proxy's listen host else). */
  serve(hosts: readonly string[]): void {
    this.hosts = [...hosts];
    this.sync(this.ctx.live.routes);
  }

  sync(routes: RouteTable): void {
    if (this.hosts.length === 0 || this.closed) return;
    const wanted = routes.tcp.udpByPort;
    for (const [port, list] of this.sockets) {
      if (wanted.has(port)) continue;
      for (const s of list) s.close();
      this.sockets.delete(port);
    }
    for (const port of this.problems.keys()) if (!wanted.has(port)) this.problems.delete(port);
    for (const port of wanted.keys()) if (!this.sockets.has(port)) this.bind(port);
  }

  /** The addresses services bind (none until serve()). */
  get bindHosts(): readonly string[] {
    return this.hosts;
  }

  listenProblems(): { port: number; error: string }[] {
    return [...this.problems].map(([port, error]) => ({ port, error })).sort((a, b) => a.port - b.port);
  }

  ports(): number[] {
    return [...this.sockets.keys()].filter((p) => !this.problems.has(p)).sort((a, b) => a - b);
  }

  get openFlows(): number {
    return this.flows.size;
  }

  /** A peer proxy's tunnel for one of its flows to this host's machine (udp-tunnel.ts). */
  acceptTunnel(socket: net.Socket, t: UdpTunnelTarget, rest: Buffer | undefined): void {
    const cut = acceptUdpTunnel(this.ctx, socket, t, rest, this.count);
    if (!cut) return;
    this.tunnels.add(cut);
    socket.once('close', () => this.tunnels.delete(cut));
  }

  close(): void {
    this.closed = true;
    for (const cut of [...this.tunnels]) cut();
    this.sweeper.cancel();
    for (const list of this.sockets.values()) for (const s of list) s.close();
    this.sockets.clear();
    for (const f of [...this.flows.values()]) this.end(f, 'closed');
  }

  private bind(port: number): void {
    const list: dgram.Socket[] = [];
    this.sockets.set(port, list);
    for (const host of this.hosts) {
      const s = dgram.createSocket({ type: net.isIPv6(host) ? 'udp6' : 'udp4' });
      list.push(s);
      s.on('error', (e) => {
        const error = `${host}: ${describeError(e)}`;
        if (this.problems.get(port) !== error) this.ctx.config.logger.error('cannot listen on a UDP service port', { port, host, error });
        this.problems.set(port, error);
        s.close();
        const i = list.indexOf(s);
        if (i >= 0) list.splice(i, 1);
        if (list.length === 0) this.sockets.delete(port);
      });
      s.on('message', (msg, rinfo) => this.datagram(port, s, msg, rinfo));
      s.bind(port, host);
    }
  }

  private datagram(port: number, front: dgram.Socket, msg: Buffer, from: dgram.RemoteInfo): void {
    if (this.ctx.live.draining) return this.count('', 'dropped_draining');
    if (!this.limits.admitDatagram(from.address)) return this.count('', 'dropped_rate');
    const key = `${port}/${from.address}/${from.port}`;
    const now = this.ctx.config.clock.monotonic();
    const flow = this.flows.get(key);
    if (flow) {
      flow.last = now;
      return flow.send(msg);
    }
    const found: TcpPortRoute | undefined = this.ctx.live.routes.tcp.udpByPort.get(port);
    if (!found) return;
    const app = found.route.service;
    const choice = chooseMachine(app, { edgeRegion: this.ctx.config.region }, this.ctx.config.random);
    let m = choice.kind === 'machine' ? choice.machine : undefined;
    if (!m) {
      // A datagram is not queued: autostart, and the client's next one (they retry) finds it started.
      if (choice.kind === 'none' && !this.ctx.autoscaler.start(app)) m = peerToWake(app, this.ctx.config.region);
      if (!m) return this.count(app.name, 'no_machine');
    }
    if (!this.limits.openFlow(from.address)) return this.count(app.name, 'dropped_flows');
    const f = m.peer ? this.peerFlow(key, from, front, m, found.route.internalPort) : this.localFlow(key, from, front, m);
    f.last = now;
    m.load.inflight++;
    this.flows.set(key, f);
    f.send(msg);
  }

  private localFlow(key: string, from: dgram.RemoteInfo, front: dgram.Socket, m: MachineRoute): Flow {
    const up = dgram.createSocket({ type: net.isIPv6(m.address) ? 'udp6' : 'udp4' });
    const f: Flow = {
      key, address: from.address, port: from.port, front, machine: m, last: 0,
      send: (b) => up.send(b, m.port, m.address),
      close: () => up.close(),
    };
    up.on('message', (answer) => {
      f.last = this.ctx.config.clock.monotonic();
      front.send(answer, from.port, from.address);
    });
    up.on('error', () => this.end(f, 'machine_error'));
    return f;
  }

  private peerFlow(key: string, from: dgram.RemoteInfo, front: dgram.Socket, m: MachineRoute, internalPort: number): Flow {
    const peerKey = this.ctx.config.limits.peerKey;
    const sock = net.connect({ host: m.address, port: m.port, noDelay: true });
    const held: Buffer[] = [];
    let open = false;
    const f: Flow = {
      key, address: from.address, port: from.port, front, machine: m, last: 0,
      send: (b) => {
        if (open) sock.write(frame(b));
        else if (held.length < HOLD) held.push(b);
      },
      close: () => sock.destroy(),
    };
    if (peerKey === undefined) {
      queueMicrotask(() => this.end(f, 'connect_failed'));
      return f;
    }
    const reader = new FrameReader();
    let answer: Buffer = Buffer.alloc(0);
    sock.on('connect', () => sock.write(tunnelRequest({ app: m.app.name, internalPort, machineId: m.id, clientIp: from.address, edgeRegion: this.ctx.config.region, peerKey, protocol: 'udp' })));
    sock.on('data', (b: Buffer) => {
      if (!open) {
        answer = Buffer.concat([answer, b]);
        const a = readTunnelAnswer(answer);
        if (a.kind === 'more') return;
        if (a.kind === 'refused') return this.end(f, 'connect_failed');
        open = true;
        for (const d of held.splice(0)) sock.write(frame(d));
        b = a.rest;
      }
      for (const d of reader.push(b)) {
        f.last = this.ctx.config.clock.monotonic();
        front.send(d, from.port, from.address);
      }
    });
    sock.on('error', () => this.end(f, 'connect_failed'));
    sock.on('close', () => this.end(f, 'proxied'));
    return f;
  }

  private end(f: Flow, outcome: string): void {
    if (this.flows.get(f.key) !== f) return;
    this.flows.delete(f.key);
    this.limits.closeFlow(f.address);
    f.machine.load.inflight--;
    this.ctx.queue.slotFreed(f.machine.app.name);
    this.count(f.machine.app.name, outcome);
    try {
      f.close();
    } catch {
      /* already closed */
    }
  }

  private sweep(): void {
    const now = this.ctx.config.clock.monotonic();
    for (const f of [...this.flows.values()]) if (now - f.last > FLOW_IDLE_MS) this.end(f, 'proxied');
    this.limits.prune();
  }
}
