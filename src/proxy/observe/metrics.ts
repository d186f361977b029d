/**
 * The proxy's Prometheus metrics (docs/metrics.md), on the shared instruments: counters and the
 * latency histogram are Map updates on the request path; families are built, and rendered by the
 * one exposition writer, only when /metrics is scraped.
 *
 * The request path records with `incKey`/`observeKey`: the series key (label values joined by
 * SERIES_SEP) is one template literal, or the app name itself for a one-label series, so a request
 * allocates no label array. Gauges (open connections, the queue) are plain numbers read at scrape.
 */
import { Counter, Histogram, LATENCY_BUCKETS, SERIES_SEP, gauge, renderExposition, type MetricFamily } from '../../shared/index.js';

export interface MachineGauge {
  app: string;
  machine: string;
  region: string;
  inflight: number;
}

/** The connection caps' counts (shared/connection-gate.ts stats). */
export interface ConnectionCounts {
  refusedTotal: number;
  refusedPerAddress: number;
}

const NO_REFUSALS: ConnectionCounts = { refusedTotal: 0, refusedPerAddress: 0 };

export class ProxyMetrics {
  private readonly requests = new Counter('starling_proxy_requests_total', 'Requests answered, by app, machine region and status.', ['app', 'region', 'status']);
  private readonly latency = new Histogram('starling_proxy_upstream_latency_seconds', 'Time from sending a request to a machine to its response head.', ['app'], LATENCY_BUCKETS);
  private readonly retries = new Counter('starling_proxy_retries_total', 'Requests sent to another machine after a failure.', ['app']);
  private readonly replays = new Counter('starling_proxy_replays_total', 'Requests replayed on a replay header.', ['app']);
  private readonly replayFailures = new Counter('starling_proxy_replay_failures_total', 'Replays that could not be done, by reason.', ['app', 'reason']);
  private readonly autostarts = new Counter('starling_proxy_autostarts_total', 'Stopped machines started for a request.', ['app']);
  private readonly autostops = new Counter('starling_proxy_autostops_total', 'Machines stopped because the load did not need them.', ['app']);
  private readonly responseIdle = new Counter('starling_proxy_response_idle_timeouts_total', 'Responses cut off because the machine stopped sending the body.', ['app']);
  private readonly rejected = new Counter('starling_proxy_rejected_requests_total', 'Requests refused before routing, by reason.', ['reason']);
  private readonly tcp = new Counter('starling_proxy_tcp_connections_total', 'Connections to TCP services, by app and outcome.', ['app', 'outcome']);
  private readonly udp = new Counter('starling_proxy_udp_flows_total', 'UDP service flows ended, and datagrams dropped, by app and outcome.', ['app', 'outcome']);
  private readonly reloads = new Counter('starling_proxy_routes_reloads_total', 'Routes file reloads, by result.', ['result']);
  private openConnections = 0;
  private queued = 0;

  constructor() {
    // Both results show from the start, 0 until a reload happens (a scraper sees the series exist).
    this.reloads.touch(['ok']);
    this.reloads.touch(['invalid']);
  }

  /** A client connection (HTTP/1.x, or an HTTP/2 session) opened or closed. */
  connectionOpened(): void {
    this.openConnections++;
  }
  connectionClosed(): void {
    this.openConnections--;
  }
  /** Requests waiting for a slot now (the wait queue reports each change). */
  queuedNow(n: number): void {
    this.queued = n;
  }
  /** A routes reload applied, or rejected (the previous routes stay). */
  routesReloaded(ok: boolean): void {
    this.reloads.incKey(ok ? 'ok' : 'invalid');
  }

  /** Every answered request, once: by app ('' when none took it), the machine's region, status. */
  request(app: string, region: string, status: number): void {
    this.requests.incKey(`${app}${SERIES_SEP}${region}${SERIES_SEP}${status}`);
  }

  upstreamLatency(app: string, seconds: number): void {
    this.latency.observeKey(app, seconds);
  }

  autostart(app: string): void {
    this.autostarts.incKey(app);
  }
  autostop(app: string): void {
    this.autostops.incKey(app);
  }

  retry(app: string): void {
    this.retries.incKey(app);
  }
  replay(app: string): void {
    this.replays.incKey(app);
  }
  replayFailed(app: string, reason: string): void {
    this.replayFailures.incKey(`${app}${SERIES_SEP}${reason}`);
  }
  /** A request refused before routing (malformed, too large, timed out): by reason code. */
  rejectedRequest(reason: string): void {
    this.rejected.incKey(reason);
  }

  /** A machine stopped sending its response body for response_idle_timeout: it was cut off. */
  responseIdleTimeout(app: string): void {
    this.responseIdle.incKey(app);
  }

  /** A TCP service connection ended (docs/metrics.md lists the outcomes). */
  tcpConnection(app: string, outcome: string): void {
    this.tcp.incKey(`${app}${SERIES_SEP}${outcome}`);
  }

  /** A UDP flow ended, or a datagram was dropped (`dropped_*`, app '' before routing). */
  udpFlow(app: string, outcome: string): void {
    this.udp.incKey(`${app}${SERIES_SEP}${outcome}`);
  }

  /** Every family, in the order /metrics has always listed them (docs/metrics.md). */
  families(machines: readonly MachineGauge[], connections: ConnectionCounts = NO_REFUSALS): MetricFamily[] {
    return [
      this.requests.family(),
      this.latency.family(),
      gauge('starling_proxy_open_connections', 'Client connections open now.', [{ value: this.openConnections }]),
      {
        name: 'starling_proxy_connections_refused_total',
        type: 'counter',
        help: 'Client connections closed when accepted because a connection cap was reached, by cap.',
        samples: [
          { labels: { reason: 'total' }, value: connections.refusedTotal },
          { labels: { reason: 'per_address' }, value: connections.refusedPerAddress },
        ],
      },
      gauge('starling_proxy_queued_requests', 'Requests waiting because every machine is at hard_limit.', [{ value: this.queued }]),
      this.retries.family(),
      this.replays.family(),
      this.replayFailures.family(),
      this.autostarts.family(),
      this.autostops.family(),
      this.responseIdle.family(),
      this.rejected.family(),
      this.reloads.family(),
      this.tcp.family(),
      this.udp.family(),
      gauge(
        'starling_proxy_machine_inflight',
        'Requests in flight per machine.',
        machines.map((m) => ({ labels: { app: m.app, machine: m.machine, region: m.region }, value: m.inflight })),
      ),
    ];
  }

  /** The exposition text of every family. */
  render(machines: readonly MachineGauge[], connections: ConnectionCounts = NO_REFUSALS): string {
    return renderExposition(this.families(machines, connections));
  }
}
