import { probePorts, type PortProblem } from './port-probe.js';
import net from 'node:net';
import type tls from 'node:tls';
import { createH2Server, DEFAULT_H2_LIMITS, type H2Front, type H2Limits } from './h2/server.js';
import { TlsFrontDoor, ocspRequestListener, type TlsContexts } from './tls/front-door.js';
import { ConnectionGate, listenOn, parseIp, silentLogger, type Clock, type ConnectionGateStats, type Logger, type TimerHandle } from '../shared/index.js';
import { LoadRegistry, RouteTable, type RoutesSpec } from './route-table/index.js';
import { UpstreamPool } from './upstream/index.js';
import { AccessLog, ProxyMetrics, type AccessLogSink } from './observe/index.js';
import {
  Autoscaler,
  DEFAULT_LIMITS,
  requestIdFactory,
  WaitQueue,
  type AcmeHttpAnswers,
  type LiveState,
  type MachineControl,
  type StaticRoots,
  type ProxyConfig,
  type ProxyContext,
  type ProxyLimits,
} from './core/index.js';
import { ClientConnection } from './http1/index.js';
import { checkLimits, RefusalLog } from './admission.js';
import { TcpEdge, tunnelTarget, type ListenProblem } from './tcp/index.js';
import { openSideListener, type PeerListener, type SideListenerHome } from './side-listener.js';

export type { PeerListener };
import { UdpEdge } from './udp/index.js';

export interface ProxyOptions {
  /** This proxy's region: machines here are preferred. */
  region: string;
  routes: RoutesSpec;
  /** Every timer of the proxy runs on it (tests pass a ManualClock). */
  clock: Clock;
  logger?: Logger;
  /** Where JSON access log lines go; none when undefined. */
  accessLog?: AccessLogSink | undefined;
  random?: (() => number) | undefined;
  limits?: Partial<ProxyLimits> | undefined;
  /** Where ACME HTTP-01 answers come from (the shared certificate store); none when undefined. */
  acmeHttp?: AcmeHttpAnswers | undefined;
  /** The runtime, for autostart and autostop; without it the proxy only routes. */
  machines?: MachineControl | undefined;
  /** Where this host's machines' images are, for `[[statics]]` (core/statics.ts); none: the apps serve them. */
  statics?: StaticRoots | undefined;
}


/**
 * The edge proxy: accepts client connections, routes each request to a machine, and drains
 * gracefully. The agent embeds it (routes pushed with `setRoutes`); `starling proxy serve` runs it
 * alone with a routes file.
 */
export class ProxyServer {
  private readonly ctx: ProxyContext;
  private readonly config: ProxyConfig;
  /** The routes and the draining flag: written here only (setRoutes, drain), read by everyone. */
  private readonly live: LiveState;
  private readonly gate: ConnectionGate;
  private readonly server: net.Server;
  /** The peer listeners (listenPeers: other hosts' proxies over the mesh) and private service ones (listenPrivate). */
  private readonly peerServers: net.Server[] = [];
  private readonly connections = new Set<ClientConnection>();
  /** Private service addresses the public listener holds (listenPrivate): their contexts. */
  private readonly privateByAddress = new Map<string, ProxyContext>();
  private readonly loads = new LoadRegistry();
  private readonly sweepTimer: TimerHandle;
  private readonly autostopTimer: TimerHandle;
  private readonly refusals: RefusalLog;
  private drainPromise: Promise<void> | undefined;
  private readonly tlsDoors: TlsFrontDoor[] = [];
  private h2: H2Front | undefined;
  private readonly tcp: TcpEdge;
  private readonly udp: UdpEdge;

  constructor(opts: ProxyOptions) {
    const clock = opts.clock;
    const limits = { ...DEFAULT_LIMITS, ...opts.limits };
    checkLimits(limits);
    // One gate for every listener: the caps protect this process's descriptors, whichever port.
    this.gate = new ConnectionGate({ maxConnections: limits.maxConnections, maxPerAddress: limits.maxConnectionsPerIp });
    const metrics = new ProxyMetrics();
    const config: ProxyConfig = {
      region: opts.region,
      limits,
      clock,
      random: opts.random ?? Math.random,
      logger: opts.logger ?? silentLogger,
      metrics,
      accessLog: opts.accessLog ? new AccessLog(opts.accessLog) : undefined,
      nextRequestId: requestIdFactory(opts.region),
    };
    this.config = config;
    this.live = { routes: new RouteTable(opts.routes, this.loads), draining: false };
    this.ctx = {
      config,
      live: this.live,
      pool: new UpstreamPool({ clock }),
      queue: new WaitQueue(limits.maxQueuePerApp, metrics),
      autoscaler: new Autoscaler(config, opts.machines),
      acmeHttp: opts.acmeHttp,
      statics: opts.statics,
      tunnels: {
        acceptTunnel: (socket, head, rest) => {
          const t = tunnelTarget(head);
          if (t?.protocol === 'udp') this.udp.acceptTunnel(socket, t, rest);
          else this.tcp.acceptTunnel(socket, head, rest);
        },
      },
      acceptPeerKey: limits.publicPeers ? limits.peerKey : undefined,
    };
    this.tcp = new TcpEdge(this.ctx, this.gate, (app, outcome) => metrics.tcpConnection(app, outcome));
    this.udp = new UdpEdge(this.ctx, (app, outcome) => metrics.udpFlow(app, outcome));
    this.refusals = new RefusalLog(this.gate, config.logger);
    const gate = this.gate;
    this.server = net.createServer({ noDelay: true }, (socket) => {
      if (gate.admit(socket)) new ClientConnection(this.privateCtx(socket) ?? this.ctx, socket, this.connections);
    });
    this.server.on('error', (err) => config.logger.error('listener error', { error: err.message }));
    this.sweepTimer = clock.setInterval(() => this.sweep(), limits.sweepIntervalMs);
    this.autostopTimer = clock.setInterval(() => this.autostop(), limits.autostopIntervalMs);
  }

  /** Listens on host:port (port 0 picks a free one); resolves with the bound address. */
  listen(host: string, port: number): Promise<net.AddressInfo> {
    return this.listenOn({ host, port });
  }

  /** Listens on an existing handle, e.g. a socket shared by the primary of a multi-process proxy. */
  listenOn(target: net.ListenOptions | net.Server | { fd: number }): Promise<net.AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen(target as net.ListenOptions, () => {
        this.server.removeListener('error', onError);
        resolve(this.server.address() as net.AddressInfo);
      });
    });
  }

  /**
   * Listens for other hosts' proxies on host:port — the host's address on the WireGuard mesh, which
   * only peers reach. Requests here are a peer's when they carry `limits.peerKey`, whatever
   * `limits.publicPeers` says; everything else about them is as on the public listener.
   */
  listenPeers(host: string, port: number): Promise<PeerListener> {
    return openSideListener(this.sideHome, { ...this.ctx, acceptPeerKey: this.config.limits.peerKey }, host, port, 'peer listener');
  }

  /**
   * Serves an app's private service address (fly's Flycast) on host:port: requests there are the
   * app's whatever their Host, and go on as public ones do (balancing, limits, autostart). Not a
   * peer's: no peer key is taken there. A listener of its own at the address — unless the public
   * listener is a wildcard on that port (`[::]:80`), which holds it (Linux refuses a second bind):
   * then the public listener tells such connections by the address they came to. Closed by the
   * handle; drain and close end it too.
   */
  async listenPrivate(host: string, port: number, app: string): Promise<PeerListener> {
    const key = parseIp(host)?.text ?? host;
    const ctx: ProxyContext = { ...this.ctx, acceptPeerKey: undefined, privateApp: app };
    const mine = this.server.address();
    // `[::]` holds both families' addresses of its port (dual stack), `0.0.0.0` the IPv4 ones.
    const holds = typeof mine === 'object' && mine !== null && mine.port === port && (mine.address === '::' || (mine.address === '0.0.0.0' && net.isIPv4(key)));
    if (holds) {
      this.privateByAddress.set(key, ctx);
      return { address: { address: key, family: mine.family, port }, close: () => void this.privateByAddress.delete(key) };
    }
    return openSideListener(this.sideHome, ctx, host, port, `private service listener of ${app}`);
  }

  /** Where side listeners keep their connections and servers (side-listener.ts). */
  private get sideHome(): SideListenerHome {
    return { gate: this.gate, connections: this.connections, servers: this.peerServers, logger: this.config.logger };
  }

  /**
   * The private service context for a connection the public listener took at such an address. On
   * every public connection, so a plain lookup: the keys are in RFC 5952's canonical text, which is
   * how the kernel's address (inet_ntop) comes in `localAddress`.
   */
  private privateCtx(socket: net.Socket): ProxyContext | undefined {
    return this.privateByAddress.size === 0 || socket.localAddress === undefined ? undefined : this.privateByAddress.get(socket.localAddress);
  }

  /**
   * Listens for TLS on host:port: certificates by SNI from `contexts`, ALPN h2 and http/1.1 (both
   * through the same request path), and ACME TLS-ALPN-01 answers.
   */
  listenTls(host: string, port: number, contexts: TlsContexts, h2Limits: Partial<H2Limits> = {}): Promise<net.AddressInfo> {
    const sni = (name: string): tls.SecureContext | undefined => contexts.lookup(name) ?? contexts.fallback();
    this.h2 ??= createH2Server(this.ctx, { ...DEFAULT_H2_LIMITS, ...h2Limits }, sni, ocspRequestListener(contexts));
    const h2 = this.h2;
    const door = new TlsFrontDoor(this.config, this.gate, contexts, {
      http1: (socket) => {
        new ClientConnection(this.ctx, socket, this.connections, true);
      },
      h2: (socket) => h2.server.emit('connection', socket),
    });
    this.tlsDoors.push(door);
    return listenOn(door.server, host, port);
  }

  /**
   * Serves the routes' TCP services on `host` (the proxy's listen address), each on its public
   * ports; TLS handlers with certificates from `contexts` (none: TLS ports refuse connections).
   */
  serveTcp(host: string, contexts: TlsContexts | undefined): void {
    this.tcp.serve(host, contexts);
  }

  /**
   * Serves the routes' UDP services on each of `hosts` (the anycast addresses: answers leave from
   * the address a client wrote to only on a socket bound to it).
   */
  serveUdp(hosts: readonly string[]): void {
    this.udp.serve(hosts);
  }

  /** TCP service ports that could not be bound, and why (retried on every routes update). */
  tcpListenProblems(): ListenProblem[] {
    return this.tcp.listenProblems();
  }

  udpListenProblems(): ListenProblem[] {
    return this.udp.listenProblems();
  }

  udpPorts(): number[] {
    return this.udp.ports();
  }

  /** Whether these public ports could be served here (port-probe.ts): the problems, none when all can. */
  probePorts(tcp: readonly number[], udp: readonly number[]): Promise<PortProblem[]> {
    return probePorts({ tcpHost: this.tcp.listenHost, udpHosts: this.udp.bindHosts, tcpServed: this.tcp.ports(), udpServed: this.udp.ports() }, tcp, udp);
  }

  /** TCP service ports being served. */
  tcpPorts(): number[] {
    return this.tcp.ports();
  }

  /** Replaces the routing view. Requests in flight keep their machine; load counts carry over. */
  setRoutes(spec: RoutesSpec): void {
    this.live.routes = new RouteTable(spec, this.loads);
    this.ctx.autoscaler.routesChanged(this.live.routes);
    this.tcp.sync(this.live.routes);
    this.udp.sync(this.live.routes);
    this.config.metrics.routesReloaded(true);
    this.ctx.queue.wakeAll();
  }

  /** A routes file that failed to read or validate (the previous routes stay): counted. */
  routesRejected(): void {
    this.config.metrics.routesReloaded(false);
  }

  get routes(): RouteTable {
    return this.live.routes;
  }

  get draining(): boolean {
    return this.live.draining;
  }

  /** The limits in effect (the defaults with the options' changes). */
  get limits(): Readonly<ProxyLimits> {
    return this.config.limits;
  }

  get openConnections(): number {
    return this.connections.size;
  }

  /** The connection caps' view: sockets admitted and open (TLS handshakes too), refusals by cap. */
  connectionStats(): ConnectionGateStats {
    return this.gate.stats();
  }

  metricsText(): string {
    const machines = [];
    for (const app of this.live.routes.apps.values()) {
      for (const m of app.machines) {
        machines.push({ app: app.name, machine: m.id, region: m.region, inflight: m.load.inflight });
      }
    }
    return this.config.metrics.render(machines, this.gate.stats());
  }

  /**
   * Graceful drain: stop accepting, close idle connections, let in-flight requests finish (their
   * responses say `Connection: close`), then resolve. What is still open after drainTimeoutMs is cut.
   */
  drain(): Promise<void> {
    if (this.drainPromise) return this.drainPromise;
    this.live.draining = true;
    this.config.logger.info('draining', { connections: this.connections.size });
    this.drainPromise = new Promise<void>((resolve) => {
      this.server.close();
      for (const d of this.tlsDoors) d.server.close();
      for (const p of this.peerServers) p.close();
      this.tcp.stopListening();
      for (const c of this.connections) c.drain();
      // GOAWAY: streams in flight finish, no new ones start, then the session closes.
      for (const s of this.h2?.sessions.keys() ?? []) s.close();
      const deadline = this.config.clock.monotonic() + this.config.limits.drainTimeoutMs;
      const check = (): void => {
        const open = this.connections.size + (this.h2?.sessions.size ?? 0) + this.tcp.open;
        if (open === 0 || this.config.clock.monotonic() >= deadline) {
          timer.cancel();
          for (const c of this.connections) c.socket.destroy();
          this.close();
          resolve();
        }
      };
      const timer = this.config.clock.setInterval(check, 50);
      check();
    });
    return this.drainPromise;
  }

  /** Closes everything at once (tests, and the end of drain). */
  close(): void {
    this.sweepTimer.cancel();
    this.autostopTimer.cancel();
    this.server.close();
    for (const d of this.tlsDoors) d.server.close();
    for (const p of this.peerServers) p.close();
    this.tcp.close();
    this.udp.close();
    for (const c of this.connections) c.socket.destroy();
    for (const s of this.h2?.sessions.keys() ?? []) s.destroy();
    this.h2?.backends.close();
    this.ctx.pool.closeAll();
  }

  /** One autostop round: stop (or suspend) what the load does not need, at most one per region. */
  autostop(): void {
    if (!this.live.draining) this.ctx.autoscaler.stopIdle(this.live.routes);
  }

  private sweep(): void {
    const now = this.config.clock.monotonic();
    for (const c of this.connections) c.onTick(now);
    this.h2?.onTick(now);
    this.ctx.queue.expire(now);
    this.ctx.autoscaler.sweep(now);
    this.ctx.pool.sweep();
    this.refusals.onTick(now);
  }
}
