import type { StaticRoots } from './statics.js';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import type { RequestHead } from '../codec/index.js';
import type { Clock, Logger } from '../../shared/index.js';
import type { AppRoute, RouteTable } from '../route-table/index.js';
import type { UpstreamPool } from '../upstream/index.js';
import type { AccessLog, ProxyMetrics } from '../observe/index.js';
import type { WaitQueue } from './queue.js';

/** Limits and switches of one proxy; every field has a default in `resolveOptions`. */
export interface ProxyLimits {
  /** A client must send a whole request head within this time once it started one (slowloris). */
  headerTimeoutMs: number;
  /** An idle keep-alive client connection is closed after this time. */
  idleTimeoutMs: number;
  /** A request body that stops arriving for this long is abandoned with 408. */
  bodyTimeoutMs: number;
  /** A client that takes no response bytes for this long (its window stays shut) is cut off. */
  stallTimeoutMs: number;
  /** A machine that has not started its response after this long gets the request a 504. */
  responseTimeoutMs: number;
  /**
   * A machine that started its response and then sends no body byte for this long is given up on:
   * its connection is closed, the client's is cut (HTTP/2: the stream reset) so the truncated body
   * cannot pass for a whole one. Time the client is not reading does not count (stallTimeoutMs).
   */
  responseIdleTimeoutMs: number;
  /**
   * Open client connections at most, on every listener of this proxy together (plain, TLS, and
   * HTTP/2 through it); more are closed when accepted. Per process: each `--workers` worker has its own.
   */
  maxConnections: number;
  /** Open client connections at most from one IPv4 address or IPv6 /64 (shared/connection-gate.ts). */
  maxConnectionsPerIp: number;
  /** How long a request waits when every machine is at hard_limit, before 503. */
  queueTimeoutMs: number;
  /** How many requests may wait per app at most; more get 503 at once. */
  maxQueuePerApp: number;
  /** Bodies up to this size are kept for replay and retry (fly: 1 MB). */
  replayMaxBytes: number;
  /** A request is replayed at most this many times (loop guard). */
  maxReplays: number;
  /** Attempts at most per request across machines (connect failures). */
  maxAttempts: number;
  /** Add the `Fly-*` twins of Starling's request headers. */
  flyHeaders: boolean;
  /**
   * Shared by the proxies of one platform (the agents derive it from their control-plane token):
   * a request carrying it in `starling-peer` came from another Starling proxy (core/peer.ts).
   * Undefined: no request is trusted as a peer's.
   */
  peerKey: string | undefined;
  /**
   * Whether the public listeners take `peerKey` from a request. A host on the WireGuard mesh says
   * no: its peers reach it on the peer listener (ProxyServer.listenPeers, on its mesh address), so
   * a key that once travelled the underlay in plaintext opens nothing from the internet.
   */
  publicPeers: boolean;
  /** How long graceful drain waits for in-flight requests before closing what is left. */
  drainTimeoutMs: number;
  /** Period of the sweep that enforces the timeouts above. */
  sweepIntervalMs: number;
  /** How often autostop looks for machines the load does not need (fly: every few minutes). */
  autostopIntervalMs: number;
}

export const DEFAULT_LIMITS: ProxyLimits = {
  headerTimeoutMs: 10_000,
  idleTimeoutMs: 60_000,
  bodyTimeoutMs: 30_000,
  responseTimeoutMs: 60_000,
  responseIdleTimeoutMs: 60_000,
  // 50,000 sockets (100,000 descriptors with the machine side) fit the usual systemd hard limit
  // (524,288, which Node raises its soft limit to); 1000 per address leaves room for hundreds of
  // users behind one carrier-grade NAT address, and takes 50 addresses to fill the proxy.
  maxConnections: 50_000,
  maxConnectionsPerIp: 1000,
  stallTimeoutMs: 60_000,
  queueTimeoutMs: 10_000,
  maxQueuePerApp: 1024,
  replayMaxBytes: 1024 * 1024,
  maxReplays: 2,
  maxAttempts: 3,
  flyHeaders: true,
  peerKey: undefined,
  publicPeers: true,
  drainTimeoutMs: 30_000,
  sweepIntervalMs: 1000,
  autostopIntervalMs: 5 * 60_000,
};

/** The range config accepts for responseIdleTimeoutMs: the sweep checks it once a second. */
export const RESPONSE_IDLE_TIMEOUT_RANGE_MS = { min: 1000, max: 24 * 3_600_000 } as const;

/**
 * What one proxy's connections and exchanges read and never change: set once when the proxy is made.
 * (`metrics` and `accessLog` are written to through their methods; the fields themselves stay.)
 */
export interface ProxyConfig {
  readonly region: string;
  readonly limits: Readonly<ProxyLimits>;
  readonly clock: Clock;
  readonly random: () => number;
  readonly logger: Logger;
  readonly metrics: ProxyMetrics;
  readonly accessLog: AccessLog | undefined;
  /** Request ids (requestIdFactory). */
  readonly nextRequestId: () => string;
}

/** The only things that change while the proxy runs; ProxyServer alone writes them (setRoutes, drain). */
export interface LiveState {
  routes: RouteTable;
  draining: boolean;
}

/** What every connection and exchange of one proxy shares: the config, the live state, the services. */
export interface ProxyContext {
  readonly config: ProxyConfig;
  readonly live: Readonly<LiveState>;
  readonly pool: UpstreamPool;
  readonly queue: WaitQueue;
  /** Autostart (and autostop) through the runtime; does nothing stand-alone. */
  readonly autoscaler: Autoscaling;
  /** ACME HTTP-01 answers (the shared certificate store), looked up before any routing (admit.ts). */
  readonly acmeHttp: AcmeHttpAnswers | undefined;
  /** This host's machines' images, for `[[statics]]` (statics.ts); undefined stand-alone. */
  readonly statics: StaticRoots | undefined;
  /** Where a peer proxy's TCP tunnel request goes (tcp/tcp-edge.ts): the connection is handed over. */
  readonly tunnels: TunnelAcceptor;
  /**
   * The key a request arriving on this context's connections may carry to be a peer's (peer.ts):
   * `limits.peerKey` on the peer listener, and on the public ones unless `limits.publicPeers` is
   * off. Undefined: no request here is a peer's. (Sending to peers always uses `limits.peerKey`.)
   */
  readonly acceptPeerKey: string | undefined;
  /**
   * On a private service listener (ProxyServer.listenPrivate, fly's Flycast): every request is this
   * app's, whatever its Host says — the address the client connected to named the app.
   */
  readonly privateApp?: string | undefined;
}

/** The TCP services' end of the backhaul, as the HTTP/1.1 connection hands a tunnel over. */
export interface TunnelAcceptor {
  acceptTunnel(socket: Socket, head: RequestHead, rest: Buffer | undefined): void;
}

/**
 * Autostart and autostop, as the exchanges and the server call them. Autoscaler (autoscaler.ts)
 * implements it; declared here so that file and this one do not import each other.
 */
export interface Autoscaling {
  /** A request found no started machine with room: start the nearest stopped one (in `regions` only, when given); true when one is starting. */
  start(app: AppRoute, regions?: readonly string[]): boolean;
  /** New routes: machines asked to start that now serve are no longer waited for. */
  routesChanged(routes: RouteTable): void;
  /** From the proxy's sweep: starts whose deadline passed are forgotten. */
  sweep(now: number): void;
  /** One autostop round over the routes. */
  stopIdle(routes: RouteTable): void;
}

/** What the proxy may ask of the runtime. It never creates machines. */
export interface MachineControl {
  start(app: string, machineId: string): Promise<void>;
  stop(app: string, machineId: string, mode: 'stop' | 'suspend'): Promise<void>;
}

export interface AcmeHttpAnswers {
  httpChallenge(token: string): Promise<string | undefined>;
}

/** Request ids: a random per-process prefix and a counter, then the edge region (`01abc…-fra`). */
export function requestIdFactory(region: string): () => string {
  const prefix = randomBytes(6).toString('hex');
  let n = 0;
  return () => `${prefix}${(n++).toString(36).padStart(6, '0')}-${region}`;
}
