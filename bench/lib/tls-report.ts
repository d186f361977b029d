/**
 * bench:tls's report: the best round per proxy and test, each proxy's spread over its rounds, the
 * ratios against nginx and Caddy (the platform case against the aims), and the printed
 * tables. Pure formatting of what tls.ts measured.
 */
import type { IndexResult } from './cert-index-child.js';
import type { GcSummary } from './node-diag.js';
import { TLS_PROXIES, type TlsOptions, type TlsProxy } from './tls-args.js';
import { fmtBytes, fmtInt, fmtMs, round3, spreadPct, table } from './util.js';

/** The aims for the platform case, as multiples of nginx's req/s (higher is better). */
export const PLATFORM_AIMS = { handshakes: 0.9, keepalive: 0.5 } as const;
export const WRK_TESTS = ['handshakes', 'keepalive'] as const;
export type WrkTest = (typeof WRK_TESTS)[number];

export interface Run {
  test: WrkTest;
  proxy: TlsProxy;
  round: number;
  /** Requests per second; for `handshakes` that is also new TLS connections (full handshakes) per second. */
  rps: number;
  p99_ms: number;
  /** Non-2xx responses plus socket errors (connect/read/write/timeout) wrk counted. */
  errors: number;
  /** The proxy's CPU time during the run ÷ the run's wall time, in % of one core (null without /proc). */
  proxy_cpu_pct: number | null;
  /** The proxy's CPU time per completed request, in µs (null without /proc). */
  proxy_cpu_us_per_req: number | null;
  /** Starling's (or the agent's) GC during the measured run, with --trace-gc; null otherwise. */
  gc: GcSummary | null;
}

export interface Best {
  rps: number;
  p99_ms: number;
  proxy_cpu_pct: number | null;
  proxy_cpu_us_per_req: number | null;
}

// ---------------------------------------------------------------------------------------------
// Report

/** Best of the rounds: the round with the highest req/s, with that round's p99. */
export function best(runs: Run[], test: WrkTest, proxy: TlsProxy): Best | null {
  const mine = runs.filter((r) => r.test === test && r.proxy === proxy);
  if (mine.length === 0) return null;
  const top = mine.reduce((a, b) => (b.rps > a.rps ? b : a));
  return { rps: top.rps, p99_ms: top.p99_ms, proxy_cpu_pct: top.proxy_cpu_pct, proxy_cpu_us_per_req: top.proxy_cpu_us_per_req };
}

/** (max − min) / median of req/s over the rounds, in %; null when the proxy did not run. */
function spread(runs: Run[], test: WrkTest, proxy: TlsProxy): number | null {
  const rps = runs.filter((r) => r.test === test && r.proxy === proxy).map((r) => r.rps);
  return rps.length === 0 ? null : spreadPct(rps);
}

export interface TestSummary {
  starling: Best | null;
  nginx: Best | null;
  /** Starling's req/s ÷ nginx's (higher is better for Starling). */
  ratio_vs_nginx: number | null;
  /** Starling's p99 ÷ nginx's (lower is better for Starling). */
  p99_ratio_vs_nginx: number | null;
  /** Starling's CPU time per request ÷ nginx's (lower is better for Starling). */
  cpu_per_req_ratio_vs_nginx: number | null;
  /** Caddy (null when it did not run or is not installed), and the same three ratios against it. */
  caddy: Best | null;
  ratio_vs_caddy: number | null;
  p99_ratio_vs_caddy: number | null;
  cpu_per_req_ratio_vs_caddy: number | null;
  /** The platform case: an agent serving the control plane's certificate (null when it did not run). */
  platform: Best | null;
  /** The same three ratios for the platform case against nginx. */
  platform_ratio_vs_nginx: number | null;
  platform_p99_ratio_vs_nginx: number | null;
  platform_cpu_per_req_ratio_vs_nginx: number | null;
  platform_ratio_vs_caddy: number | null;
  platform_p99_ratio_vs_caddy: number | null;
  platform_cpu_per_req_ratio_vs_caddy: number | null;
  /** Each proxy's (max − min) / median of req/s over its rounds, in % (null: not run). */
  spread_pct: Record<TlsProxy, number | null>;
  /** The aim for platform_ratio_vs_nginx, and whether this run met it (null: not measured). */
  platform_aim_vs_nginx: number;
  platform_met: boolean | null;
}

interface Ratios {
  rps: number | null;
  p99: number | null;
  cpu: number | null;
}

/** `a` against `b`: req/s, p99 and CPU per request, each a ÷ b (null when either is missing). */
function ratios(a: Best | null, b: Best | null): Ratios {
  if (a === null || b === null) return { rps: null, p99: null, cpu: null };
  return {
    rps: b.rps > 0 ? round3(a.rps / b.rps) : null,
    p99: b.p99_ms > 0 ? round3(a.p99_ms / b.p99_ms) : null,
    cpu: a.proxy_cpu_us_per_req !== null && b.proxy_cpu_us_per_req !== null && b.proxy_cpu_us_per_req > 0 ? round3(a.proxy_cpu_us_per_req / b.proxy_cpu_us_per_req) : null,
  };
}

export function summarize(runs: Run[], test: WrkTest): TestSummary | null {
  if (!runs.some((r) => r.test === test)) return null;
  const starling = best(runs, test, 'starling');
  const nginx = best(runs, test, 'nginx');
  const caddy = best(runs, test, 'caddy');
  const platform = best(runs, test, 'platform');
  const s = ratios(starling, nginx);
  const p = ratios(platform, nginx);
  const sc = ratios(starling, caddy);
  const pc = ratios(platform, caddy);
  return {
    starling,
    nginx,
    ratio_vs_nginx: s.rps,
    p99_ratio_vs_nginx: s.p99,
    cpu_per_req_ratio_vs_nginx: s.cpu,
    caddy,
    ratio_vs_caddy: sc.rps,
    p99_ratio_vs_caddy: sc.p99,
    cpu_per_req_ratio_vs_caddy: sc.cpu,
    platform,
    platform_ratio_vs_nginx: p.rps,
    platform_p99_ratio_vs_nginx: p.p99,
    platform_cpu_per_req_ratio_vs_nginx: p.cpu,
    platform_ratio_vs_caddy: pc.rps,
    platform_p99_ratio_vs_caddy: pc.p99,
    platform_cpu_per_req_ratio_vs_caddy: pc.cpu,
    spread_pct: Object.fromEntries(TLS_PROXIES.map((px) => [px, spread(runs, test, px)])) as Record<TlsProxy, number | null>,
    platform_aim_vs_nginx: PLATFORM_AIMS[test],
    platform_met: p.rps === null ? null : p.rps >= PLATFORM_AIMS[test],
  };
}

const SUMMARY_LINE: Record<WrkTest, string> = {
  handshakes: 'new TLS 1.3 handshakes/s',
  keepalive: 'req/s over kept-alive TLS',
};

/** Below this share of one core, a proxy was not what limited the run. */
const SATURATED_PCT = 85;

const fmtPct = (n: number | null) => (n === null ? '-' : `${n.toFixed(0)}%`);
const fmtUs = (n: number | null) => (n === null ? '-' : fmtInt(n));

/** One "a / b" line: req/s, p99 and CPU per request ratios (with the platform's aim against nginx). */
function ratioLine(subject: 'starling' | 'platform', peer: 'nginx' | 'caddy', test: WrkTest, s: TestSummary, notInstalled: TlsProxy[]): string {
  const label = `${subject} / ${peer}, ${SUMMARY_LINE[test]}`;
  if (notInstalled.includes(peer)) return `${label}: - (${peer} is not installed: apt-get install -y ${peer}, or npm run setup)`;
  const key = subject === 'starling' ? '' : 'platform_';
  const rps = s[`${key}ratio_vs_${peer}`];
  const p99 = s[`${key}p99_ratio_vs_${peer}`];
  const c = s[`${key}cpu_per_req_ratio_vs_${peer}`];
  if (rps === null || p99 === null) return `${label}: - (needs both proxies)`;
  const cpu = c === null ? '' : `; proxy CPU per request ${c.toFixed(2)}× (lower is better)`;
  const aim = subject === 'platform' && peer === 'nginx' ? `; aim ≥ ${s.platform_aim_vs_nginx.toFixed(1)}× ${s.platform_met ? '✓' : '✗'}` : '';
  return `${label}: ${rps.toFixed(2)}× (higher is better${aim}); p99 latency ${p99.toFixed(2)}× (lower is better)${cpu}`;
}

export function printWrk(opts: TlsOptions, runs: Run[], summary: Record<WrkTest, TestSummary | null>, heading: string[], notInstalled: TlsProxy[]): void {
  const anyErrors = runs.some((r) => r.errors > 0);
  const anyGc = runs.some((r) => r.gc !== null);
  console.log(heading.join('\n'));
  console.log('');
  const head = ['test', 'proxy', 'round', 'req/s', 'p99 ms', 'proxy CPU', 'CPU µs/req', ...(anyGc ? ['GC ms', 'GC pauses'] : []), ...(anyErrors ? ['errors'] : [])];
  const rows = runs.map((r) => [
    r.test,
    r.proxy,
    String(r.round),
    fmtInt(r.rps),
    fmtMs(r.p99_ms),
    fmtPct(r.proxy_cpu_pct),
    fmtUs(r.proxy_cpu_us_per_req),
    ...(anyGc ? [r.gc ? r.gc.total_ms.toFixed(0) : '-', r.gc ? String(r.gc.scavenges + r.gc.mark_compacts) : '-'] : []),
    ...(anyErrors ? [String(r.errors)] : []),
  ]);
  console.log(table(head, rows, [false, false, true, true, true, true, true, true, true, true]));
  console.log('');
  console.log(`best of ${opts.rounds} round${opts.rounds === 1 ? '' : 's'} (the round with the highest req/s, with that round's other numbers):`);
  const srows: string[][] = [];
  for (const test of WRK_TESTS) {
    const s = summary[test];
    if (!s) continue;
    for (const proxy of opts.proxies) {
      const b = best(runs, test, proxy);
      if (!b) continue;
      const perRound = runs.filter((r) => r.test === test && r.proxy === proxy).map((r) => fmtInt(r.rps));
      const sp = s.spread_pct[proxy];
      srows.push([
        test,
        proxy,
        fmtInt(b.rps),
        fmtMs(b.p99_ms),
        fmtPct(b.proxy_cpu_pct),
        fmtUs(b.proxy_cpu_us_per_req),
        perRound.join(' / '),
        sp === null ? '-' : `${sp.toFixed(1)}%`,
      ]);
    }
  }
  console.log(
    table(['test', 'proxy', 'req/s', 'p99 ms', 'proxy CPU', 'CPU µs/req', 'req/s per round', 'spread'], srows, [false, false, true, true, true, true, true, true]),
  );
  console.log('(handshakes: every request is a new connection, so req/s = full TLS handshakes per second;');
  console.log(' proxy CPU: its CPU time over the run, in % of one core; CPU µs/req: that time per request;');
  console.log(" spread: (max − min) / median of the rounds' req/s; above ~10% the machine or the proxy was unsteady)");
  console.log('');
  const subjects = (['starling', 'platform'] as const).filter((p) => opts.proxies.includes(p));
  for (const subject of subjects) {
    for (const peer of ['nginx', 'caddy'] as const) {
      for (const test of WRK_TESTS) {
        const s = summary[test];
        if (s) console.log(ratioLine(subject, peer, test, s, notInstalled));
      }
    }
  }
  const idle = runs.filter((r) => r.proxy_cpu_pct !== null && r.proxy_cpu_pct < SATURATED_PCT);
  if (idle.length > 0) {
    const which = [...new Set(idle.map((r) => `${r.proxy} ${r.test}`))].join(', ');
    console.log(
      `note: the proxy used less than ${SATURATED_PCT}% of a core in some runs (${which}): there, req/s was limited by wrk ` +
        `(which makes a full handshake of its own per connection) or by other processes on the CPUs, not by the proxy. ` +
        `CPU µs per request compares the proxies' cost regardless.`,
    );
  }
}

export function printIndex(r: IndexResult): void {
  const m = r.memory;
  const perCert = m.certificates.heap_bytes / r.names;
  console.log(`certificate index: Starling's CertificateIndex.from() over ${fmtInt(r.names)} certificates, one name each`);
  console.log(`  (one ${r.certificate.key} certificate and key for all, each with its own copy of the PEM text: ${r.certificate.cert_pem_bytes} + ${r.certificate.key_pem_bytes} bytes)`);
  console.log(
    table(
      ['', 'heap', 'RSS', 'heap per name'],
      [
        ['certificates, as the store returns them', fmtBytes(m.certificates.heap_bytes), fmtBytes(m.certificates.rss_bytes), fmtBytes(perCert)],
        ['the index on top of them', fmtBytes(m.index.heap_bytes), fmtBytes(m.index.rss_bytes), fmtBytes(m.index.heap_bytes_per_name)],
      ],
      [false, true, true, true],
    ).replace(/^/gm, '  '),
  );
  console.log(`  building the index: ${r.build_ms.toFixed(1)} ms (best of ${r.rounds})`);
  console.log(
    `  SNI lookup (index.lookup, best of ${r.rounds} passes of ${fmtInt(r.lookups)} random names): ` +
      `${fmtInt(r.lookup_ns.hit)} ns known name, ${fmtInt(r.lookup_ns.miss)} ns unknown name, ` +
      `${fmtInt(r.lookup_ns.mixed)} ns mixed (${Math.round(r.mixed_hit_share * 100)}% known)`,
  );
  const allS = (r.context.create_us * r.names) / 1e6;
  const allBytes = r.context.rss_bytes_each * r.names;
  console.log(
    `  TLS contexts are created lazily, on the first lookup of each certificate: building the index made ${r.contexts_after_build}.`,
  );
  console.log(
    `  One costs ~${fmtInt(r.context.create_us)} µs and ~${fmtBytes(r.context.rss_bytes_each)} of RSS when it is made ` +
      `(measured over ${r.context.sample}); all ${fmtInt(r.names)} up front would take ~${allS.toFixed(0)} s and ~${fmtBytes(allBytes)}.`,
  );
}

