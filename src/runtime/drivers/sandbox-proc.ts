/**
 * The sandbox driver's dealings with host processes: bwrap's exit status, finding the sandbox init
 * below the monitor, signals that never hit the driver's own group, and — for orphans — every
 * process inside a machine's network namespace.
 *
 * Why orphans need that: with a user namespace, bwrap's --die-with-parent no longer reaches the
 * sandbox init. The parent-death signal is sent with the dying monitor's credentials (host root
 * with every capability dropped), and the kernel refuses a signal from one uid to another without
 * CAP_KILL; the init runs as the app's host uid. So when the agent is killed (SIGKILL, OOM) the
 * monitor dies but the machine keeps running, isolated as before, until the next driver on the same
 * state dir cleans up. Every process of a machine is in its network namespace (setns is denied to
 * it), which is how cleanupOrphans finds and kills them.
 */
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { constants } from 'node:os';
import type { Clock } from '../../shared/index.js';
import type { ExitInfo } from '../types.js';

/** bwrap reports a signalled app as 128+n (its init exits so); map that back as shells do. */
export function exitInfo(code: number | null, signal: NodeJS.Signals | null): ExitInfo {
  if (signal) return { code: null, signal };
  if (code !== null && code > 128) {
    const name = Object.entries(constants.signals).find(([, n]) => n === code - 128)?.[0];
    if (name) return { code: null, signal: name as NodeJS.Signals };
  }
  return { code, signal: null };
}

export function childrenOf(pid: number): number[] {
  if (pid <= 1) return [];
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** The sandbox init appears a few ms after spawn (bwrap sets up mounts first). */
export async function sandboxInit(monitor: number, running: () => boolean, clock: Clock): Promise<number | undefined> {
  for (let i = 0; i < 100 && running(); i++) {
    const init = childrenOf(monitor)[0];
    if (init !== undefined) return init;
    await clock.sleep(5);
  }
  return undefined;
}

/** SIGKILL to the sandbox init takes the whole pid namespace down; bwrap (`monitor`) then exits with 128+9. */
export function killMachine(monitor: number, child: ChildProcess, clock: Clock): void {
  const init = childrenOf(monitor)[0];
  if (init === undefined || !sendSignal(init, 'SIGKILL')) sendSignal(-monitor, 'SIGKILL');
  else {
    const gone = (): boolean => child.exitCode !== null || child.signalCode !== null;
    clock.setTimeout(() => gone() || sendSignal(-monitor, 'SIGKILL'), 2000);
  }
}

export function signalGroup(leader: number, signal: NodeJS.Signals): void {
  if (!sendSignal(-leader, signal)) sendSignal(leader, signal);
}

export function sendSignal(pid: number, signal: NodeJS.Signals): boolean {
  if (Math.abs(pid) <= 1) return false; // 0 and ±1 would hit the driver's own group or everything
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false; // already gone
  }
}

/** Pids of every process whose network namespace is the one bound at `nsPath` (/run/netns/<name>). */
export function processesInNetns(nsPath: string): number[] {
  let ino: number;
  try {
    ino = statSync(nsPath).ino;
  } catch {
    return [];
  }
  const want = `net:[${ino}]`;
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readlinkSync(`/proc/${entry}/ns/net`) === want) out.push(Number(entry));
    } catch {
      /* gone, or a kernel thread */
    }
  }
  return out;
}

/** SIGKILLs every process in the namespace and waits (briefly, on the OS) until none is left. */
export async function killNetnsProcesses(nsPath: string, clock: Clock): Promise<number[]> {
  for (let i = 0; i < 100; i++) {
    const pids = processesInNetns(nsPath);
    if (pids.length === 0) return [];
    for (const pid of pids) sendSignal(pid, 'SIGKILL');
    await clock.sleep(10);
  }
  return processesInNetns(nsPath);
}
