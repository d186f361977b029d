/**
 * Summarises V8 .cpuprofile files (as written by `node --cpu-prof`, e.g. from
 * `npm run bench:proxy -- --cpu-prof DIR`): where the time went by area (Starling's code, node's
 * internals, dependencies, GC, idle), then the functions with the most self time and the most total
 * time. Several files (one per worker, or per round) are added up.
 *
 *   node dist/bench/cpuprofile.js [--top N] FILE.cpuprofile|DIR ...
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
}

const REPO = fileURLToPath(new URL('../..', import.meta.url));

function where(url: string): string {
  if (url === '') return '';
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  return path.startsWith('/') ? relative(REPO, path) : path;
}

function area(frame: CallFrame): string {
  const name = frame.functionName;
  if (name === '(idle)') return 'idle';
  if (name === '(garbage collector)') return 'garbage collector';
  if (name === '(program)') return 'native / V8 (program)';
  const url = frame.url;
  if (url.startsWith('node:')) return 'node internals (node:*)';
  if (url.includes('/node_modules/')) return 'dependencies (node_modules)';
  if (url.includes('/dist/src/')) return 'starling (dist/src)';
  if (url === '') return 'native / V8 (builtins)';
  return 'other';
}

const keyOf = (f: CallFrame) => `${f.functionName || '(anonymous)'}${f.url ? `  ${where(f.url)}:${f.lineNumber + 1}` : ''}`;

function files(args: string[]): string[] {
  return args.flatMap((a) =>
    statSync(a).isDirectory()
      ? readdirSync(a)
          .filter((f) => f.endsWith('.cpuprofile'))
          .sort()
          .map((f) => join(a, f))
      : [a],
  );
}

function add(map: Map<string, number>, key: string, ms: number): void {
  map.set(key, (map.get(key) ?? 0) + ms);
}

function main(): void {
  const { values, positionals } = parseArgs({
    args: process.argv.slice(2),
    allowPositionals: true,
    options: { top: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help || positionals.length === 0) {
    console.log('usage: node dist/bench/cpuprofile.js [--top N] FILE.cpuprofile|DIR ...');
    process.exitCode = positionals.length === 0 && !values.help ? 2 : 0;
    return;
  }
  const top = Number(values.top ?? 25);
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const areas = new Map<string, number>();
  let allMs = 0;
  const list = files(positionals);
  for (const file of list) {
    const prof = JSON.parse(readFileSync(file, 'utf8')) as Profile;
    const byId = new Map(prof.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    // hitCount is filled in by node; fall back to counting samples.
    const hits = new Map<number, number>(prof.nodes.map((n) => [n.id, n.hitCount ?? 0]));
    const sampleCount = [...hits.values()].reduce((a, b) => a + b, 0) || (prof.samples?.length ?? 0);
    if ([...hits.values()].every((h) => h === 0)) for (const s of prof.samples ?? []) hits.set(s, (hits.get(s) ?? 0) + 1);
    if (sampleCount === 0) continue;
    const msPerSample = (prof.endTime - prof.startTime) / 1000 / sampleCount;
    for (const [id, count] of hits) {
      if (count === 0) continue;
      const node = byId.get(id);
      if (!node) continue;
      const ms = count * msPerSample;
      allMs += ms;
      add(self, keyOf(node.callFrame), ms);
      add(areas, area(node.callFrame), ms);
      // Total time: once per distinct function on the stack (recursion counted once).
      const seen = new Set<string>();
      for (let cur: ProfileNode | undefined = node; cur; cur = byId.get(parent.get(cur.id) ?? -1)) {
        if (cur.callFrame.functionName === '(root)') break;
        const k = keyOf(cur.callFrame);
        if (seen.has(k)) continue;
        seen.add(k);
        add(total, k, ms);
      }
    }
  }
  if (allMs === 0) {
    console.log('no samples');
    return;
  }
  const pct = (ms: number) => `${((100 * ms) / allMs).toFixed(1).padStart(5)}%`;
  const msText = (ms: number) => `${ms.toFixed(0).padStart(7)} ms`;
  const show = (title: string, map: Map<string, number>, n: number) => {
    console.log(`\n${title}`);
    for (const [k, ms] of [...map].sort((a, b) => b[1] - a[1]).slice(0, n)) console.log(`${msText(ms)} ${pct(ms)}  ${k}`);
  };
  console.log(`${list.length} profile(s), ${(allMs / 1000).toFixed(1)} s sampled (wall time, idle included)`);
  show('by area:', areas, areas.size);
  show(`top ${top} by self time:`, self, top);
  show(`top ${top} by total time (self + callees):`, total, top);
}

main();
