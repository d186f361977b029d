/**
 * The proxy's metrics on the shared instruments: the text /metrics answers is exactly what the
 * proxy's own renderer wrote before the port, plus the families added since (names, labels, order, values; docs/metrics.md and
 * dashboards rely on them), and every family passes the naming scheme.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProxyMetrics } from '../../src/proxy/observe/index.js';
import { schemeProblems } from '../../src/shared/index.js';

/** A little of everything the request path records, escaping included. */
function recorded(): ProxyMetrics {
  const m = new ProxyMetrics();
  m.connectionOpened();
  m.connectionOpened();
  m.connectionOpened();
  m.connectionClosed();
  m.queuedNow(3);
  m.queuedNow(2);
  m.routesReloaded(true);
  m.routesReloaded(true);
  m.routesReloaded(false);
  m.request('shop', 'fra', 200);
  m.request('shop', 'fra', 200);
  m.request('', 'fra', 404);
  m.request('we"ird\\app\n', 'ams', 502);
  for (const s of [0.0005, 0.001, 0.003, 0.2, 7, 12]) m.upstreamLatency('shop', s);
  m.upstreamLatency('api', 0.04);
  m.autostart('shop');
  m.autostop('shop');
  m.autostop('api');
  m.retry('shop');
  m.retry('shop');
  m.replay('rep');
  m.replayFailed('rep', 'body_too_large');
  m.replayFailed('rep', 'region_unavailable');
  m.rejectedRequest('obs_fold');
  m.rejectedRequest('obs_fold');
  m.rejectedRequest('h2_rapid_reset');
  m.responseIdleTimeout('shop');
  m.tcpConnection('db', 'proxied');
  m.tcpConnection('db', 'proxied');
  m.tcpConnection('db', 'client_proxy_header');
  m.udpFlow('dns', 'proxied');
  return m;
}

const MACHINES = [
  { app: 'shop', machine: 'shop-fra', region: 'fra', inflight: 2 },
  { app: 'api', machine: 'api-1', region: 'ams', inflight: 0 },
];

describe('the proxy metrics', () => {
  it('render what the proxy has always answered, byte for byte', () => {
    assert.equal(
      recorded().render(MACHINES, { refusedTotal: 4, refusedPerAddress: 1 }),
    '# HELP starling_proxy_requests_total Requests answered, by app, machine region and status.\n' +
    '# TYPE starling_proxy_requests_total counter\n' +
    'starling_proxy_requests_total{app="shop",region="fra",status="200"} 2\n' +
    'starling_proxy_requests_total{app="",region="fra",status="404"} 1\n' +
    'starling_proxy_requests_total{app="we\\"ird\\\\app\\n",region="ams",status="502"} 1\n' +
    '# HELP starling_proxy_upstream_latency_seconds Time from sending a request to a machine to its response head.\n' +
    '# TYPE starling_proxy_upstream_latency_seconds histogram\n' +
    'starling_proxy_upstream_latency_seconds_bucket{app="shop",le="0.001"} 2\n' +
    'starling_proxy_upstream_latency_seconds_bucket{app="shop",le="0.0025"} 2\n' +
    'starling_proxy_upstream_latency_seconds_bucket{app="shop",le="0.005"} 3\n' +
    'starling_proxy_upstream_latency_seconds_bucket{app="shop",le="0.01"} 3\n' +
    'starling_proxy_upstream_latency_seconds_bucket{app="shop",le="0.025"} 3\n' +
    'starling_proxy_upstream_latency_seconds_bucket{app="shop",le="0.05"} 3\n' +
    'starling_proxy_upstream_latency_seconds_bucket{app="shop",le="0.1"} 3\n' +
    'starling_proxy_upstream_latency_seconds_bucket{app="shop",le="0.25"} 4\n' +
    'starling_proxy_upstream_latency_seconds_bucket{app="shop",le="0.5"} 4\n' +
    'starling_proxy_upstream_latency_seconds_bucket{app="shop",le="1"} 4\n' +
    'starling_proxy_upstream_latency_seconds_bucket{app="shop",le="2.5"} 4\n' +
    'starling_proxy_upstream_latency_seconds_bucket{app="shop",le="5"} 4\n' +
    'starling_proxy_upstream_latency_seconds_bucket{app="shop",le="10"} 5\n' +
    'starling_proxy_upstream_latency_seconds_bucket{app="shop",le="+Inf"} 6\n' +
    'starling_proxy_upstream_latency_seconds_sum{app="shop"} 19.2045\n' +
    'starling_proxy_upstream_latency_seconds_count{app="shop"} 6\n' +
    'starling_proxy_upstream_latency_seconds_bucket{app="api",le="0.001"} 0\n' +
    'starling_proxy_upstream_latency_seconds_bucket{app="api",le="0.0025"} 0\n' +
    'starling_proxy_upstream_latency_seconds_bucket{app="api",le="0.005"} 0\n' +
    'starling_proxy_upstream_latency_seconds_bucket{app="api",le="0.01"} 0\n' +
    'starling_proxy_upstream_latency_seconds_bucket{app="api",le="0.025"} 0\n' +
    'starling_proxy_upstream_latency_seconds_bucket{app="api",le="0.05"} 1\n' +
    'starling_proxy_upstream_latency_seconds_bucket{app="api",le="0.1"} 1\n' +
    'starling_proxy_upstream_latency_seconds_bucket{app="api",le="0.25"} 1\n' +
    'starling_proxy_upstream_latency_seconds_bucket{app="api",le="0.5"} 1\n' +
    'starling_proxy_upstream_latency_seconds_bucket{app="api",le="1"} 1\n' +
    'starling_proxy_upstream_latency_seconds_bucket{app="api",le="2.5"} 1\n' +
    'starling_proxy_upstream_latency_seconds_bucket{app="api",le="5"} 1\n' +
    'starling_proxy_upstream_latency_seconds_bucket{app="api",le="10"} 1\n' +
    'starling_proxy_upstream_latency_seconds_bucket{app="api",le="+Inf"} 1\n' +
    'starling_proxy_upstream_latency_seconds_sum{app="api"} 0.04\n' +
    'starling_proxy_upstream_latency_seconds_count{app="api"} 1\n' +
    '# HELP starling_proxy_open_connections Client connections open now.\n' +
    '# TYPE starling_proxy_open_connections gauge\n' +
    'starling_proxy_open_connections 2\n' +
    '# HELP starling_proxy_connections_refused_total Client connections closed when accepted because a connection cap was reached, by cap.\n' +
    '# TYPE starling_proxy_connections_refused_total counter\n' +
    'starling_proxy_connections_refused_total{reason="total"} 4\n' +
    'starling_proxy_connections_refused_total{reason="per_address"} 1\n' +
    '# HELP starling_proxy_queued_requests Requests waiting because every machine is at hard_limit.\n' +
    '# TYPE starling_proxy_queued_requests gauge\n' +
    'starling_proxy_queued_requests 2\n' +
    '# HELP starling_proxy_retries_total Requests sent to another machine after a failure.\n' +
    '# TYPE starling_proxy_retries_total counter\n' +
    'starling_proxy_retries_total{app="shop"} 2\n' +
    '# HELP starling_proxy_replays_total Requests replayed on a replay header.\n' +
    '# TYPE starling_proxy_replays_total counter\n' +
    'starling_proxy_replays_total{app="rep"} 1\n' +
    '# HELP starling_proxy_replay_failures_total Replays that could not be done, by reason.\n' +
    '# TYPE starling_proxy_replay_failures_total counter\n' +
    'starling_proxy_replay_failures_total{app="rep",reason="body_too_large"} 1\n' +
    'starling_proxy_replay_failures_total{app="rep",reason="region_unavailable"} 1\n' +
    '# HELP starling_proxy_autostarts_total Stopped machines started for a request.\n' +
    '# TYPE starling_proxy_autostarts_total counter\n' +
    'starling_proxy_autostarts_total{app="shop"} 1\n' +
    '# HELP starling_proxy_autostops_total Machines stopped because the load did not need them.\n' +
    '# TYPE starling_proxy_autostops_total counter\n' +
    'starling_proxy_autostops_total{app="shop"} 1\n' +
    'starling_proxy_autostops_total{app="api"} 1\n' +
    '# HELP starling_proxy_response_idle_timeouts_total Responses cut off because the machine stopped sending the body.\n' +
    '# TYPE starling_proxy_response_idle_timeouts_total counter\n' +
    'starling_proxy_response_idle_timeouts_total{app="shop"} 1\n' +
    '# HELP starling_proxy_rejected_requests_total Requests refused before routing, by reason.\n' +
    '# TYPE starling_proxy_rejected_requests_total counter\n' +
    'starling_proxy_rejected_requests_total{reason="obs_fold"} 2\n' +
    'starling_proxy_rejected_requests_total{reason="h2_rapid_reset"} 1\n' +
    '# HELP starling_proxy_routes_reloads_total Routes file reloads, by result.\n' +
    '# TYPE starling_proxy_routes_reloads_total counter\n' +
    'starling_proxy_routes_reloads_total{result="ok"} 2\n' +
    'starling_proxy_routes_reloads_total{result="invalid"} 1\n' +
    '# HELP starling_proxy_tcp_connections_total Connections to TCP services, by app and outcome.\n' +
    '# TYPE starling_proxy_tcp_connections_total counter\n' +
    'starling_proxy_tcp_connections_total{app="db",outcome="proxied"} 2\n' +
    'starling_proxy_tcp_connections_total{app="db",outcome="client_proxy_header"} 1\n' +
    '# HELP starling_proxy_udp_flows_total UDP service flows ended, and datagrams dropped, by app and outcome.\n' +
    '# TYPE starling_proxy_udp_flows_total counter\n' +
    'starling_proxy_udp_flows_total{app="dns",outcome="proxied"} 1\n' +
    '# HELP starling_proxy_machine_inflight Requests in flight per machine.\n' +
    '# TYPE starling_proxy_machine_inflight gauge\n' +
    'starling_proxy_machine_inflight{app="shop",machine="shop-fra",region="fra"} 2\n' +
    'starling_proxy_machine_inflight{app="api",machine="api-1",region="ams"} 0\n',
    );
  });

  it('show every family, and the fixed series at 0, before anything happened', () => {
    assert.equal(
      new ProxyMetrics().render([]),
    '# HELP starling_proxy_requests_total Requests answered, by app, machine region and status.\n' +
    '# TYPE starling_proxy_requests_total counter\n' +
    '# HELP starling_proxy_upstream_latency_seconds Time from sending a request to a machine to its response head.\n' +
    '# TYPE starling_proxy_upstream_latency_seconds histogram\n' +
    '# HELP starling_proxy_open_connections Client connections open now.\n' +
    '# TYPE starling_proxy_open_connections gauge\n' +
    'starling_proxy_open_connections 0\n' +
    '# HELP starling_proxy_connections_refused_total Client connections closed when accepted because a connection cap was reached, by cap.\n' +
    '# TYPE starling_proxy_connections_refused_total counter\n' +
    'starling_proxy_connections_refused_total{reason="total"} 0\n' +
    'starling_proxy_connections_refused_total{reason="per_address"} 0\n' +
    '# HELP starling_proxy_queued_requests Requests waiting because every machine is at hard_limit.\n' +
    '# TYPE starling_proxy_queued_requests gauge\n' +
    'starling_proxy_queued_requests 0\n' +
    '# HELP starling_proxy_retries_total Requests sent to another machine after a failure.\n' +
    '# TYPE starling_proxy_retries_total counter\n' +
    '# HELP starling_proxy_replays_total Requests replayed on a replay header.\n' +
    '# TYPE starling_proxy_replays_total counter\n' +
    '# HELP starling_proxy_replay_failures_total Replays that could not be done, by reason.\n' +
    '# TYPE starling_proxy_replay_failures_total counter\n' +
    '# HELP starling_proxy_autostarts_total Stopped machines started for a request.\n' +
    '# TYPE starling_proxy_autostarts_total counter\n' +
    '# HELP starling_proxy_autostops_total Machines stopped because the load did not need them.\n' +
    '# TYPE starling_proxy_autostops_total counter\n' +
    '# HELP starling_proxy_response_idle_timeouts_total Responses cut off because the machine stopped sending the body.\n' +
    '# TYPE starling_proxy_response_idle_timeouts_total counter\n' +
    '# HELP starling_proxy_rejected_requests_total Requests refused before routing, by reason.\n' +
    '# TYPE starling_proxy_rejected_requests_total counter\n' +
    '# HELP starling_proxy_routes_reloads_total Routes file reloads, by result.\n' +
    '# TYPE starling_proxy_routes_reloads_total counter\n' +
    'starling_proxy_routes_reloads_total{result="ok"} 0\n' +
    'starling_proxy_routes_reloads_total{result="invalid"} 0\n' +
    '# HELP starling_proxy_tcp_connections_total Connections to TCP services, by app and outcome.\n' +
    '# TYPE starling_proxy_tcp_connections_total counter\n' +
    '# HELP starling_proxy_udp_flows_total UDP service flows ended, and datagrams dropped, by app and outcome.\n' +
    '# TYPE starling_proxy_udp_flows_total counter\n' +
    '# HELP starling_proxy_machine_inflight Requests in flight per machine.\n' +
    '# TYPE starling_proxy_machine_inflight gauge\n',
    );
  });

  it('follow the naming scheme, family by family', () => {
    const families = recorded().families(MACHINES);
    assert.equal(families.length, 16);
    for (const f of families) assert.deepEqual(schemeProblems(f), [], f.name);
  });
});
