/**
 * CPU time of a process group, from /proc (Linux): what a proxy under test spent, wherever its
 * work ran (nginx's master and workers, a node process and its threads). Used to tell a proxy that
 * was the bottleneck from one that was waiting on the load generator.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    const n = Number((r.stdout ?? '').trim());
    ticksPerSecond = Number.isFinite(n) && n > 0 ? n : 100;
  }
  return ticksPerSecond;
}

/**
 * User + system CPU time, in ms, of every live process in the process group `pgid` (the benchmark
 * starts each child as a group leader, so that is the child's pid). undefined without /proc.
 */
export function groupCpuMs(pgid: number | undefined): number | undefined {
  if (pgid === undefined) return undefined;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return undefined;
  }
  let ticks = 0;
  let seen = false;
  for (const pid of pids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile, or not ours to read
    }
    // "pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime …";
    // comm may hold spaces and parentheses, so count fields after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) !== pgid) continue;
    seen = true;
    ticks += Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
  }
  return seen ? (ticks * 1000) / clockTicks() : undefined;
}
