/**
 * Diagnostics of the Starling node process under a benchmark (`bench:proxy`, `bench:tls`):
 * `--cpu-prof DIR` (a V8 CPU profile per process, read with bench/cpuprofile.ts) and `--trace-gc`
 * (V8 prints one line per garbage collection on stdout, which goes to the process's log). The GC
 * lines printed while wrk measured are summed per run: how often the main thread stopped for GC and
 * for how long, the suspect for round-to-round spread. `--node-arg FLAG` passes any other node flag
 * (a heap size to try, --perf-basic-prof for perf).
 */
import { copyFileSync, existsSync, readdirSync, readSync, openSync, closeSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { round2 } from './util.js';

export interface NodeDiagOptions {
  cpuProfDir: string | undefined;
  /** Run Starling under --trace-gc, sum its GC lines per run, copy each round's log here. */
  traceGcDir: string | undefined;
  /** More node flags, as given (--node-arg, repeatable): heap sizes, --perf-basic-prof, … */
  nodeArgs: string[];
}

/** node flags for the Starling process (cluster workers inherit them). */
export function diagNodeArgs(o: NodeDiagOptions): string[] {
  return [
    ...(o.cpuProfDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${o.cpuProfDir}`]),
    ...(o.traceGcDir === undefined ? [] : ['--trace-gc']),
    ...o.nodeArgs,
  ];
}

export function listProfiles(dir: string | undefined): string[] {
  if (dir === undefined || !existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
}

/** After the process stopped: names the profiles it wrote, or warns that none appeared. */
export function reportProfiles(dir: string, before: string[], what: string, log: (msg: string) => void): void {
  const fresh = listProfiles(dir).filter((f) => !before.includes(f));
  if (fresh.length === 0) log(`warning: no .cpuprofile appeared in ${dir} (node writes it only when the process exits cleanly on SIGTERM)`);
  for (const f of fresh) log(`cpu profile (${what}): ${join(dir, f)}`);
}

/** GC of one measured run, from --trace-gc: main-thread pauses by kind, in ms. */
export interface GcSummary {
  scavenges: number;
  scavenge_ms: number;
  /** Full collections (Mark-Compact, its `(reduce)` form, Mark-Sweep). */
  mark_compacts: number;
  mark_compact_ms: number;
  /** Incremental marking steps before the full collections (main-thread time too). */
  incremental_marking_ms: number;
  /** The longest single pause. */
  max_pause_ms: number;
  /** Every pause and marking step added up. */
  total_ms: number;
  /** The largest heap size V8 reported after a collection, MB (used, not reserved). */
  max_heap_mb: number;
}

// [pid:0xisolate]  1234 ms: Scavenge 4.8 (5.8) -> 4.3 (6.8) MB, pooled: 0 MB, 0.97 / 0.00 ms  (…) …
// [pid:0xisolate]  5678 ms: Mark-Compact 56.5 (111.2) -> 44.2 (109.0) MB, pooled: 0 MB, 51.46 / 0.00 ms (+ 2.1 ms in 30 steps since start of marking, …) …
const GC_LINE = /^\[\d+:0x[0-9a-f]+\]\s+\d+ ms: ([A-Za-z -]+?)(?: \([a-z ]+\))? [\d.]+ \([\d.]+\) -> ([\d.]+) \([\d.]+\) MB,.*?([\d.]+) \/ [\d.]+ ms(?:\s+\(\+ ([\d.]+) ms in \d+ steps)?/;

export function summarizeGc(text: string): GcSummary {
  const s: GcSummary = { scavenges: 0, scavenge_ms: 0, mark_compacts: 0, mark_compact_ms: 0, incremental_marking_ms: 0, max_pause_ms: 0, total_ms: 0, max_heap_mb: 0 };
  for (const line of text.split('\n')) {
    const m = GC_LINE.exec(line);
    if (!m) continue;
    const kind = m[1] ?? '';
    const pause = Number(m[3]);
    const steps = Number(m[4] ?? 0);
    if (kind === 'Scavenge' || kind === 'Minor Mark-Sweep') {
      s.scavenges++;
      s.scavenge_ms += pause;
    } else {
      s.mark_compacts++;
      s.mark_compact_ms += pause;
      s.incremental_marking_ms += steps;
    }
    s.max_pause_ms = Math.max(s.max_pause_ms, pause);
    s.max_heap_mb = Math.max(s.max_heap_mb, Number(m[2]));
    s.total_ms += pause + steps;
  }
  for (const k of ['scavenge_ms', 'mark_compact_ms', 'incremental_marking_ms', 'max_pause_ms', 'total_ms', 'max_heap_mb'] as const) s[k] = round2(s[k]);
  return s;
}

/** Size of a log file now: where a run's lines will start. */
export function logOffset(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/** The log's text from `offset` to its current end. */
export function logSince(file: string, offset: number): string {
  const size = logOffset(file);
  if (size <= offset) return '';
  const buf = Buffer.alloc(size - offset);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, buf, 0, buf.length, offset);
  } finally {
    closeSync(fd);
  }
  return buf.toString('utf8');
}

/** One line for the progress log. */
export function fmtGc(g: GcSummary, seconds: number): string {
  return (
    `GC ${g.total_ms.toFixed(0)} ms in ${seconds} s (${((g.total_ms / (seconds * 1000)) * 100).toFixed(1)}%): ` +
    `${g.scavenges} scavenges ${g.scavenge_ms.toFixed(0)} ms, ${g.mark_compacts} mark-compacts ${g.mark_compact_ms.toFixed(0)} ms` +
    ` (+${g.incremental_marking_ms.toFixed(0)} ms incremental), longest ${g.max_pause_ms.toFixed(2)} ms, heap ≤ ${g.max_heap_mb} MB`
  );
}

/** Keeps a round's whole log (the GC trace with the proxy's own lines) in the --trace-gc dir. */
export function keepLog(logFile: string, dir: string, tag: string, log: (msg: string) => void): void {
  if (!existsSync(logFile)) return;
  const to = join(dir, `${tag}.trace-gc.log`);
  copyFileSync(logFile, to);
  log(`gc trace (${tag}): ${to}`);
}
