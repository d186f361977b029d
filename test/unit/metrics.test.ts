/**
 * The one exposition writer: label values and help text are escaped so no value can break the
 * text, histograms are cumulative with +Inf, several workers' texts add up, and the naming
 * scheme refuses what docs/metrics.md forbids.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Counter, Histogram, MetricsRegistry, renderExposition, schemeProblems, sumExpositions, gauge } from '../../src/shared/index.js';

describe('the exposition writer', () => {
  it('escapes backslash, double quote and newline in label values, and in help text', () => {
    const text = renderExposition([gauge('starling_proxy_things', 'Things.\nSecond line \\ done', [{ labels: { app: 'a"b\\c\nd' }, value: 1 }])]);
    assert.equal(text, '# HELP starling_proxy_things Things.\\nSecond line \\\\ done\n# TYPE starling_proxy_things gauge\nstarling_proxy_things{app="a\\"b\\\\c\\nd"} 1\n');
    // One sample line per sample: an injected newline never makes a second series.
    assert.equal(text.split('\n').filter((l) => l.startsWith('starling_proxy_things{')).length, 1);
  });

  it('counts by label values and renders a counter family', () => {
    const c = new Counter('starling_control_http_requests_total', 'Requests.', ['method', 'status']);
    c.inc(['GET', '200']);
    c.inc(['GET', '200']);
    c.inc(['POST', '401']);
    assert.equal(c.get(['GET', '200']), 2);
    assert.deepEqual(renderExposition([c.family()]).split('\n').slice(2, 4), [
      'starling_control_http_requests_total{method="GET",status="200"} 2',
      'starling_control_http_requests_total{method="POST",status="401"} 1',
    ]);
  });

  it('renders a histogram with cumulative buckets, +Inf, sum and count', () => {
    const h = new Histogram('starling_proxy_upstream_latency_seconds', 'Latency.', ['app'], [0.1, 1]);
    h.observe(['web'], 0.05);
    h.observe(['web'], 0.5);
    h.observe(['web'], 5);
    const lines = renderExposition([h.family()]).trim().split('\n').slice(2);
    assert.deepEqual(lines, [
      'starling_proxy_upstream_latency_seconds_bucket{app="web",le="0.1"} 1',
      'starling_proxy_upstream_latency_seconds_bucket{app="web",le="1"} 2',
      'starling_proxy_upstream_latency_seconds_bucket{app="web",le="+Inf"} 3',
      'starling_proxy_upstream_latency_seconds_sum{app="web"} 5.55',
      'starling_proxy_upstream_latency_seconds_count{app="web"} 3',
    ]);
  });

  it("adds up workers' texts series by series, keeping HELP and TYPE once", () => {
    const one = renderExposition([gauge('starling_proxy_open_connections', 'Open.', [{ value: 2 }]), gauge('starling_proxy_machine_inflight', 'In flight.', [{ labels: { app: 'a b' }, value: 1 }])]);
    const two = renderExposition([gauge('starling_proxy_open_connections', 'Open.', [{ value: 3 }])]);
    assert.equal(
      sumExpositions([one, two]),
      '# HELP starling_proxy_open_connections Open.\n# TYPE starling_proxy_open_connections gauge\nstarling_proxy_open_connections 5\n' +
        '# HELP starling_proxy_machine_inflight In flight.\n# TYPE starling_proxy_machine_inflight gauge\nstarling_proxy_machine_inflight{app="a b"} 1\n',
    );
  });

  it('leaves a failing collector out of the scrape and says so', async () => {
    const r = new MetricsRegistry();
    const failures: unknown[] = [];
    r.add(
      () => [gauge('starling_agent_up', 'Up.', [{ value: 1 }])],
      () => Promise.reject(new Error('BIRD is gone')),
      () => 'starling_bgp_healthy 1\n',
    );
    assert.equal(await r.text((e) => failures.push(e)), '# HELP starling_agent_up Up.\n# TYPE starling_agent_up gauge\nstarling_agent_up 1\nstarling_bgp_healthy 1\n');
    assert.equal(failures.length, 1);
  });
});

describe('the naming scheme', () => {
  const f = (name: string, type: 'counter' | 'gauge' | 'histogram', labels: Record<string, string> = {}) => ({ name, type, help: 'h', samples: [{ labels, value: 1 }] });
  it('accepts starling_<part>_<what>, counters ending in _total', () => {
    assert.deepEqual(schemeProblems(f('starling_proxy_requests_total', 'counter', { app: 'x' })), []);
    assert.deepEqual(schemeProblems(f('starling_control_apps', 'gauge')), []);
  });
  it('refuses other prefixes and parts, a counter without _total, a gauge with it, non-base units and bad labels', () => {
    assert.equal(schemeProblems(f('proxy_requests_total', 'counter')).length, 1);
    assert.equal(schemeProblems(f('starling_web_requests_total', 'counter')).length, 1);
    assert.match(schemeProblems(f('starling_proxy_requests', 'counter')).join(), /ends in _total/);
    assert.match(schemeProblems(f('starling_proxy_open_total', 'gauge')).join(), /only a counter/);
    assert.match(schemeProblems(f('starling_proxy_latency_ms', 'gauge')).join(), /base units/);
    assert.match(schemeProblems(f('starling_proxy_things', 'gauge', { 'App-Name': 'x' })).join(), /snake_case/);
    assert.match(schemeProblems(f('starling_proxy_things', 'gauge', { le: '1' })).join(), /histogram/);
  });
});
