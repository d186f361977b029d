/**
 * bench:proxy's report: the best round per proxy, each proxy's spread over its rounds, the ratios
 * of Starling against each peer, the printed tables and the `--json` summary. Pure formatting of
 * what proxy.ts measured.
 */
import type { Options, ProxyName } from './args.js';
import { PROXIES } from './args.js';
import type { GcSummary } from './node-diag.js';
import { fmtMs, round3, spreadPct, table } from './util.js';

export interface Run {
  proxy: ProxyName;
  round: number;
  rps: number;
  p99_ms: number;
  /** Non-2xx responses plus socket errors (connect/read/write/timeout) wrk counted. */
  errors: number;
  /** Starling's GC during the measured run (--trace-gc); null otherwise. */
  gc: GcSummary | null;
}

export interface Best {
  rps: number;
  p99_ms: number;
}

export const PEERS = ['nginx', 'haproxy', 'caddy'] as const;
export type Peer = (typeof PEERS)[number];

export const fmtRps = (n: number) => Math.round(n).toLocaleString('en-US');

/** Best of the rounds: the round with the highest req/s, with that round's p99. */
export function best(runs: Run[], proxy: ProxyName): Best | null {
  const mine = runs.filter((r) => r.proxy === proxy);
  if (mine.length === 0) return null;
  const top = mine.reduce((a, b) => (b.rps > a.rps ? b : a));
  return { rps: top.rps, p99_ms: top.p99_ms };
}

/** (max − min) / median of a proxy's req/s over its rounds, in %; null when it did not run. */
export function spreadOf(runs: Run[], proxy: ProxyName): number | null {
  const rps = runs.filter((r) => r.proxy === proxy).map((r) => r.rps);
  return rps.length === 0 ? null : spreadPct(rps);
}

export type Summary = Record<ProxyName, Best | null> & {
  ratio_vs_nginx: number | null;
  ratio_vs_haproxy: number | null;
  ratio_vs_caddy: number | null;
  /** Each proxy's (max − min) / median of req/s over its rounds, in % (null: not run). */
  spread_pct: Record<ProxyName, number | null>;
};

export function summarize(runs: Run[]): Summary {
  const b = Object.fromEntries(PROXIES.map((p) => [p, best(runs, p)])) as Record<ProxyName, Best | null>;
  const ratio = (peer: Best | null) => (b.starling && peer && peer.rps > 0 ? round3(b.starling.rps / peer.rps) : null);
  return {
    ...b,
    ratio_vs_nginx: ratio(b.nginx),
    ratio_vs_haproxy: ratio(b.haproxy),
    ratio_vs_caddy: ratio(b.caddy),
    spread_pct: Object.fromEntries(PROXIES.map((p) => [p, spreadOf(runs, p)])) as Record<ProxyName, number | null>,
  };
}

/** Per-round table, best-of table with each proxy's spread, Starling's ratios. */
export function printTable(opts: Options, runs: Run[], summary: Summary, heading: string, notInstalled: ProxyName[]): void {
  const anyErrors = runs.some((r) => r.errors > 0);
  const anyGc = runs.some((r) => r.gc !== null);
  console.log(heading);
  console.log('');
  const head = ['proxy', 'round', 'req/s', 'p99 ms', ...(anyGc ? ['GC ms', 'GC pauses'] : []), ...(anyErrors ? ['errors'] : [])];
  const rows = runs.map((r) => [
    r.proxy,
    String(r.round),
    fmtRps(r.rps),
    fmtMs(r.p99_ms),
    ...(anyGc ? [r.gc ? r.gc.total_ms.toFixed(0) : '-', r.gc ? String(r.gc.scavenges + r.gc.mark_compacts) : '-'] : []),
    ...(anyErrors ? [String(r.errors)] : []),
  ]);
  console.log(table(head, rows, [false, true, true, true, true, true, true]));
  console.log('');
  console.log(`best of ${opts.rounds} round${opts.rounds === 1 ? '' : 's'} (the round with the highest req/s, with that round's p99):`);
  const ran = opts.only.filter((p) => summary[p] !== null);
  const srows = ran.map((p) => {
    const b = summary[p];
    const mine = runs.filter((r) => r.proxy === p).map((r) => fmtRps(r.rps));
    const sp = summary.spread_pct[p];
    return [p, b ? fmtRps(b.rps) : '-', b ? fmtMs(b.p99_ms) : '-', mine.join(' / '), sp === null ? '-' : `${sp.toFixed(1)}%`];
  });
  console.log(table(['proxy', 'req/s', 'p99 ms', 'req/s per round', 'spread'], srows, [false, true, true, true, true]));
  console.log('(spread: (max − min) / median of the rounds\' req/s; above ~10% the machine or the proxy was unsteady)');
  const s = summary.starling;
  for (const peer of PEERS) {
    const b = summary[peer];
    if (notInstalled.includes(peer)) {
      console.log(`starling / ${peer}: - (${peer} is not installed: apt-get install -y ${peer}, or npm run setup)`);
      continue;
    }
    if (!s || !b) continue;
    console.log(
      `starling / ${peer}: ${(s.rps / b.rps).toFixed(2)}× req/s, ${(s.p99_ms / b.p99_ms).toFixed(2)}× p99 latency` +
        ` (req/s: higher is better; p99: lower is better)`,
    );
  }
  if (!s) console.log('(starling was not run: no ratios)');
}
