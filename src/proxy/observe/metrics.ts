/**
 * The proxy's Prometheus metrics, kept as plain counters on the request path and rendered to the
 * text exposition format only when /metrics is scraped.
 */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface Histogram {
  counts: number[];
  sum: number;
  count: number;
}

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

export class ProxyMetrics {
  /** key: app \t region \t status */
  private readonly requests = new Map<string, number>();
  private readonly latency = new Map<string, Histogram>();
  private readonly retries = new Map<string, number>();
  private readonly replays = new Map<string, number>();
  private readonly replayFailures = new Map<string, number>();
  private readonly rejected = new Map<string, number>();
  private readonly responseIdle = new Map<string, number>();
  openConnections = 0;
  queued = 0;
  reloadsOk = 0;
  reloadsFailed = 0;

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
    if (ok) this.reloadsOk++;
    else this.reloadsFailed++;
  }

  request(app: string, region: string, status: number): void {
    const key = `${app}\t${region}\t${status}`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
  }

  upstreamLatency(app: string, seconds: number): void {
    let h = this.latency.get(app);
    if (!h) {
      h = { counts: LATENCY_BUCKETS.map(() => 0), sum: 0, count: 0 };
      this.latency.set(app, h);
    }
    h.sum += seconds;
    h.count++;
    for (let i = 0; i < LATENCY_BUCKETS.length; i++) {
      if (seconds <= LATENCY_BUCKETS[i]!) {
        h.counts[i]!++;
        break;
      }
    }
  }

  private readonly autostarts = new Map<string, number>();
  private readonly autostops = new Map<string, number>();

  autostart(app: string): void {
    this.autostarts.set(app, (this.autostarts.get(app) ?? 0) + 1);
  }
  autostop(app: string): void {
    this.autostops.set(app, (this.autostops.get(app) ?? 0) + 1);
  }

  retry(app: string): void {
    this.retries.set(app, (this.retries.get(app) ?? 0) + 1);
  }
  replay(app: string): void {
    this.replays.set(app, (this.replays.get(app) ?? 0) + 1);
  }
  replayFailed(app: string, reason: string): void {
    const key = `${app}\t${reason}`;
    this.replayFailures.set(key, (this.replayFailures.get(key) ?? 0) + 1);
  }
  /** A request refused before routing (malformed, too large, timed out): by reason code. */
  rejectedRequest(reason: string): void {
    this.rejected.set(reason, (this.rejected.get(reason) ?? 0) + 1);
  }

  /** A machine stopped sending its response body for response_idle_timeout: it was cut off. */
  responseIdleTimeout(app: string): void {
    this.responseIdle.set(app, (this.responseIdle.get(app) ?? 0) + 1);
  }

  render(machines: readonly MachineGauge[], connections: ConnectionCounts = { refusedTotal: 0, refusedPerAddress: 0 }): string {
    const out: string[] = [];
    family(out, 'starling_proxy_requests_total', 'counter', 'Requests answered, by app, machine region and status.');
    for (const [k, v] of this.requests) {
      const [app, region, status] = k.split('\t');
      out.push(`starling_proxy_requests_total{app="${esc(app)}",region="${esc(region)}",status="${status}"} ${v}`);
    }
    family(out, 'starling_proxy_upstream_latency_seconds', 'histogram', 'Time from sending a request to a machine to its response head.');
    for (const [app, h] of this.latency) {
      let cum = 0;
      LATENCY_BUCKETS.forEach((b, i) => {
        cum += h.counts[i]!;
        out.push(`starling_proxy_upstream_latency_seconds_bucket{app="${esc(app)}",le="${b}"} ${cum}`);
      });
      out.push(`starling_proxy_upstream_latency_seconds_bucket{app="${esc(app)}",le="+Inf"} ${h.count}`);
      out.push(`starling_proxy_upstream_latency_seconds_sum{app="${esc(app)}"} ${h.sum}`);
      out.push(`starling_proxy_upstream_latency_seconds_count{app="${esc(app)}"} ${h.count}`);
    }
    family(out, 'starling_proxy_open_connections', 'gauge', 'Client connections open now.');
    out.push(`starling_proxy_open_connections ${this.openConnections}`);
    family(out, 'starling_proxy_connections_refused_total', 'counter', 'Client connections closed when accepted because a connection cap was reached, by cap.');
    out.push(`starling_proxy_connections_refused_total{reason="total"} ${connections.refusedTotal}`);
    out.push(`starling_proxy_connections_refused_total{reason="per_address"} ${connections.refusedPerAddress}`);
    family(out, 'starling_proxy_queued_requests', 'gauge', 'Requests waiting because every machine is at hard_limit.');
    out.push(`starling_proxy_queued_requests ${this.queued}`);
    labelled(out, 'starling_proxy_retries_total', 'Requests sent to another machine after a failure.', 'app', this.retries);
    labelled(out, 'starling_proxy_replays_total', 'Requests replayed on a replay header.', 'app', this.replays);
    family(out, 'starling_proxy_replay_failures_total', 'counter', 'Replays that could not be done, by reason.');
    for (const [k, v] of this.replayFailures) {
      const [app, reason] = k.split('\t');
      out.push(`starling_proxy_replay_failures_total{app="${esc(app)}",reason="${esc(reason)}"} ${v}`);
    }
    labelled(out, 'starling_proxy_autostarts_total', 'Stopped machines started for a request.', 'app', this.autostarts);
    labelled(out, 'starling_proxy_autostops_total', 'Machines stopped because the load did not need them.', 'app', this.autostops);
    labelled(out, 'starling_proxy_response_idle_timeouts_total', 'Responses cut off because the machine stopped sending the body.', 'app', this.responseIdle);
    labelled(out, 'starling_proxy_rejected_requests_total', 'Requests refused before routing, by reason.', 'reason', this.rejected);
    family(out, 'starling_proxy_routes_reloads_total', 'counter', 'Routes file reloads, by result.');
    out.push(`starling_proxy_routes_reloads_total{result="ok"} ${this.reloadsOk}`);
    out.push(`starling_proxy_routes_reloads_total{result="invalid"} ${this.reloadsFailed}`);
    family(out, 'starling_proxy_machine_inflight', 'gauge', 'Requests in flight per machine.');
    for (const m of machines) {
      out.push(
        `starling_proxy_machine_inflight{app="${esc(m.app)}",machine="${esc(m.machine)}",region="${esc(m.region)}"} ${m.inflight}`,
      );
    }
    return out.join('\n') + '\n';
  }
}

function family(out: string[], name: string, type: string, help: string): void {
  out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
}

function labelled(out: string[], name: string, help: string, label: string, values: Map<string, number>): void {
  family(out, name, 'counter', help);
  for (const [k, v] of values) out.push(`${name}{${label}="${esc(k)}"} ${v}`);
}

function esc(v: string | undefined): string {
  return (v ?? '').replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
