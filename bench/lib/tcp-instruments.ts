/**
 * bench:tcp's instruments: the C echo server and load generator (tcp-echo.c, tcp-load.c beside
 * this file's source) compiled with the host's cc into the benchmark's temp dir, and the load
 * runs: one or more tcp-load processes side by side, whose JSON lines are added up here.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HOST } from './net.js';
import { run } from './procs.js';
import { BenchError, findExecutable, round1, round2, round3, versionOf } from './util.js';

/** dist/bench/lib/tcp-instruments.js → bench/lib/ (the C sources are not copied into dist/). */
const C_SOURCES = fileURLToPath(new URL('../../../bench/lib/', import.meta.url));

export interface Instruments {
  echo: string;
  load: string;
  cc: string;
}

/** Compiles tcp-echo and tcp-load into `dir`. */
export async function buildInstruments(dir: string): Promise<Instruments> {
  const cc = findExecutable('cc') ?? findExecutable('gcc');
  if (cc === undefined) throw new BenchError('no C compiler (cc) to build the echo server and the load generator: apt-get install -y gcc (or: npm run setup)');
  const out: Record<string, string> = {};
  for (const name of ['tcp-echo', 'tcp-load']) {
    const src = join(C_SOURCES, `${name}.c`);
    if (!existsSync(src)) throw new BenchError(`${src} is missing (run the benchmark from the checkout)`);
    const bin = join(dir, name);
    const { code, output } = await run('cc', cc, ['-O2', '-Wall', '-pipe', '-o', bin, src]);
    if (code !== 0) throw new BenchError(`cc ${src} failed:\n${output}`);
    out[name] = bin;
  }
  return { echo: out['tcp-echo']!, load: out['tcp-load']!, cc: versionOf(cc, '--version', /^(.*\d+\.\d+\.\d+)/m) };
}

/** `n` split into `parts` near-equal whole shares, none empty. */
function split(n: number, parts: number): number[] {
  const k = Math.max(1, Math.min(parts, n));
  return Array.from({ length: k }, (_, i) => Math.floor(n / k) + (i < n % k ? 1 : 0));
}

async function runLoad(inst: Instruments, args: string[][]): Promise<unknown[]> {
  const outs = await Promise.all(args.map((a, i) => run(`tcp-load-${i}`, inst.load, a)));
  return outs.map(({ code, output }) => {
    const line = output.split('\n').find((l) => l.startsWith('{'));
    if (code !== 0 || line === undefined) throw new BenchError(`tcp-load ${args[0]!.join(' ')} exited with code ${code ?? '?'}:\n${output}`);
    return JSON.parse(line) as unknown;
  });
}

interface RrOut {
  completed: number;
  errors: number;
  first_error: string;
  start_us: number;
  end_us: number;
  cpu_ms: number;
  hist: [number, number][];
}

export interface ConnectEcho {
  conns_s: number;
  p50_ms: number;
  p99_ms: number;
  completed: number;
  errors: number;
  first_error: string | null;
  /** CPU time of the load generator(s) ÷ wall time, % of one core. */
  client_cpu_pct: number;
}

/** Percentile `q` (0–1) of a merged µs histogram, in ms. */
function percentileMs(hist: Map<number, number>, total: number, q: number): number {
  const want = Math.max(1, Math.ceil(total * q));
  let seen = 0;
  for (const us of [...hist.keys()].sort((a, b) => a - b)) {
    seen += hist.get(us)!;
    if (seen >= want) return us / 1000;
  }
  return 0;
}

/** Connect + one echo of `bytes`, `conc` at a time for `seconds`, over `clients` processes. */
export async function connectEcho(
  inst: Instruments,
  port: number,
  o: { conc: number; seconds: number; bytes: number; proxyHeader: boolean; clients: number },
): Promise<ConnectEcho> {
  const shares = split(o.conc, o.clients);
  const outs = (await runLoad(
    inst,
    shares.map((c) => ['rr', HOST, String(port), String(c), String(o.seconds * 1000), String(o.bytes), o.proxyHeader ? '1' : '0']),
  )) as RrOut[];
  const hist = new Map<number, number>();
  let completed = 0;
  let errors = 0;
  let cpu = 0;
  for (const r of outs) {
    completed += r.completed;
    errors += r.errors;
    cpu += r.cpu_ms;
    for (const [us, n] of r.hist) hist.set(us, (hist.get(us) ?? 0) + n);
  }
  const wallS = o.seconds;
  return {
    conns_s: round1(completed / wallS),
    p50_ms: round3(percentileMs(hist, completed, 0.5)),
    p99_ms: round3(percentileMs(hist, completed, 0.99)),
    completed,
    errors,
    first_error: outs.find((r) => r.first_error !== '')?.first_error ?? null,
    client_cpu_pct: round1(cpu / (wallS * 10)),
  };
}

interface StreamOut {
  errors: number;
  first_error: string;
  start_us: number;
  end_us: number;
  cpu_ms: number;
  conns: { sent: number; got: number; us: number }[];
}

export interface Throughput {
  connections: number;
  /** MiB each way, in all. */
  mib: number;
  /** MiB/s each way: all the bytes ÷ the time from the first connect to the last byte back. */
  mib_s: number;
  /** The slowest connection's MiB/s (equal to mib_s with one connection). */
  slowest_mib_s: number;
  seconds: number;
  errors: number;
  first_error: string | null;
  client_cpu_pct: number;
}

/** `connections` at once, moving `mib` MiB each way in all, over `clients` processes. */
export async function throughput(inst: Instruments, port: number, o: { connections: number; mib: number; clients: number; timeoutS: number }): Promise<Throughput> {
  const each = Math.floor((o.mib * 1024 * 1024) / o.connections);
  const shares = split(o.connections, o.clients);
  const outs = (await runLoad(
    inst,
    shares.map((n) => ['stream', HOST, String(port), String(n), String(each), String(o.timeoutS * 1000)]),
  )) as StreamOut[];
  const start = Math.min(...outs.map((r) => r.start_us));
  const end = Math.max(...outs.map((r) => r.end_us));
  const conns = outs.flatMap((r) => r.conns);
  const bytes = conns.reduce((s, c) => s + Math.min(c.got, c.sent), 0);
  const seconds = Math.max(1e-6, (end - start) / 1e6);
  const MiB = 1024 * 1024;
  const slowest = Math.max(...conns.map((c) => c.us));
  return {
    connections: conns.length,
    mib: round2(bytes / MiB),
    mib_s: round1(bytes / MiB / seconds),
    slowest_mib_s: slowest > 0 ? round1(each / MiB / (slowest / 1e6)) : 0,
    seconds: round3(seconds),
    errors: outs.reduce((s, r) => s + r.errors, 0),
    first_error: outs.find((r) => r.first_error !== '')?.first_error ?? null,
    client_cpu_pct: round1(outs.reduce((s, r) => s + r.cpu_ms, 0) / (seconds * 10)),
  };
}
