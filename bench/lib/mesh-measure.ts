/**
 * bench:mesh's measurements between the namespaces, each a mesh-tool.ts process inside one: the
 * sink and echo server in B, the sender, the ping-pong and the probes in A.
 */
import { TOOL } from './mesh-dns.js';
import { startLines, type LineChild, type TwoHosts } from './mesh-net.js';
import type { StarlingMesh } from './mesh-tunnels.js';
import { run } from './procs.js';
import { BenchError, round1 } from './util.js';

export const SINK_PORT = 5201;
export const ECHO_PORT = 5202;
/** Between the convergence probe's connect attempts. */
export const PROBE_INTERVAL_MS = 10;
/** A connect that has not succeeded in this long counts as "unreachable" (between rounds). */
const UNREACHABLE_MS = 300;

const tool = (ns: string, ...args: (string | number)[]): string[] => ['netns', 'exec', ns, process.execPath, TOOL, ...args.map(String)];

/** The sink and echo server in namespace `ns`, on [::]. */
export async function startServe(ns: string): Promise<LineChild> {
  const s = startLines(`the sink in ${ns}`, 'ip', tool(ns, 'serve', SINK_PORT, ECHO_PORT));
  await s.waitLine('listening', 10_000);
  return s;
}

async function toolJson<T>(what: string, ns: string, ...args: (string | number)[]): Promise<T> {
  const r = await run(what, 'ip', tool(ns, ...args));
  if (r.code !== 0) throw new BenchError(`${what} failed: ${r.output.trim() || `exit code ${r.code ?? '?'}`}`);
  return JSON.parse(r.output.trim().split('\n').at(-1) ?? '{}') as T;
}

/** Whether a TCP connect from `ns` to [host]:ECHO_PORT succeeds within `timeoutMs`. */
export async function reaches(ns: string, host: string, timeoutMs: number): Promise<boolean> {
  return (await run('reach', 'ip', tool(ns, 'reach', host, ECHO_PORT, timeoutMs))).code === 0;
}

/**
 * Polls until [host] answers from `ns`. WireGuard retries a handshake that the other side dropped
 * (it did not have the peer yet) only after REKEY_TIMEOUT, 5 s: the deadline leaves room for that.
 */
export async function waitReachable(ns: string, host: string, what: string, deadlineMs = 15_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!(await reaches(ns, host, 1000))) {
    if (Date.now() > deadline) throw new BenchError(`${what}: [${host}]:${ECHO_PORT} not reachable from ${ns} within ${deadlineMs} ms`);
  }
}

export interface BlastRun {
  mbps: number;
  bytes: number;
  seconds: number;
  sender_cpu_pct: number;
}

/** A sender in A for `seconds` to the sink at [host] in B: MB/s (10^6 bytes), sink's count. */
export async function blast(net: TwoHosts, host: string, seconds: number): Promise<BlastRun> {
  const r = await toolJson<{ bytes: number; seconds: number; mb_s: number; cpu_pct: number }>(`the sender to [${host}]`, net.a, 'blast', host, SINK_PORT, seconds);
  return { mbps: round1(r.mb_s), bytes: r.bytes, seconds: Math.round(r.seconds * 1000) / 1000, sender_cpu_pct: r.cpu_pct };
}

export interface PingRun {
  p50_us: number;
  p99_us: number;
  mean_us: number;
  count: number;
}

export async function pingpong(net: TwoHosts, host: string, count: number): Promise<PingRun> {
  const r = await toolJson<PingRun>(`the ping-pong to [${host}]`, net.a, 'pingpong', host, ECHO_PORT, count);
  return { p50_us: round1(r.p50_us), p99_us: round1(r.p99_us), mean_us: round1(r.mean_us), count: r.count };
}

/**
 * A round whose connect has not succeeded this long after the updates ends there, recorded with
 * this figure (a lower bound) and `timed_out`: WireGuard retries a failed handshake every 5 s, so
 * this is several retries, and the benchmark stays short.
 */
export const ROUND_DEADLINE_MS = 30_000;
/** How long after A's update B's starts, in the staggered rounds. */
export const STAGGER_MS = 50;

export interface ConvergenceRound {
  round: number;
  /** 0: both updates at once; else B's started this long after A's returned. */
  stagger_ms: number;
  /** Mesh.update() on both sides called → the first TCP connect A → B over the mesh. */
  ms: number;
  /** Of that, until both updates had returned (the UAPI set applied). */
  update_ms: number;
  /** No connect within ROUND_DEADLINE_MS: `ms` is that deadline, a lower bound. */
  timed_out: boolean;
}

/**
 * One round: the peer removed on both sides and [B] unreachable from A, a probe in A trying a
 * connect every PROBE_INTERVAL_MS, then the peer added on both sides (t0) and the time to the
 * probe's first success, as the benchmark's clock sees its "ok" line arrive. With `staggerMs`, B's
 * update follows A's by that much, as when two hosts get the same feed change at different times.
 */
export async function convergenceRound(net: TwoHosts, mesh: StarlingMesh, round: number, staggerMs = 0): Promise<ConvergenceRound> {
  await mesh.split();
  const deadline = Date.now() + 10_000;
  while (await reaches(net.a, mesh.addrB, UNREACHABLE_MS)) {
    if (Date.now() > deadline) throw new BenchError(`convergence round ${round}: B still reachable 10 s after its peer was removed`);
  }
  const probe = startLines(`the convergence probe (round ${round})`, 'ip', tool(net.a, 'probe', mesh.addrB, ECHO_PORT, PROBE_INTERVAL_MS));
  try {
    await probe.waitLine('ready', 10_000);
    // Let a few attempts fail first, so the first one after t0 is not the process's first.
    await new Promise((r) => setTimeout(r, 5 * PROBE_INTERVAL_MS));
    const t0 = performance.now();
    const joined = mesh.join(staggerMs).then(() => performance.now());
    const ok = await probe.waitLine('ok', ROUND_DEADLINE_MS).catch(() => undefined);
    const applied = await joined;
    const ms = ok === undefined ? ROUND_DEADLINE_MS : round1(ok - t0);
    return { round, stagger_ms: staggerMs, ms, update_ms: round1(applied - t0), timed_out: ok === undefined };
  } finally {
    await probe.kill();
  }
}
