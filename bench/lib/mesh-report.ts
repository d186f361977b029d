/**
 * bench:mesh's report: the best run per path, the ratios, the --json object's parts and the
 * printed tables. Pure: formats what mesh.ts measured.
 */
import { PATHS, type PathName } from './mesh-args.js';
import type { DnsRun } from './mesh-dns.js';
import { ROUND_DEADLINE_MS, type BlastRun, type ConvergenceRound, type PingRun } from './mesh-measure.js';
import { fmtInt, median, round1, round3, table } from './util.js';

export type ThroughputRun = { path: PathName; pass: number } & BlastRun;
export type RttRun = { path: PathName; pass: number } & PingRun;

const ratio = (a: number | null | undefined, b: number | null | undefined): number | null =>
  a === null || a === undefined || b === null || b === undefined || b === 0 ? null : round3(a / b);

function bestBy<T extends { path: PathName }>(runs: readonly T[], path: PathName, better: (x: T, y: T) => boolean): T | undefined {
  let best: T | undefined;
  for (const r of runs) if (r.path === path && (best === undefined || better(r, best))) best = r;
  return best;
}

export interface ThroughputSummary {
  underlay_mbps: number | null;
  mesh_mbps: number | null;
  bare_mbps: number | null;
  ratio_mesh_vs_bare: number | null;
  ratio_mesh_vs_underlay: number | null;
  unit: 'MB/s (10^6 bytes per second)';
  summary_method: string;
  runs: ThroughputRun[];
}

export function summarizeThroughput(runs: ThroughputRun[]): ThroughputSummary {
  const best = (p: PathName) => bestBy(runs, p, (x, y) => x.mbps > y.mbps)?.mbps ?? null;
  const [underlay, mesh, bare] = [best('underlay'), best('mesh'), best('bare')];
  return {
    underlay_mbps: underlay,
    mesh_mbps: mesh,
    bare_mbps: bare,
    ratio_mesh_vs_bare: ratio(mesh, bare),
    ratio_mesh_vs_underlay: ratio(mesh, underlay),
    unit: 'MB/s (10^6 bytes per second)',
    summary_method: 'best of the passes (the highest MB/s)',
    runs,
  };
}

export interface RttSummary {
  underlay_p50_us: number | null;
  underlay_p99_us: number | null;
  mesh_p50_us: number | null;
  mesh_p99_us: number | null;
  bare_p50_us: number | null;
  bare_p99_us: number | null;
  /** mesh ÷ bare and mesh ÷ underlay of p50 (lower is better for the mesh). */
  ratio_mesh_vs_bare_p50: number | null;
  ratio_mesh_vs_underlay_p50: number | null;
  pings: number;
  summary_method: string;
  runs: RttRun[];
}

export function summarizeRtt(runs: RttRun[], pings: number): RttSummary {
  const best = (p: PathName) => bestBy(runs, p, (x, y) => x.p50_us < y.p50_us);
  const [u, m, b] = [best('underlay'), best('mesh'), best('bare')];
  return {
    underlay_p50_us: u?.p50_us ?? null,
    underlay_p99_us: u?.p99_us ?? null,
    mesh_p50_us: m?.p50_us ?? null,
    mesh_p99_us: m?.p99_us ?? null,
    bare_p50_us: b?.p50_us ?? null,
    bare_p99_us: b?.p99_us ?? null,
    ratio_mesh_vs_bare_p50: ratio(m?.p50_us, b?.p50_us),
    ratio_mesh_vs_underlay_p50: ratio(m?.p50_us, u?.p50_us),
    pings,
    summary_method: "best of the passes (the lowest p50, with that pass's p99)",
    runs,
  };
}

export interface DnsSummary {
  starling_qps: number | null;
  starling_p50_ms: number | null;
  starling_p99_ms: number | null;
  named_qps: number | null;
  named_p50_ms: number | null;
  named_p99_ms: number | null;
  /** Starling's queries/s ÷ named's. */
  ratio_vs_named: number | null;
  starling: DnsRun | null;
  named: DnsRun | null;
  /** Why named is null, when it is. */
  named_missing: string | null;
  name: string;
  records: number;
  inflight: number;
  duration_s: number;
}

export function summarizeDns(starling: DnsRun | null, named: DnsRun | null, namedMissing: string | null, o: { name: string; records: number; inflight: number; durationS: number }): DnsSummary {
  return {
    starling_qps: starling?.qps ?? null,
    starling_p50_ms: starling?.p50_ms ?? null,
    starling_p99_ms: starling?.p99_ms ?? null,
    named_qps: named?.qps ?? null,
    named_p50_ms: named?.p50_ms ?? null,
    named_p99_ms: named?.p99_ms ?? null,
    ratio_vs_named: ratio(starling?.qps, named?.qps),
    starling,
    named,
    named_missing: namedMissing,
    name: o.name,
    records: o.records,
    inflight: o.inflight,
    duration_s: o.durationS,
  };
}

interface ConvergenceFigures {
  rounds: number;
  median_ms: number;
  max_ms: number;
  min_ms: number;
  /** Rounds over 1000 ms (the aim). */
  over_1s: number;
  /** Rounds with no connect within the deadline (their figure is the deadline, a lower bound). */
  timed_out: number;
  /** Of the total, until the Mesh.update() calls had returned. */
  update_median_ms: number;
  runs: ConvergenceRound[];
}

export interface ConvergenceSummary extends ConvergenceFigures {
  probe_interval_ms: number;
  /** The same with B's update STAGGER_MS after A's (the top-level figures: both at once). */
  staggered: (ConvergenceFigures & { stagger_ms: number }) | null;
}

function figures(runs: ConvergenceRound[]): ConvergenceFigures {
  const ms = runs.map((r) => r.ms);
  return {
    rounds: runs.length,
    median_ms: round1(median(ms)),
    max_ms: Math.max(...ms),
    min_ms: Math.min(...ms),
    over_1s: ms.filter((m) => m > 1000).length,
    timed_out: runs.filter((r) => r.timed_out).length,
    update_median_ms: round1(median(runs.map((r) => r.update_ms))),
    runs,
  };
}

export function summarizeConvergence(runs: ConvergenceRound[], probeIntervalMs: number, staggerMs: number): ConvergenceSummary {
  const together = runs.filter((r) => r.stagger_ms === 0);
  const staggered = runs.filter((r) => r.stagger_ms !== 0);
  return {
    ...figures(together),
    probe_interval_ms: probeIntervalMs,
    staggered: staggered.length === 0 ? null : { stagger_ms: staggerMs, ...figures(staggered) },
  };
}

const f1 = (n: number | null): string => (n === null ? '-' : n.toFixed(1));
const fx = (n: number | null): string => (n === null ? '-' : `${n.toFixed(2)}×`);

export function printThroughput(s: ThroughputSummary, durationS: number): void {
  console.log(`throughput: one TCP connection A → B for ${durationS} s per run, MB/s (10^6 bytes/s)`);
  const rows = PATHS.map((p) => {
    const rs = s.runs.filter((r) => r.path === p);
    const best = s[`${p}_mbps` as const];
    return [p, f1(best), rs.map((r) => f1(r.mbps)).join(' / '), rs.map((r) => `${r.sender_cpu_pct}%`).join(' / ')];
  });
  console.log(table(['path', 'MB/s', 'per pass', 'sender CPU'], rows, [false, true, true, true]).replace(/^/gm, '  '));
  console.log(`  mesh / bare: ${fx(s.ratio_mesh_vs_bare)} (aim ≥ 0.80×)   mesh / underlay: ${fx(s.ratio_mesh_vs_underlay)}`);
}

export function printRtt(s: RttSummary): void {
  console.log(`RTT: 1-byte TCP ping-pong A → B → A, ${fmtInt(s.pings)} round trips per run, µs`);
  const rows = PATHS.map((p) => {
    const rs = s.runs.filter((r) => r.path === p);
    return [p, f1(s[`${p}_p50_us` as const]), f1(s[`${p}_p99_us` as const]), rs.map((r) => `${f1(r.p50_us)}/${f1(r.p99_us)}`).join('  ')];
  });
  console.log(table(['path', 'p50 µs', 'p99 µs', 'p50/p99 per pass'], rows, [false, true, true, true]).replace(/^/gm, '  '));
  console.log(`  mesh / bare p50: ${fx(s.ratio_mesh_vs_bare_p50)}   mesh / underlay p50: ${fx(s.ratio_mesh_vs_underlay_p50)} (lower is better)`);
}

export function printDns(s: DnsSummary, namedVersion: string | null): void {
  console.log(`.internal DNS: AAAA ${s.name} (${s.records} records, EDNS 1232) over UDP on 127.0.0.1, ${s.inflight} in flight, ${s.duration_s} s per server`);
  const row = (name: string, r: DnsRun | null, missing: string | null): string[] =>
    r === null
      ? [name, '-', '-', '-', '-', '-', missing ?? 'not run']
      : [name, fmtInt(r.qps), r.p50_ms.toFixed(3), r.p99_ms.toFixed(3), r.server_cpu_pct === null ? '-' : `${r.server_cpu_pct}%`, `${r.client_cpu_pct}%`, r.errors > 0 ? `${r.errors} errors (first: ${r.first_error ?? '?'})` : ''];
  console.log(
    table(
      ['server', 'queries/s', 'p50 ms', 'p99 ms', 'server CPU', 'client CPU', ''],
      [row('starling', s.starling, null), row(`named${namedVersion ? ` ${namedVersion}` : ''} -n 1`, s.named, s.named_missing)],
      [false, true, true, true, true, true, false],
    ).replace(/^/gm, '  '),
  );
  console.log(`  starling / named: ${fx(s.ratio_vs_named)} queries/s (higher is better)`);
}

export function printConvergence(s: ConvergenceSummary): void {
  console.log(`convergence: Mesh.update() adding the peer on both sides → first TCP connect A → B over the mesh (a connect every ${s.probe_interval_ms} ms), ${s.rounds} rounds each`);
  const row = (what: string, f: ConvergenceFigures): string[] => [what, f.median_ms.toFixed(1), f.max_ms.toFixed(1), f.min_ms.toFixed(1), `${f.over_1s}/${f.rounds}`, f.update_median_ms.toFixed(1), f.runs.map((r) => r.ms.toFixed(0)).join(' / ')];
  const rows = [row('both at once', s)];
  if (s.staggered) rows.push(row(`B ${s.staggered.stagger_ms} ms after A`, s.staggered));
  console.log(table(['updates', 'median ms', 'max ms', 'min ms', '> 1 s', 'update ms', 'per round ms'], rows, [false, true, true, true, true, true, true]).replace(/^/gm, '  '));
  console.log('  (aim: ≤ 1000 ms; update ms: until the Mesh.update() calls had returned, median)');
  const timedOut = s.timed_out + (s.staggered?.timed_out ?? 0);
  if (timedOut > 0) console.log(`  warning: ${timedOut} round(s) did not connect within ${ROUND_DEADLINE_MS / 1000} s; their figure is that deadline, a lower bound`);
}
