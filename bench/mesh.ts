/**
 * `npm run bench:mesh`: the private network (issue 19, "Measured"). Between two network namespaces
 * joined by a veth, side by side in one run: TCP throughput and 1-byte RTT over the underlay, over
 * Starling's mesh (Mesh + WireguardGoDevice) and over a wireguard-go tunnel set up by hand; the
 * `.internal` DNS server against BIND's named; how long the mesh takes from Mesh.update()
 * to the first connection; and from a machine reported started to its names answered on every host. A benchmark, not a test: it prints numbers and fails only when
 * something could not be run. See bench/README.md.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { MESH_USAGE, needsNamespaces, parseMeshOptions, type MeshOptions, type PathName } from './lib/mesh-args.js';
import { DNS_INSTANCES, DNS_NAME, loadDns, startNamed, startStarlingDns, type DnsRun, type DnsServer } from './lib/mesh-dns.js';
import { blast, convergenceRound, pingpong, PROBE_INTERVAL_MS, STAGGER_MS, startServe, waitReachable, type ConvergenceRound } from './lib/mesh-measure.js';
import { destroyNetSync, twoHosts, type LineChild, type TwoHosts } from './lib/mesh-net.js';
import {
  printConvergence, printDns, printRtt, printThroughput, summarizeConvergence, summarizeDns, summarizeRtt, summarizeThroughput,
  type ConvergenceSummary, type DnsSummary, type RttRun, type RttSummary, type ThroughputRun, type ThroughputSummary,
} from './lib/mesh-report.js';
import { measureNames, printNames, type NamesSummary } from './lib/mesh-names.js';
import { startBareTunnel, startStarlingMesh, type BareTunnel, type StarlingMesh } from './lib/mesh-tunnels.js';
import { cleanupHandlers, killAllSync, runBench } from './lib/procs.js';
import { BenchError, findExecutable, round2, versionOf } from './lib/util.js';

/** Throughput and RTT passes: ABCCBA, so a machine that slows down or speeds up favours no path. */
const ORDER: { path: PathName; pass: number }[] = [
  { path: 'underlay', pass: 1 }, { path: 'mesh', pass: 1 }, { path: 'bare', pass: 1 },
  { path: 'bare', pass: 2 }, { path: 'mesh', pass: 2 }, { path: 'underlay', pass: 2 },
];
/** Seconds of unmeasured DNS load before each server's measured run (JIT, caches). */
const DNS_WARMUP_S = 1;

const log = (msg: string) => console.error(`bench: ${msg}`);

/** What is running, for cleanup. */
const live: { mesh?: StarlingMesh | undefined; bare?: BareTunnel | undefined; serve?: LineChild | undefined; dns?: DnsServer | undefined } = {};
let tempDir: string | undefined;

async function teardown(): Promise<void> {
  await live.dns?.stop().catch(() => undefined);
  await live.serve?.kill();
  await live.mesh?.close();
  await live.bare?.close();
  destroyNetSync();
}
const { cleanup, onSignal, interrupted } = cleanupHandlers(() => tempDir, log, teardown);

function need(tool: string, install: string): string {
  const p = findExecutable(tool);
  if (p === undefined) throw new BenchError(`${tool} is not installed: ${install} (or: npm run setup)`);
  return p;
}

interface Paths {
  underlay: string;
  mesh: string;
  bare: string;
}

async function measureThroughput(net: TwoHosts, to: Paths, opts: MeshOptions): Promise<ThroughputSummary> {
  const runs: ThroughputRun[] = [];
  for (const { path, pass } of ORDER) {
    const r = await blast(net, to[path], opts.durationS);
    log(`throughput ${path} pass ${pass}: ${r.mbps} MB/s (sender CPU ${r.sender_cpu_pct}%)`);
    runs.push({ path, pass, ...r });
    await sleep(300);
  }
  return summarizeThroughput(runs);
}

async function measureRtt(net: TwoHosts, to: Paths, opts: MeshOptions): Promise<RttSummary> {
  const runs: RttRun[] = [];
  for (const { path, pass } of ORDER) {
    const r = await pingpong(net, to[path], opts.pings);
    log(`rtt ${path} pass ${pass}: p50 ${r.p50_us} µs, p99 ${r.p99_us} µs`);
    runs.push({ path, pass, ...r });
  }
  return summarizeRtt(runs, opts.pings);
}

async function dnsOf(server: DnsServer, opts: MeshOptions): Promise<DnsRun> {
  live.dns = server;
  try {
    await loadDns(server, DNS_WARMUP_S, opts.inflight);
    const r = await loadDns(server, opts.durationS, opts.inflight);
    log(`dns ${server.what}: ${r.qps} queries/s, p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms, server CPU ${r.server_cpu_pct ?? '-'}%, client CPU ${r.client_cpu_pct}%`);
    if (r.errors > 0) log(`warning: dns ${server.what}: ${r.errors} errors (first: ${r.first_error ?? '?'}); this figure is not a clean result`);
    return r;
  } finally {
    live.dns = undefined;
    await server.stop();
  }
}

async function measureDns(named: string | undefined, dir: string, opts: MeshOptions): Promise<DnsSummary> {
  const starling = await dnsOf(await startStarlingDns(), opts);
  let namedRun: DnsRun | null = null;
  let missing: string | null = null;
  if (named === undefined) {
    missing = 'named is not installed (apt-get install -y bind9)';
    log(`dns: ${missing}: left out, its ratio is null`);
  } else {
    namedRun = await dnsOf(await startNamed(named, dir), opts);
  }
  return summarizeDns(starling, namedRun, missing, { name: DNS_NAME, records: DNS_INSTANCES, inflight: opts.inflight, durationS: opts.durationS });
}

async function measureConvergence(net: TwoHosts, mesh: StarlingMesh, opts: MeshOptions): Promise<ConvergenceSummary> {
  const runs: ConvergenceRound[] = [];
  for (let round = 1; round <= opts.rounds; round++) {
    for (const stagger of [0, STAGGER_MS]) {
      const r = await convergenceRound(net, mesh, round, stagger);
      log(`convergence round ${round}${stagger ? ` (B ${stagger} ms after A)` : ''}: ${r.timed_out ? `no connect within ${r.ms} ms` : `${r.ms} ms`} (updates applied after ${r.update_ms} ms)`);
      runs.push(r);
    }
  }
  return summarizeConvergence(runs, PROBE_INTERVAL_MS, STAGGER_MS);
}

async function main(): Promise<void> {
  let opts: MeshOptions | 'help';
  try {
    opts = parseMeshOptions(process.argv.slice(2));
  } catch (e) {
    console.error(`bench: ${(e as Error).message}\n\n${MESH_USAGE}`);
    process.exitCode = 2;
    return;
  }
  if (opts === 'help') {
    console.log(MESH_USAGE);
    return;
  }
  const has = (p: MeshOptions['parts'][number]) => opts.parts.includes(p);
  const netted = needsNamespaces(opts.parts);
  if (netted && process.getuid?.() !== 0) {
    throw new BenchError(
      'bench:mesh needs root: it makes network namespaces, a veth and TUN devices for wireguard-go. ' +
        'Run it as root (sudo npm run bench:mesh), or only the parts that need none: --only dns,names',
    );
  }
  const wgGo = netted ? need('wireguard-go', 'apt-get install -y wireguard-go') : undefined;
  if (netted) {
    need('wg', 'apt-get install -y wireguard-tools');
    need('ip', 'apt-get install -y iproute2');
  }
  const named = has('dns') ? findExecutable('named') : undefined;

  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, onSignal);
  process.on('exit', () => {
    killAllSync();
    destroyNetSync();
    if (tempDir !== undefined) rmSync(tempDir, { recursive: true, force: true });
  });
  tempDir = mkdtempSync(join(tmpdir(), 'starling-bench-mesh-'));
  const dir = tempDir;
  const loadStart = loadavg().map(round2);

  let throughput: ThroughputSummary | null = null;
  let rtt: RttSummary | null = null;
  let dns: DnsSummary | null = null;
  let convergence: ConvergenceSummary | null = null;
  let names: NamesSummary | null = null;
  let net: TwoHosts | undefined;
  if (netted) {
    net = twoHosts();
    log(`namespaces ${net.a} (${net.addrA}) and ${net.b} (${net.addrB}), joined by a veth`);
    live.serve = await startServe(net.b);
    live.mesh = await startStarlingMesh(net);
    await live.mesh.join();
    await waitReachable(net.a, live.mesh.addrB, 'the mesh');
    log(`mesh: ${live.mesh.interfaces.join(', ')} (Mesh + WireguardGoDevice), [${live.mesh.addrA}] → [${live.mesh.addrB}]`);
  }
  if (net && live.mesh && (has('throughput') || has('rtt'))) {
    live.bare = await startBareTunnel(net, dir);
    await waitReachable(net.a, live.bare.addrB, 'the bare tunnel');
    await waitReachable(net.a, net.addrB, 'the underlay');
    log(`bare: ${live.bare.interfaces.join(', ')} (wireguard-go + wg set + ip), [${live.bare.addrA}] → [${live.bare.addrB}]`);
    const to: Paths = { underlay: net.addrB, mesh: live.mesh.addrB, bare: live.bare.addrB };
    if (has('throughput')) throughput = await measureThroughput(net, to, opts);
    if (has('rtt')) rtt = await measureRtt(net, to, opts);
  }
  if (has('dns')) dns = await measureDns(named, dir, opts);
  if (net && live.mesh && has('convergence')) convergence = await measureConvergence(net, live.mesh, opts);
  if (has('names')) names = await measureNames(opts.rounds, log);

  const env = {
    cpus: availableParallelism(),
    kernel: release(),
    node: process.version,
    wireguard_go: wgGo === undefined ? null : versionOf(wgGo, '--version', /wireguard-go (\S+)/),
    named: named === undefined ? null : versionOf(named, '-v', /BIND (\d+\.\d+\.\d+)/),
    load_avg_start: loadStart,
    load_avg_end: loadavg().map(round2),
  };
  if (opts.json) {
    console.log(JSON.stringify({ date: new Date().toISOString(), parts: opts.parts, duration_s: opts.durationS, env, throughput, rtt, dns, convergence, names }, null, 2));
    return;
  }
  console.log(`mesh benchmark: ${opts.parts.join(', ')}; ${opts.durationS} s per throughput and DNS run`);
  if (net) console.log(`namespaces A and B joined by a veth (${net.addrA} ↔ ${net.addrB}); wireguard-go ${env.wireguard_go ?? '?'}, MTU 1420 on both tunnels`);
  console.log(`host: ${env.cpus} CPUs; kernel ${env.kernel}, node ${env.node}; load ${env.load_avg_start.join(' ')} → ${env.load_avg_end.join(' ')}\n`);
  if (throughput) {
    printThroughput(throughput, opts.durationS);
    console.log('');
  }
  if (rtt) {
    printRtt(rtt);
    console.log('');
  }
  if (dns) {
    printDns(dns, env.named);
    console.log('');
  }
  if (convergence) {
    printConvergence(convergence);
    console.log('');
  }
  if (names) printNames(names);
}

runBench(main, { cleanup, interrupted });
