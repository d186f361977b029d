/**
 * The proxy's TCP services: one listener per public port the routes give a TCP service, on the
 * proxy's own address (the anycast address at a PoP), opened and closed as the routes change; and
 * the other end of the backhaul, the tunnels peer proxies open to reach this host's machines.
 *
 * A port that cannot be bound (in use by another program, or by the proxy itself) is logged once
 * and reported by `listenProblems()`; the other ports are served. It is tried again on every
 * routes update, so freeing the port is enough.
 */
import net from 'node:net';
import type { ConnectionGate } from '../../shared/index.js';
import { describeError } from '../../shared/index.js';
import type { ProxyContext } from '../core/index.js';
import type { RequestHead } from '../codec/index.js';
import type { RouteTable, TcpPortRoute } from '../route-table/index.js';
import type { TlsContexts } from '../tls/front-door.js';
import { openClient } from './opening.js';
import { tunnelRefusal, tunnelTarget } from './peer-tunnel.js';
import { plainAddress, proxyHeader } from './proxy-protocol.js';
import { TcpSession, type SessionDeps } from './session.js';

export interface ListenProblem {
  port: number;
  error: string;
}

export class TcpEdge {
  private host: string | undefined;
  private contexts: TlsContexts | undefined;
  private readonly listeners = new Map<number, net.Server>();
  private readonly problems = new Map<number, string>();
  private readonly deps: SessionDeps;
  private closed = false;

  constructor(
    private readonly ctx: ProxyContext,
    private readonly gate: ConnectionGate,
    outcome: (app: string, outcome: string) => void,
  ) {
    this.deps = { ctx, sessions: new Set(), outcome };
  }

  /** Serves TCP services on `host` (the proxy's listen address) from now on, TLS from `contexts`. */
  serve(host: string, contexts: TlsContexts | undefined): void {
    this.host = host;
    this.contexts = contexts;
    this.sync(this.ctx.live.routes);
  }

  /** The routes changed: listen on new ports, stop listening on ports no service has now. */
  sync(routes: RouteTable): void {
    if (this.host === undefined || this.closed) return;
    const wanted = routes.tcp.byPort;
    for (const [port, server] of this.listeners) {
      if (!wanted.has(port)) {
        server.close();
        this.listeners.delete(port);
      }
    }
    for (const port of this.problems.keys()) if (!wanted.has(port)) this.problems.delete(port);
    for (const port of wanted.keys()) if (!this.listeners.has(port)) this.listen(port);
  }

  /** Where services listen (undefined until serve()). */
  get listenHost(): string | undefined {
    return this.host;
  }

  /** Ports wanted but not bound, and why. */
  listenProblems(): ListenProblem[] {
    return [...this.problems].map(([port, error]) => ({ port, error })).sort((a, b) => a.port - b.port);
  }

  /** Ports being served (bound). */
  ports(): number[] {
    return [...this.listeners].filter(([, s]) => s.listening).map(([p]) => p).sort((a, b) => a - b);
  }

  get open(): number {
    return this.deps.sessions.size;
  }

  /** Drain: no new connections; the open ones go on (the proxy cuts them at its drain deadline). */
  stopListening(): void {
    this.closed = true;
    for (const s of this.listeners.values()) s.close();
    this.listeners.clear();
  }

  close(): void {
    this.stopListening();
    for (const s of [...this.deps.sessions]) s.destroy();
  }

  /** A peer proxy's tunnel request (the key already checked): to this host's machine of the service. */
  acceptTunnel(socket: net.Socket, head: RequestHead, rest: Buffer | undefined): void {
    const t = tunnelTarget(head);
    const route = t && this.ctx.live.routes.tcp.service(t.app, t.internalPort, 'tcp');
    if (!t || !route) return void socket.end(tunnelRefusal(502, 'no such TCP service on this host'));
    socket.setNoDelay(true);
    new TcpSession(this.deps, socket, route, { kind: 'peer', machineId: t.machineId, clientIp: t.clientIp }, rest);
  }

  private listen(port: number): void {
    const server = net.createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: false }, (socket) => this.accept(port, socket));
    this.listeners.set(port, server);
    server.on('error', (e) => {
      this.listeners.delete(port);
      const error = describeError(e);
      if (this.problems.get(port) !== error) this.ctx.config.logger.error('cannot listen on a TCP service port', { port, host: this.host, error });
      this.problems.set(port, error);
    });
    server.listen({ host: this.host, port }, () => {
      if (this.problems.delete(port)) this.ctx.config.logger.info('listening on a TCP service port again', { port });
    });
  }

  private accept(port: number, socket: net.Socket): void {
    if (!this.gate.admit(socket)) return;
    socket.on('error', () => undefined);
    const found: TcpPortRoute | undefined = this.ctx.live.routes.tcp.byPort.get(port);
    if (!found || this.ctx.live.draining) return void socket.destroy();
    const { route, port: spec } = found;
    const clientIp = plainAddress(socket.remoteAddress ?? '');
    openClient(socket, spec, this.contexts, this.ctx.config, (o) => {
      if ('refused' in o) return this.deps.outcome(route.service.name, o.refused);
      const version = spec.handlers.includes('proxy_proto') ? (spec.proxy_proto_version ?? 'v1') : undefined;
      const preamble = version
        ? () => proxyHeader(version, { srcAddress: socket.remoteAddress ?? '', srcPort: socket.remotePort ?? 0, dstAddress: socket.localAddress ?? '', dstPort: socket.localPort ?? port })
        : () => undefined;
      new TcpSession(this.deps, o.stream, route, { kind: 'edge', preamble, clientIp });
    });
  }
}
