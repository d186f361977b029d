/**
 * Resource limits for sandboxed machines through whatever cgroup layout the host offers: cgroup v2
 * (unified) when it holds the controller, else the v1 hierarchy that has it. Hybrid hosts (v1
 * controllers plus an almost empty /sys/fs/cgroup/unified) are common, so every limit is decided on
 * its own and a limit that cannot be applied is reported, never fatal.
 *
 * A machine's group is nested under the driver's own group (`<own>/starling/<dir>`), so machines stay
 * inside whatever limits and accounting the agent itself runs under (systemd-style delegation).
 */
import { mkdirSync, readFileSync, rmdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock } from '../../shared/index.js';
import type { GuestLimits } from '../types.js';

export type Controller = 'memory' | 'pids' | 'cpu';
const CONTROLLERS: readonly Controller[] = ['memory', 'pids', 'cpu'];
/** The name each limit has in GuestLimits, used in `notApplied` entries ("memory: …"). */
const LIMIT_NAME: Record<Controller, 'memory_mb' | 'pids' | 'cpus'> = { memory: 'memory_mb', pids: 'pids', cpu: 'cpus' };
const CPU_PERIOD_US = 100_000;

interface Hierarchy {
  version: 1 | 2;
  /** Directory of the driver's own group in this hierarchy. */
  ownDir: string;
  /** v2 only: the mount point, for enabling controllers along the path. */
  mount: string;
}

export interface CgroupLayout {
  /** Which hierarchy serves each controller; absent = not available on this host. */
  byController: Partial<Record<Controller, Hierarchy>>;
}

/** Reads /proc/self/mountinfo and /proc/self/cgroup once. */
export function detectCgroups(): CgroupLayout {
  let mountinfo = '';
  let own = '';
  try {
    mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
    own = readFileSync('/proc/self/cgroup', 'utf8');
  } catch {
    return { byController: {} };
  }
  const ownPath = new Map<string, string>(); // controller (or '' for v2) → path
  for (const line of own.split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    for (const c of (m[1] ?? '').split(',')) ownPath.set(c, m[2] ?? '/');
  }
  const byController: Partial<Record<Controller, Hierarchy>> = {};
  for (const line of mountinfo.split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!pre || !post) continue;
    const f = pre.split(' ');
    const [fstype, , superopts] = post.split(' ');
    const root = f[3] ?? '/';
    const mount = (f[4] ?? '').replace(/\\040/g, ' ');
    const inMount = (p: string | undefined): string | undefined => {
      if (p === undefined) return undefined;
      if (root === '/') return join(mount, p);
      return p === root || p.startsWith(root + '/') ? join(mount, p.slice(root.length)) : join(mount);
    };
    if (fstype === 'cgroup2') {
      let available: string[] = [];
      try {
        available = readFileSync(join(mount, 'cgroup.controllers'), 'utf8').trim().split(/\s+/);
      } catch {
        continue;
      }
      const ownDir = inMount(ownPath.get(''));
      if (!ownDir) continue;
      // v2 wins when it has the controller: it is where the kernel is heading and a v1 hierarchy
      // with the same controller cannot exist at the same time.
      for (const c of CONTROLLERS) if (available.includes(c)) byController[c] = { version: 2, ownDir, mount };
    } else if (fstype === 'cgroup') {
      const opts = (superopts ?? '').split(',');
      for (const c of CONTROLLERS) {
        if (!opts.includes(c) || byController[c]?.version === 2) continue;
        const ownDir = inMount(ownPath.get(c));
        if (ownDir) byController[c] = { version: 1, ownDir, mount };
      }
    }
  }
  return { byController };
}

export interface MachineCgroups {
  /** Every directory made for the machine (one per hierarchy used). */
  dirs: string[];
  /** "<limit>: <reason>" for each limit asked for but not applied. */
  notApplied: string[];
}

/**
 * Makes `<own>/starling/<name>` in each hierarchy and writes the limits. Never throws: what fails
 * lands in `notApplied`. Re-running it on existing groups re-applies the limits.
 */
export function createMachineCgroups(layout: CgroupLayout, name: string, guest: GuestLimits): MachineCgroups {
  const dirs = new Set<string>();
  const notApplied: string[] = [];
  for (const c of CONTROLLERS) {
    const wanted = guest[LIMIT_NAME[c]];
    if (!(wanted > 0)) continue; // not asked for
    const h = layout.byController[c];
    if (!h) {
      notApplied.push(`${LIMIT_NAME[c]}: no ${c} cgroup controller on this host (neither cgroup v2 nor a v1 hierarchy has it)`);
      continue;
    }
    const dir = join(h.ownDir, 'starling', name);
    try {
      if (h.version === 2) enableV2(h, c);
      mkdirRetry(dir, h.ownDir);
      dirs.add(dir);
      for (const [file, value] of limitFiles(h.version, c, wanted)) writeFileSync(join(dir, file), value);
      if (c === 'cpu') cpuWeight(h.version, dir, guest.cpu_kind ?? 'shared', notApplied);
      if (c === 'memory') swapLimit(h.version, dir, wanted);
    } catch (e) {
      notApplied.push(`${LIMIT_NAME[c]}: cgroup v${h.version} ${c} at ${dir}: ${(e as Error).message}`);
    }
  }
  return { dirs: [...dirs], notApplied };
}

/**
 * Makes `dir` below the hierarchy's own group, one level at a time. Not `mkdirSync(recursive)`: on
 * a sysfs that lists cgroup mounts it does not hold (an agent under `ip netns exec`, which mounts a
 * fresh /sys), Node's recursive mkdir spins forever between ENOENT and EEXIST. Here a missing group
 * is an error at once; another driver removing the shared empty parent between two mkdirs is
 * retried a few times.
 */
function mkdirRetry(dir: string, ownDir: string): void {
  if (!existsSync(join(ownDir, 'cgroup.procs'))) throw new Error(`${ownDir} is not a cgroup directory here (is /sys the host's?)`);
  const parts = dir.slice(ownDir.length).split('/').filter((p) => p !== '');
  for (let attempt = 0; ; attempt++) {
    try {
      let at = ownDir;
      for (const p of parts) {
        at = join(at, p);
        try {
          mkdirSync(at);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        }
      }
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 3) throw e;
    }
  }
}

function limitFiles(version: 1 | 2, c: Controller, wanted: number): [string, string][] {
  if (c === 'memory') {
    const bytes = String(Math.round(wanted * 1024 * 1024));
    return version === 1 ? [['memory.limit_in_bytes', bytes]] : [['memory.max', bytes]];
  }
  if (c === 'pids') return [['pids.max', String(Math.round(wanted))]];
  const quota = String(Math.max(1000, Math.round(wanted * CPU_PERIOD_US)));
  return version === 1
    ? [
        ['cpu.cfs_period_us', String(CPU_PERIOD_US)],
        ['cpu.cfs_quota_us', quota],
      ]
    : [['cpu.max', `${quota} ${CPU_PERIOD_US}`]];
}

/** The CPU weight of the machine's kind (GuestLimits.cpu_kind); a host without the file says so. */
function cpuWeight(version: 1 | 2, dir: string, kind: 'shared' | 'performance', notApplied: string[]): void {
  const [file, value] = version === 2 ? ['cpu.weight', kind === 'performance' ? '1000' : '100'] : ['cpu.shares', kind === 'performance' ? '10240' : '1024'];
  try {
    writeFileSync(join(dir, file), value);
  } catch (e) {
    notApplied.push(`cpu_kind: cgroup v${version} ${file} at ${dir}: ${(e as Error).message}`);
  }
}

/** Memory + swap capped at the memory limit where the kernel accounts swap; silently skipped if not. */
function swapLimit(version: 1 | 2, dir: string, mb: number): void {
  try {
    if (version === 1) writeFileSync(join(dir, 'memory.memsw.limit_in_bytes'), String(Math.round(mb * 1024 * 1024)));
    else writeFileSync(join(dir, 'memory.swap.max'), '0');
  } catch {
    /* swap accounting off: the memory limit alone still holds */
  }
}

/** v2 needs the controller enabled in `subtree_control` of every ancestor, down to `starling`. */
function enableV2(h: Hierarchy, c: Controller): void {
  const chain: string[] = [];
  for (let d = h.ownDir; d.startsWith(h.mount); d = join(d, '..')) {
    chain.unshift(d);
    if (d === h.mount) break;
  }
  const starling = join(h.ownDir, 'starling');
  mkdirSync(starling, { recursive: true });
  for (const d of [...chain, starling]) {
    const enabled = readFileSync(join(d, 'cgroup.subtree_control'), 'utf8').split(/\s+/);
    if (!enabled.includes(c)) writeFileSync(join(d, 'cgroup.subtree_control'), `+${c}`);
  }
}

/** Moves `pid` (and, through inheritance, everything it starts later) into each group. */
export function attachToCgroups(dirs: string[], pid: number): string[] {
  const failed: string[] = [];
  for (const d of dirs) {
    try {
      writeFileSync(join(d, 'cgroup.procs'), String(pid));
    } catch (e) {
      failed.push(`${d}: ${(e as Error).message}`);
    }
  }
  return failed;
}

/**
 * Removes the machine's groups (and the shared `starling` parent once empty). A group with tasks
 * cannot be removed; the driver calls this after the sandbox has been reaped, so the short retry
 * only covers the kernel finishing its own bookkeeping (a real wait on the OS, not a policy timer).
 */
export async function removeMachineCgroups(dirs: string[], clock: Clock): Promise<string[]> {
  const failed: string[] = [];
  for (const d of dirs) {
    for (let attempt = 0; ; attempt++) {
      try {
        if (existsSync(d)) rmdirSync(d);
        break;
      } catch (e) {
        if (attempt >= 50) {
          failed.push(`${d}: ${(e as Error).message}`);
          break;
        }
        await clock.sleep(20);
      }
    }
    try {
      rmdirSync(join(d, '..')); // the shared parent, only if no other machine uses it
    } catch {
      /* busy or already gone */
    }
  }
  return failed;
}
