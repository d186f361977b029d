/**
 * The I/O half of the lab's network: makes a FabricSpec real, records it in the lab's state first,
 * and tears down exactly what was recorded. Spawns are what lab-up time is made of on a small
 * machine, so the builder batches: one `ip -batch -` adds every namespace, one adds every veth (each
 * end created directly inside its namespace), then one `ip netns exec NS sh -c 'sysctl …; exec ip
 * -batch -'` per namespace (a few at a time) sets sysctls, addresses, links, loopback addresses and
 * routes: N + 2 spawns for N namespaces. iproute2 names the failing line of a batch, which maps back
 * to the step that failed.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, rmdirSync, rmSync } from 'node:fs';
import { isAbsolute, join, normalize, sep } from 'node:path';
import { StarlingError, SystemClock, type Clock } from '../shared/index.js';
import type { FabricSpec } from './fabric-types.js';
import { validateFabricSpec } from './fabric-spec.js';

export { validateFabricSpec } from './fabric-spec.js';
import { isRecordedAlive, LabState, procInfo, STATE_FILE, stopRecordedProcesses } from './lab-state.js';
import { CommandError, runCommand, type RunOptions } from './userns.js';

const NETNS_DIR = '/run/netns';
const PARALLEL = 4;

export interface FabricOptions {
  clock?: Clock;
  /** Per command (default 30 s). */
  timeoutMs?: number;
}

export interface FabricReport {
  namespaces: number;
  links: number;
  /** Wall time of the build, validation included. */
  ms: number;
}

/**
 * Makes `spec` real. Validates first (ERR_LAB_SPEC, every problem at once), refuses namespaces that
 * already exist (ERR_LAB_EXISTS), records every namespace in `state` before making any, then builds.
 * A failure midway throws ERR_LAB_BUILD naming the step; `state` then lists what exists, for teardownLab.
 */
export async function buildFabric(
  spec: FabricSpec,
  state: LabState,
  onProgress: (step: string) => void = () => {},
  opts: FabricOptions = {},
): Promise<FabricReport> {
  const clock = opts.clock ?? new SystemClock();
  const t0 = clock.monotonic();
  const problems = validateFabricSpec(spec);
  if (state.lab !== spec.lab) problems.push(`the state is lab "${state.lab}"'s, the spec lab "${spec.lab}"'s`);
  if (problems.length > 0) {
    throw new StarlingError('ERR_LAB_SPEC', `invalid fabric spec (${problems.length} problems):\n  - ${problems.join('\n  - ')}`, {
      fault: 'user',
      hint: 'a bug in the topology planner, or a hand-written topology: validateFabricSpec lists the problems',
    });
  }
  const names = spec.namespaces.map((n) => n.name);
  const present = names.filter((n) => existsSync(join(NETNS_DIR, n)));
  if (present.length > 0) {
    const ours = present.every((n) => state.snapshot().namespaces.includes(n));
    throw new StarlingError('ERR_LAB_EXISTS', `network namespaces already exist: ${present.join(', ')}`, {
      fault: 'user',
      hint: ours ? `lab "${spec.lab}" is (partly) up: take it down first` : 'they were not made by this lab; pick another lab name',
    });
  }
  const run = (argv: string[], input?: string): Promise<unknown> => runCommand(argv, { input, clock, timeoutMs: opts.timeoutMs });

  state.record('namespace', ...names);
  onProgress(`namespaces: adding ${names.length}`);
  await batch(run, ['ip', '-batch', '-'], names.map((n) => [`namespace ${n}`, `netns add ${n}`]), () => 'ip -batch', () => {
    state.forget('namespace', ...names.filter((n) => !existsSync(join(NETNS_DIR, n))));
  });

  onProgress(`links: adding ${spec.links.length} veth pairs`);
  const veths = spec.links.map((l, i): [string, string] => [
    `link ${i + 1} (${l.a.ns}:${l.a.ifname} <-> ${l.b.ns}:${l.b.ifname})`,
    `link add name ${l.a.ifname} netns ${l.a.ns} type veth peer name ${l.b.ifname} netns ${l.b.ns}`,
  ]);
  await batch(run, ['ip', '-batch', '-'], veths, () => 'ip -batch');

  const configure = async (ns: FabricSpec['namespaces'][number]): Promise<void> => {
    onProgress(`configure ${ns.name}`);
    const ends = spec.links.flatMap((l) => [l.a, l.b]).filter((e) => e.ns === ns.name);
    // rp_filter off everywhere: anycast paths are asymmetric. `default` only reaches interfaces made
    // after it, and the veths exist already, so each one is set too (effective value: max(all, dev)).
    const sysctls = [`net/ipv4/ip_forward=${ns.forwarding ? 1 : 0}`, 'net/ipv4/conf/all/rp_filter=0', 'net/ipv4/conf/default/rp_filter=0'];
    for (const e of ends) sysctls.push(`net/ipv4/conf/${e.ifname}/rp_filter=0`);
    // IPv6: forwarding like IPv4's, and no duplicate address detection (the veths exist already, so
    // each is set too, before it goes up): its 1-2 s of "tentative" would hold every address and
    // link-local back, and in a lab that numbers itself no address can be a duplicate.
    sysctls.push(`net/ipv6/conf/all/forwarding=${ns.forwarding ? 1 : 0}`, 'net/ipv6/conf/all/accept_dad=0', 'net/ipv6/conf/default/accept_dad=0');
    for (const e of ends) sysctls.push(`net/ipv6/conf/${e.ifname}/accept_dad=0`);
    const lines: Array<[string, string]> = [[`${ns.name}: lo up`, 'link set dev lo up']];
    for (const a of ns.loopback) lines.push([`${ns.name}: loopback ${a}`, `addr add ${a} dev lo${a.includes(':') ? ' nodad' : ''}`]);
    for (const e of ends) {
      lines.push([`${ns.name}: address ${e.address} on ${e.ifname}`, `addr add ${e.address} dev ${e.ifname}`]);
      if (e.address6 !== undefined) lines.push([`${ns.name}: address ${e.address6} on ${e.ifname}`, `addr add ${e.address6} dev ${e.ifname} nodad`]);
      lines.push([`${ns.name}: ${e.ifname} up`, `link set dev ${e.ifname} up`]);
    }
    for (const r of ns.routes) lines.push([`${ns.name}: route to ${r.to} via ${r.via}`, `route add ${r.to} via ${r.via}`]);
    const argv = ['ip', 'netns', 'exec', ns.name, 'sh', '-c', 'sysctl -qw "$@" || exit 97; exec ip -batch -', 'sh', ...sysctls];
    await batch(run, argv, lines, (code) => (code === 97 ? `${ns.name}: sysctl ${sysctls.join(' ')}` : `${ns.name}: ip netns exec`));
  };
  const queue = [...spec.namespaces];
  const failures: unknown[] = [];
  const worker = async (): Promise<void> => {
    for (let ns = queue.shift(); ns && failures.length === 0; ns = queue.shift()) await configure(ns).catch((e) => failures.push(e));
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, queue.length) }, worker));
  if (failures.length > 0) throw failures[0];
  return { namespaces: names.length, links: spec.links.length, ms: Math.round(clock.monotonic() - t0) };
}

/** Runs an iproute2 batch; on failure throws ERR_LAB_BUILD naming the step of the failing line. */
async function batch(
  run: (argv: string[], input?: string) => Promise<unknown>,
  argv: string[],
  lines: Array<[step: string, line: string]>,
  label: (exitCode: number | null) => string,
  onFail?: () => void,
): Promise<void> {
  if (lines.length === 0) return;
  try {
    await run(argv, lines.map(([, l]) => l).join('\n') + '\n');
  } catch (e) {
    onFail?.();
    const stderr = e instanceof CommandError ? e.stderr : String(e);
    const at = /Command failed -:(\d+)/.exec(stderr);
    const line = at ? lines[Number(at[1]) - 1] : undefined;
    const step = line ? `${line[0]} (ip: ${line[1]})` : label(e instanceof CommandError ? e.exitCode : null);
    const why = stderr.split('\n').filter((l) => l.trim() && !l.startsWith('Command failed')).join('; ');
    throw new StarlingError('ERR_LAB_BUILD', `building the lab network failed at ${step}: ${why || String(e)}`, {
      cause: e,
      hint: 'what was made is recorded in the lab state: take the lab down, fix the cause, bring it up again',
    });
  }
}

export interface TeardownReport {
  /** Undefined when there was no state (nothing to do). */
  lab: string | undefined;
  processes: number;
  /** Of those, how many needed SIGKILL. */
  killed: number;
  namespaces: number;
  dirs: number;
}

/**
 * Removes what the lab in `dir` recorded: processes (SIGTERM, SIGKILL after `stopTimeoutMs`, only
 * while /proc/PID/stat shows the recorded start time), namespaces (their veths go with them),
 * directories, then the state file. Idempotent; each item is forgotten once gone, so a failed
 * teardown (ERR_LAB_TEARDOWN) leaves a state listing exactly what is left.
 */
export async function teardownLab(dir: string, opts: { clock?: Clock; stopTimeoutMs?: number } = {}): Promise<TeardownReport> {
  const clock = opts.clock ?? new SystemClock();
  const state = LabState.load(dir);
  const report: TeardownReport = { lab: state?.lab, processes: 0, killed: 0, namespaces: 0, dirs: 0 };
  if (!state) return report;
  const stop = await stopRecordedProcesses(state.snapshot().processes, clock, opts.stopTimeoutMs);
  const problems = stop.survivors.map(({ p, why }) => `${p.what} (pid ${p.pid}): ${why}`);
  state.forget('process', ...state.snapshot().processes.filter((p) => !isRecordedAlive(p)).map((p) => p.pid));
  Object.assign(report, { processes: stop.stopped.length, killed: stop.killed.length });

  const existing = state.snapshot().namespaces.filter((n) => existsSync(join(NETNS_DIR, n)));
  if (existing.length > 0) {
    const input = existing.map((n) => `netns del ${n}`).join('\n') + '\n';
    await runCommand(['ip', '-force', '-batch', '-'], { input, clock }).catch((e: unknown) => problems.push(String(e)));
  }
  const left = state.snapshot().namespaces.filter((n) => existsSync(join(NETNS_DIR, n)));
  problems.push(...left.map((n) => `namespace ${n} is still there`));
  state.forget('namespace', ...state.snapshot().namespaces.filter((n) => !left.includes(n)));
  report.namespaces = existing.length - left.length;

  for (const d of state.snapshot().dirs.reverse()) {
    const path = normalize(d);
    if (path === normalize(dir)) continue; // the state directory itself goes last
    if (!isAbsolute(path) || path.split(sep).filter(Boolean).length < 2) {
      problems.push(`recorded directory "${d}" is not an absolute path at least two levels deep: left alone`);
      continue;
    }
    try {
      rmSync(path, { recursive: true, force: true });
      state.forget('dir', d);
      report.dirs++;
    } catch (e) {
      problems.push(`directory ${d}: ${(e as Error).message}`);
    }
  }
  if (problems.length > 0) {
    throw new StarlingError('ERR_LAB_TEARDOWN', `lab "${state.lab}" is not fully down:\n  - ${problems.join('\n  - ')}`, {
      hint: `what is left is still recorded in ${join(dir, STATE_FILE)}; run the teardown again`,
    });
  }
  rmSync(join(dir, STATE_FILE), { force: true });
  if (state.snapshot().dirs.length > 0) {
    try {
      rmdirSync(dir); // the state directory, when the lab made it, and only when empty
      report.dirs++;
    } catch {
      /* someone else's files are in it */
    }
  }
  return report;
}

/** Starts `cmd` inside `ns` (`ip netns exec` execs in place: the pid is the command's) and records it. */
export function spawnIn(state: LabState, ns: string, cmd: string, args: string[], opts: SpawnOptions & { what?: string } = {}): ChildProcess {
  const { what, ...spawnOpts } = opts;
  const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], spawnOpts);
  const pid = child.pid;
  if (pid === undefined) {
    child.on('error', () => {}); // reported by the throw below
    throw new StarlingError('ERR_LAB_SPAWN', `cannot start ${cmd} in ${ns}: "ip" did not start`, { hint: 'install iproute2' });
  }
  const info = procInfo(pid);
  if (info) {
    state.record('process', { pid, startTime: info.startTime, what: what ?? `${cmd} in ${ns}`, ns });
    child.once('exit', () => state.forget('process', pid));
  }
  return child;
}

/** Runs `cmd` inside `ns` and returns its output; ERR_LAB_EXEC (with stderr) when it fails. */
export function execIn(ns: string, cmd: string, args: string[], opts: RunOptions = {}): Promise<{ stdout: string; stderr: string }> {
  return runCommand(['ip', 'netns', 'exec', ns, cmd, ...args], opts);
}

/** Makes a link drop every frame while staying up: tbf at 1 kbit with a 1-byte bucket. */
export async function silenceLink(ns: string, ifname: string, opts: RunOptions = {}): Promise<void> {
  await runCommand(['tc', '-n', ns, 'qdisc', 'replace', 'dev', ifname, 'root', 'tbf', 'rate', '1kbit', 'burst', '1', 'latency', '1ms'], opts);
}

/** Undoes silenceLink (a no-op on a link that is not silenced). */
export async function restoreLink(ns: string, ifname: string, opts: RunOptions = {}): Promise<void> {
  try {
    await runCommand(['tc', '-n', ns, 'qdisc', 'del', 'dev', ifname, 'root'], opts);
  } catch (e) {
    if (!(e instanceof CommandError && /handle of zero|No such file or directory/.test(e.stderr))) throw e;
  }
}
