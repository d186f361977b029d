/**
 * `npm run bench:tcp`: TCP services at the edge (issue 17, "Measured"). A C echo server is the
 * machine; a C load generator reaches it directly (the baseline), through Starling's edge
 * (`starling proxy serve --workers 1` with tcp_services) and through HAProxy (mode tcp, nbthread 1),
 * side by side in one run: connect+echo rates and latencies, the same with a PROXY header, and
 * throughput of one long connection and of several. A benchmark, not a test: it prints numbers and
 * fails only when something could not be run. See bench/README.md.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, release, tmpdir } from 'node:os';
import { join } from 'node:path';

import { groupCpuMs } from './lib/cpu.js';
import { cleanupHandlers, killAllSync, runBench, stop, type Managed } from './lib/procs.js';
import { parseTcpOptions, TCP_USAGE, type TcpOptions, type TcpTarget } from './lib/tcp-args.js';
import { buildInstruments, connectEcho, throughput, type Instruments } from './lib/tcp-instruments.js';
import { caseKey, printRuns, printSummary, summarize, type Run } from './lib/tcp-report.js';
import { directReach, startHaproxy, startMachine, startStarling, STARLING_MAIN, type Machine, type Reach } from './lib/tcp-targets.js';
import { BenchError, findExecutable, round1, round2, versionOf } from './lib/util.js';

/** Bytes of each connect+echo round trip. */
const MESSAGE_BYTES = 64;
/** A throughput run that takes longer than this is a failure (a stall), not a figure. */
const STREAM_TIMEOUT_S = 300;

const log = (msg: string) => console.error(`bench: ${msg}`);

interface Ctx {
  opts: TcpOptions;
  inst: Instruments;
  machine: Machine;
  dir: string;
  haproxy: string;
}

/** CPU time (ms) of some process groups, added; null when unknown (no /proc). */
function cpuOf(procs: (Managed | undefined)[]): number | null {
  let sum = 0;
  for (const p of procs) {
    if (!p) continue;
    const ms = groupCpuMs(p.child.pid);
    if (ms === undefined) return null;
    sum += ms;
  }
  return sum;
}

async function reach(target: TcpTarget, round: number, ctx: Ctx): Promise<Reach> {
  const tag = `${target}-r${round}`;
  switch (target) {
    case 'direct':
      return directReach(ctx.machine);
    case 'starling':
      return startStarling(ctx.machine, ctx.dir, tag);
    case 'haproxy':
      return startHaproxy(ctx.haproxy, ctx.machine, ctx.dir, tag);
  }
}

/** One test through `r`, with the proxy's and the echo servers' CPU share over its wall time. */
async function timed<T>(r: Reach, ctx: Ctx, body: () => Promise<T>): Promise<{ result: T; proxy_cpu_pct: number | null; echo_cpu_pct: number | null }> {
  const echoes = [ctx.machine.plain.proc, ctx.machine.proxyProto.proc];
  const [p0, e0, t0] = [r.proc ? cpuOf([r.proc]) : null, cpuOf(echoes), performance.now()];
  const result = await body();
  const wall = performance.now() - t0;
  const [p1, e1] = [r.proc ? cpuOf([r.proc]) : null, cpuOf(echoes)];
  const share = (a: number | null, b: number | null) => (a === null || b === null ? null : round1(((b - a) / wall) * 100));
  return { result, proxy_cpu_pct: share(p0, p1), echo_cpu_pct: share(e0, e1) };
}

function checkAlive(target: TcpTarget, r: Reach, ctx: Ctx): void {
  for (const p of [r.proc, ctx.machine.plain.proc, ctx.machine.proxyProto.proc]) {
    if (p?.hasExited()) throw new BenchError(`${p.name} exited during the ${target} runs (see ${p.logFile})`);
  }
}

function warnErrors(what: string, errors: number, first: string | null): void {
  if (errors > 0) log(`warning: ${what}: ${errors} errors (first: ${first ?? '?'}); this figure is not a clean result`);
}

async function measureTarget(target: TcpTarget, round: number, ctx: Ctx): Promise<Run[]> {
  const { opts, inst } = ctx;
  log(`${target} round ${round}: starting`);
  const r = await reach(target, round, ctx);
  const runs: Run[] = [];
  try {
    const top = opts.concurrency.at(-1)!;
    if (opts.warmupS > 0) {
      log(`${target} round ${round}: warm-up ${opts.warmupS} s`);
      await connectEcho(inst, r.plainPort, { conc: top, seconds: opts.warmupS, bytes: MESSAGE_BYTES, proxyHeader: false, clients: opts.clients });
    }
    const families = opts.proxyProto ? (['connect_echo', 'proxy_proto'] as const) : (['connect_echo'] as const);
    for (const family of families) {
      for (const conc of opts.concurrency) {
        const pp = family === 'proxy_proto';
        const port = pp ? r.proxyProtoPort : r.plainPort;
        const t = await timed(r, ctx, () =>
          connectEcho(inst, port, { conc, seconds: opts.durationS, bytes: MESSAGE_BYTES, proxyHeader: pp && r.clientSendsHeader, clients: opts.clients }),
        );
        checkAlive(target, r, ctx);
        const res = t.result;
        log(`${target} round ${round}: ${family} c=${conc}: ${Math.round(res.conns_s)} conns/s, p50 ${res.p50_ms} ms, p99 ${res.p99_ms} ms, proxy CPU ${t.proxy_cpu_pct ?? '-'}%`);
        warnErrors(`${target} ${family} c=${conc}`, res.errors, res.first_error);
        runs.push({ target, round, family, case: caseKey(conc), proxy_cpu_pct: t.proxy_cpu_pct, echo_cpu_pct: t.echo_cpu_pct, ...res });
      }
    }
    for (const [kind, connections] of [['single', 1], ['parallel', opts.parallel]] as const) {
      const t = await timed(r, ctx, () => throughput(inst, r.plainPort, { connections, mib: opts.mib, clients: opts.clients, timeoutS: STREAM_TIMEOUT_S }));
      checkAlive(target, r, ctx);
      const res = t.result;
      log(`${target} round ${round}: throughput ${connections} × ${round2(opts.mib / connections)} MiB: ${res.mib_s} MiB/s each way, proxy CPU ${t.proxy_cpu_pct ?? '-'}%`);
      warnErrors(`${target} throughput ${kind}`, res.errors, res.first_error);
      runs.push({ target, round, family: 'throughput', case: kind, proxy_cpu_pct: t.proxy_cpu_pct, echo_cpu_pct: t.echo_cpu_pct, ...res });
    }
  } finally {
    if (r.proc) await stop(r.proc);
  }
  return runs;
}

let tempDir: string | undefined;
const { cleanup, onSignal, interrupted } = cleanupHandlers(() => tempDir, log);

async function main(): Promise<void> {
  let opts: TcpOptions | 'help';
  try {
    opts = parseTcpOptions(process.argv.slice(2));
  } catch (e) {
    console.error(`bench: ${(e as Error).message}\n\n${TCP_USAGE}`);
    process.exitCode = 2;
    return;
  }
  if (opts === 'help') {
    console.log(TCP_USAGE);
    return;
  }
  const haproxy = opts.targets.includes('haproxy') ? findExecutable('haproxy') : '';
  if (haproxy === undefined) throw new BenchError('haproxy is not installed: apt-get install -y haproxy (or: npm run setup), or leave it out with --only direct,starling');
  if (opts.targets.includes('starling') && !existsSync(STARLING_MAIN)) {
    throw new BenchError(`Starling's CLI is not built (${STARLING_MAIN} is missing): run npm run build, or leave Starling out with --only direct,haproxy`);
  }

  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, onSignal);
  process.on('exit', () => {
    killAllSync();
    if (tempDir !== undefined) rmSync(tempDir, { recursive: true, force: true });
  });
  tempDir = mkdtempSync(join(tmpdir(), 'starling-bench-tcp-'));
  const dir = tempDir;
  const loadStart = loadavg().map(round2);

  const inst = await buildInstruments(dir);
  const machine = await startMachine(inst.echo, dir);
  log(`machine: tcp-echo on 127.0.0.1:${machine.plain.port}, with a PROXY header on 127.0.0.1:${machine.proxyProto.port}`);
  const ctx: Ctx = { opts, inst, machine, dir, haproxy };
  const runs: Run[] = [];
  for (let round = 1; round <= opts.rounds; round++) {
    for (const target of opts.targets) {
      runs.push(...(await measureTarget(target, round, ctx)));
      await sleep(500);
    }
  }
  const summary = summarize(opts, runs);
  const env = {
    cpus: availableParallelism(),
    kernel: release(),
    node: process.version,
    haproxy: haproxy === '' ? 'not used' : versionOf(haproxy, '-v', /HAProxy version (\S+)/),
    cc: inst.cc,
    load_avg_start: loadStart,
    load_avg_end: loadavg().map(round2),
  };
  const parallelMib = round2(opts.mib / opts.parallel);
  if (opts.json) {
    const out = {
      date: new Date().toISOString(),
      quick: opts.quick,
      rounds: opts.rounds,
      duration_s: opts.durationS,
      warmup_s: opts.warmupS,
      message_bytes: MESSAGE_BYTES,
      concurrency: opts.concurrency,
      throughput: { single_mib: opts.mib, parallel: opts.parallel, parallel_mib_each: parallelMib },
      clients: opts.clients,
      targets: opts.targets,
      machine: 'tcp-echo (C, epoll, one thread, 256 KiB buffer per connection)',
      load: 'tcp-load (C, epoll, one thread per process)',
      starling: 'starling proxy serve --workers 1 --access-log off, tcp_services (plain; handlers = ["proxy_proto"], v1)',
      haproxy: 'mode tcp, nbthread 1, no logging; send-proxy (v1) for proxy_proto',
      env,
      summary_method: `best of ${opts.rounds}: the round with the highest conns/s or MiB/s, with that round's latencies`,
      runs,
      summary,
      udp: null,
    };
    console.log(JSON.stringify(out, null, 2));
    return;
  }
  console.log(`tcp benchmark: ${opts.rounds} rounds of ${opts.targets.join(', ')}${opts.quick ? ' (--quick)' : ''}`);
  console.log(`connect+echo: ${opts.durationS} s per run (after a ${opts.warmupS} s warm-up), concurrency ${opts.concurrency.join(', ')}, ${opts.clients} load process(es)`);
  console.log(`throughput: 1 × ${opts.mib} MiB and ${opts.parallel} × ${parallelMib} MiB each way`);
  console.log(`machine: C echo server (epoll, one thread); starling proxy serve --workers 1; haproxy ${env.haproxy} mode tcp nbthread 1`);
  console.log(`host: ${env.cpus} CPUs shared by the load generator, the proxy and the echo server; kernel ${env.kernel}, node ${env.node}; load ${env.load_avg_start.join(' ')} → ${env.load_avg_end.join(' ')}\n`);
  printRuns(runs);
  printSummary(opts, summary);
}

runBench(main, { cleanup, interrupted });
