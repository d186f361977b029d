/**
 * bench:tcp's report: the best round per target and test, Starling's ratios to direct and to
 * HAProxy, the printed tables and the --json object's summary. Pure: formats what tcp.ts measured.
 */
import type { TcpOptions, TcpTarget } from './tcp-args.js';
import { TCP_TARGETS } from './tcp-args.js';
import type { ConnectEcho, Throughput } from './tcp-instruments.js';
import { fmtInt, fmtMs, round3, table } from './util.js';

export type Family = 'connect_echo' | 'proxy_proto' | 'throughput';

interface RunBase {
  target: TcpTarget;
  round: number;
  family: Family;
  /** `c1`, `c50` (connect+echo, proxy_proto); `single`, `parallel` (throughput). */
  case: string;
  /** The proxy's CPU time ÷ wall time, % of one core (null for direct, or without /proc). */
  proxy_cpu_pct: number | null;
  /** Both echo servers' CPU time ÷ wall time, % of one core. */
  echo_cpu_pct: number | null;
}
export type EchoRun = RunBase & { family: 'connect_echo' | 'proxy_proto' } & ConnectEcho;
export type StreamRun = RunBase & { family: 'throughput' } & Throughput;
export type Run = EchoRun | StreamRun;

export interface EchoBest {
  conns_s: number;
  p50_ms: number;
  p99_ms: number;
  proxy_cpu_pct: number | null;
  client_cpu_pct: number;
  /** (best − worst) / best of conns/s over the rounds. */
  rounds_differ: number;
}
export interface StreamBest {
  mib_s: number;
  slowest_mib_s: number;
  proxy_cpu_pct: number | null;
  client_cpu_pct: number;
  rounds_differ: number;
}

export interface EchoRatio {
  /** Starling's connections/s ÷ the other's (higher is better for Starling). */
  conns_s: number | null;
  /** Starling's latency ÷ the other's (lower is better for Starling). */
  p50_ms: number | null;
  p99_ms: number | null;
}

export interface CaseSummary<B, R> {
  direct: B | null;
  starling: B | null;
  haproxy: B | null;
  starling_vs_direct: R | null;
  starling_vs_haproxy: R | null;
  haproxy_vs_direct: R | null;
}
export type EchoCase = CaseSummary<EchoBest, EchoRatio>;
export type StreamCase = CaseSummary<StreamBest, { mib_s: number | null }>;

export interface Summary {
  connect_echo: Record<string, EchoCase>;
  /** null with --no-proxy-proto. */
  proxy_proto: Record<string, EchoCase> | null;
  throughput: { single: StreamCase; parallel: StreamCase };
}

const spread = (xs: number[]) => {
  const max = Math.max(...xs);
  return xs.length < 2 || max <= 0 ? 0 : round3((max - Math.min(...xs)) / max);
};
/** a / b, or null when b measured nothing (bench/README.md: a ratio that cannot be had is null). */
const ratio = (a: number, b: number): number | null => (b > 0 ? round3(a / b) : null);

function echoBest(runs: Run[], family: Family, c: string, target: TcpTarget): EchoBest | null {
  const mine = runs.filter((r): r is EchoRun => r.family === family && r.case === c && r.target === target);
  if (mine.length === 0) return null;
  const top = mine.reduce((a, b) => (b.conns_s > a.conns_s ? b : a));
  const { conns_s, p50_ms, p99_ms, proxy_cpu_pct, client_cpu_pct } = top;
  return { conns_s, p50_ms, p99_ms, proxy_cpu_pct, client_cpu_pct, rounds_differ: spread(mine.map((r) => r.conns_s)) };
}

function streamBest(runs: Run[], c: string, target: TcpTarget): StreamBest | null {
  const mine = runs.filter((r): r is StreamRun => r.family === 'throughput' && r.case === c && r.target === target);
  if (mine.length === 0) return null;
  const top = mine.reduce((a, b) => (b.mib_s > a.mib_s ? b : a));
  const { mib_s, slowest_mib_s, proxy_cpu_pct, client_cpu_pct } = top;
  return { mib_s, slowest_mib_s, proxy_cpu_pct, client_cpu_pct, rounds_differ: spread(mine.map((r) => r.mib_s)) };
}

function echoRatio(a: EchoBest | null, b: EchoBest | null): EchoRatio | null {
  if (!a || !b) return null;
  return { conns_s: ratio(a.conns_s, b.conns_s), p50_ms: ratio(a.p50_ms, b.p50_ms), p99_ms: ratio(a.p99_ms, b.p99_ms) };
}

function echoCase(runs: Run[], family: Family, c: string): EchoCase {
  const [direct, starling, haproxy] = TCP_TARGETS.map((t) => echoBest(runs, family, c, t)) as [EchoBest | null, EchoBest | null, EchoBest | null];
  return {
    direct,
    starling,
    haproxy,
    starling_vs_direct: echoRatio(starling, direct),
    starling_vs_haproxy: echoRatio(starling, haproxy),
    haproxy_vs_direct: echoRatio(haproxy, direct),
  };
}

function streamCase(runs: Run[], c: string): StreamCase {
  const [direct, starling, haproxy] = TCP_TARGETS.map((t) => streamBest(runs, c, t)) as [StreamBest | null, StreamBest | null, StreamBest | null];
  const r = (a: StreamBest | null, b: StreamBest | null) => (a && b ? { mib_s: ratio(a.mib_s, b.mib_s) } : null);
  return { direct, starling, haproxy, starling_vs_direct: r(starling, direct), starling_vs_haproxy: r(starling, haproxy), haproxy_vs_direct: r(haproxy, direct) };
}

export const caseKey = (conc: number) => `c${conc}`;

export function summarize(opts: TcpOptions, runs: Run[]): Summary {
  const byConc = (family: Family) => Object.fromEntries(opts.concurrency.map((c) => [caseKey(c), echoCase(runs, family, caseKey(c))]));
  return {
    connect_echo: byConc('connect_echo'),
    proxy_proto: opts.proxyProto ? byConc('proxy_proto') : null,
    throughput: { single: streamCase(runs, 'single'), parallel: streamCase(runs, 'parallel') },
  };
}

// ---------------------------------------------------------------------------------------------
// Text

const pct = (n: number | null) => (n === null ? '-' : `${Math.round(n)}%`);
const x = (n: number | null) => (n === null ? '–' : `${n.toFixed(2)}×`);

function echoRows(title: string, cases: Record<string, EchoCase>): string[][] {
  const rows: string[][] = [];
  for (const [c, s] of Object.entries(cases)) {
    for (const t of TCP_TARGETS) {
      const b = s[t];
      if (!b) continue;
      rows.push([`${title} ${c.replace('c', 'c=')}`, t, fmtInt(b.conns_s), fmtMs(b.p50_ms), fmtMs(b.p99_ms), pct(b.proxy_cpu_pct), pct(b.client_cpu_pct), `${(b.rounds_differ * 100).toFixed(1)}%`]);
    }
  }
  return rows;
}

function echoRatioLines(title: string, cases: Record<string, EchoCase>): string[] {
  const out: string[] = [];
  for (const [c, s] of Object.entries(cases)) {
    const parts: string[] = [];
    for (const [name, r] of [['starling/direct', s.starling_vs_direct], ['starling/haproxy', s.starling_vs_haproxy], ['haproxy/direct', s.haproxy_vs_direct]] as const) {
      if (r) parts.push(`${name} ${x(r.conns_s)} conns/s, ${x(r.p50_ms)} p50, ${x(r.p99_ms)} p99`);
    }
    if (parts.length > 0) out.push(`  ${title} ${c.replace('c', 'c=')}: ${parts.join('; ')}`);
  }
  return out;
}

export function printRuns(runs: Run[]): void {
  const rows = runs.map((r) =>
    r.family === 'throughput'
      ? [String(r.round), r.target, `throughput ${r.case}`, `${r.connections} conn`, `${r.mib_s.toFixed(1)} MiB/s`, '', '', pct(r.proxy_cpu_pct), pct(r.client_cpu_pct), String(r.errors)]
      : [String(r.round), r.target, `${r.family} ${r.case}`, '', `${fmtInt(r.conns_s)} conns/s`, fmtMs(r.p50_ms), fmtMs(r.p99_ms), pct(r.proxy_cpu_pct), pct(r.client_cpu_pct), String(r.errors)],
  );
  console.log(table(['round', 'target', 'test', '', 'rate', 'p50 ms', 'p99 ms', 'proxy CPU', 'client CPU', 'errors'], rows, [true, false, false, true, true, true, true, true, true, true]));
}

export function printSummary(opts: TcpOptions, s: Summary): void {
  console.log(`\nconnect + echo (a new connection for each 64-byte round trip), best of ${opts.rounds} rounds:`);
  const rows = [...echoRows('plain', s.connect_echo), ...(s.proxy_proto ? echoRows('proxy_proto', s.proxy_proto) : [])];
  console.log(table(['test', 'target', 'conns/s', 'p50 ms', 'p99 ms', 'proxy CPU', 'client CPU', 'rounds differ'], rows, [false, false, true, true, true, true, true, true]));
  console.log('ratios (conns/s: higher is better; latency: lower is better):');
  for (const l of [...echoRatioLines('plain', s.connect_echo), ...(s.proxy_proto ? echoRatioLines('proxy_proto', s.proxy_proto) : [])]) console.log(l);

  console.log(`\nthroughput (MiB/s each way, both directions at once), best of ${opts.rounds} rounds:`);
  const trows: string[][] = [];
  const labels = { single: `1 × ${opts.mib} MiB`, parallel: `${opts.parallel} × ${(opts.mib / opts.parallel).toFixed(opts.mib % opts.parallel === 0 ? 0 : 1)} MiB` };
  for (const k of ['single', 'parallel'] as const) {
    for (const t of TCP_TARGETS) {
      const b = s.throughput[k][t];
      if (b) trows.push([labels[k], t, b.mib_s.toFixed(1), pct(b.proxy_cpu_pct), pct(b.client_cpu_pct), `${(b.rounds_differ * 100).toFixed(1)}%`]);
    }
  }
  console.log(table(['test', 'target', 'MiB/s', 'proxy CPU', 'client CPU', 'rounds differ'], trows, [false, false, true, true, true, true]));
  for (const k of ['single', 'parallel'] as const) {
    const c = s.throughput[k];
    const parts = [
      c.starling_vs_direct && `starling/direct ${x(c.starling_vs_direct.mib_s)}`,
      c.starling_vs_haproxy && `starling/haproxy ${x(c.starling_vs_haproxy.mib_s)}`,
      c.haproxy_vs_direct && `haproxy/direct ${x(c.haproxy_vs_direct.mib_s)}`,
    ].filter((p): p is string => typeof p === 'string');
    if (parts.length > 0) console.log(`  ${labels[k]}: ${parts.join('; ')}`);
  }
  console.log('\nudp: not measured by this bench yet');
}
