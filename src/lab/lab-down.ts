/**
 * `lab down`: the agents first, while the network and the control plane still run (so they stop
 * their machines, withdraw their routes and report their last states without waiting on dead
 * peers), then everything else the state file records (teardownLab: the other processes, the
 * namespaces with their veths, the directories, the state file). Idempotent: without a state there
 * is nothing to do; after a crash exactly what is recorded goes.
 *
 * An agent that stops cleanly removes its machines' cgroups; one that was killed (`lab fail --mode
 * crash`) cannot. The sandbox driver records them in each machine's state file, in the lab's
 * directory; once the agents are gone, the (empty) groups those files name are removed too.
 */
import { existsSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SystemClock, type Clock } from '../shared/index.js';
import { teardownLab } from './fabric.js';
import { labDir } from './lab-context.js';
import { LabState, isRecordedAlive, stopRecordedProcesses } from './lab-state.js';
import { stopLabMesh } from './lab-mesh.js';

export interface LabDownReport {
  /** Undefined when there was no lab (nothing to do). */
  lab: string | undefined;
  /** Processes that were running and were stopped. */
  processes: number;
  /** Of those, the ones that needed SIGKILL (their recorded names). */
  killed: string[];
  namespaces: number;
  dirs: number;
}

export async function labDown(name: string, o: { baseDir?: string | undefined; clock?: Clock } = {}): Promise<LabDownReport> {
  const dir = labDir(name, o.baseDir);
  const clock = o.clock ?? new SystemClock();
  const state = LabState.load(dir);
  let processes = 0;
  const killed: string[] = [];
  if (state) {
    const all = state.snapshot().processes;
    const agents = all.filter((p) => p.what.startsWith('agent '));
    for (const group of [agents, all.filter((p) => !agents.includes(p))]) {
      const stop = await stopRecordedProcesses(group, clock, 5000);
      processes += stop.stopped.length;
      killed.push(...stop.killed.map((p) => p.what));
      state.forget('process', ...group.filter((p) => !isRecordedAlive(p)).map((p) => p.pid));
      if (group === agents) removeMachineCgroups(dir);
    }
  }
  // The mesh devices of agents that were killed (lab-mesh.ts): named after the lab, state file or not.
  processes += await stopLabMesh(name, clock);
  // What is left: anything that survived SIGKILL (an error naming it), the namespaces, the directories.
  const r = await teardownLab(dir, { clock });
  // The labs' base directory (/run/starling-lab) goes with the last lab; another lab's keeps it.
  try {
    rmdirSync(dirname(dir));
  } catch {
    /* not empty, or already gone */
  }
  return { lab: r.lab, processes: processes + r.processes, killed, namespaces: r.namespaces, dirs: r.dirs };
}

/** Removes the cgroup directories the lab's machines' state files name (only under /sys/fs/cgroup). */
function removeMachineCgroups(labDirectory: string): void {
  const hosts = join(labDirectory, 'hosts');
  if (!existsSync(hosts)) return;
  for (const host of readdirSync(hosts)) {
    const machines = join(hosts, host, 'state', 'machines', 'machines');
    if (!existsSync(machines)) continue;
    for (const m of readdirSync(machines)) {
      let dirs: unknown;
      try {
        dirs = (JSON.parse(readFileSync(join(machines, m, 'state.json'), 'utf8')) as { traces?: { cgroupDirs?: unknown } }).traces?.cgroupDirs;
      } catch {
        continue;
      }
      for (const d of Array.isArray(dirs) ? dirs : []) {
        if (typeof d !== 'string' || !d.startsWith('/sys/fs/cgroup/') || d.includes('..')) continue;
        try {
          rmdirSync(d);
        } catch {
          /* gone already, or still in use: left for the host's own cleanup */
        }
      }
    }
  }
}
