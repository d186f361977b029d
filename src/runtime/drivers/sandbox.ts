/**
 * The sandbox driver: each machine is a process tree under bubblewrap, inside its own network
 * namespace (sandbox-net.ts), with memory/CPU/pids limits where the host's cgroups allow
 * (cgroups.ts). Process tree on the host:
 *
 *   node (driver) ─ bwrap monitor (ip netns exec'd in place) ─ sandbox init (pid 1 inside) ─ app
 *
 * Secrets: bwrap's options (binds, --setenv pairs) go through `--args 3`, a pipe, so they never
 * appear in any /proc/<pid>/cmdline; the driver never logs argv or env; the state files hold none.
 * The pipe doubles as a start gate: bwrap forks nothing before it has read all of it, so the
 * monitor is moved into its cgroups first and every process of the machine is born inside them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { StarlingError, type Clock, type Logger } from '../../shared/index.js';
import type { DriverMachine, ExitInfo, MachineSpec, RuntimeDriver } from '../types.js';
import { bwrapOptions, findBinary, HOST_PATH, hostRuntimeBinds, label, validateSpec, writeEtcFiles } from './sandbox-args.js';
import { attachToCgroups, createMachineCgroups, detectCgroups, removeMachineCgroups, type CgroupLayout } from './cgroups.js';
import { AddressPool, createMachineNet, netNames, removeMachineNet, RULE_PRIORITY, type MachineNet } from './sandbox-net.js';

export interface SandboxDriverOptions {
  /** Per-machine state (no secrets): state.json and the generated /etc files. */
  stateDir: string;
  /** The machine network. `cidr` is cut into one /30 per machine; `name` prefixes host-side veth names. */
  bridge: { name: string; cidr: string };
  bwrap?: string;
  ip?: string;
  clock: Clock;
  logger: Logger;
}

/** Where a machine left marks on the host: what destroy removes (and tests check). */
export interface SandboxTraces extends MachineNet {
  rulePriority: number;
  cgroupDirs: string[];
  stateDir: string;
}

interface Running {
  child: ChildProcess;
  pid: number;
  exited: Promise<ExitInfo>;
}

interface Machine {
  id: string;
  app: string;
  key: string;
  traces: SandboxTraces;
  run?: Running | undefined;
}

export class SandboxDriver implements RuntimeDriver {
  readonly name = 'sandbox';
  private readonly machines = new Map<string, Machine>();
  private readonly pool: AddressPool;
  private readonly cgroups: CgroupLayout = detectCgroups();
  private readonly runtimeBinds = hostRuntimeBinds();
  private readonly bwrap: string;
  private readonly ip: string;
  private readonly log: Logger;

  constructor(private readonly opts: SandboxDriverOptions) {
    this.pool = new AddressPool(opts.bridge.cidr);
    this.bwrap = opts.bwrap ?? findBinary('bwrap', 'install the "bubblewrap" package');
    this.ip = opts.ip ?? findBinary('ip', 'install the "iproute2" package');
    this.log = opts.logger.child({ component: 'sandbox-driver' });
  }

  async prepare(spec: MachineSpec): Promise<DriverMachine> {
    validateSpec(spec);
    const t0 = this.opts.clock.monotonic();
    const known = this.machines.get(spec.id);
    if (known) {
      const cg = createMachineCgroups(this.cgroups, cgroupName(known.traces), spec.guest);
      return { id: spec.id, address: known.traces.address, notApplied: cg.notApplied };
    }
    const names = netNames(this.opts.stateDir, spec.id, this.opts.bridge.name);
    const dir = join(this.opts.stateDir, 'machines', `${label(spec.id)}-${names.short}`);
    const stale = readState(dir);
    if (stale) await this.removeTraces(stale); // left by a driver that died without destroying
    rmSync(dir, { recursive: true, force: true });
    const key = `${this.opts.stateDir}\0${spec.id}`;
    const net: MachineNet = { netns: names.netns, hostIf: names.hostIf, ...this.pool.allocate(key) };
    const traces: SandboxTraces = { ...net, rulePriority: RULE_PRIORITY, cgroupDirs: [], stateDir: dir };
    try {
      mkdirSync(dir, { recursive: true });
      writeEtcFiles(spec, traces);
      writeState(dir, { id: spec.id, app: spec.app, traces });
      await createMachineNet(this.ip, net);
    } catch (e) {
      this.pool.release(net.address, key);
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
    const cg = createMachineCgroups(this.cgroups, cgroupName(traces), spec.guest);
    traces.cgroupDirs = cg.dirs;
    writeState(dir, { id: spec.id, app: spec.app, traces });
    this.machines.set(spec.id, { id: spec.id, app: spec.app, key, traces });
    const ms = Math.round(this.opts.clock.monotonic() - t0);
    this.log.info('machine prepared', { machine: spec.id, app: spec.app, address: net.address, netns: net.netns, ms, notApplied: cg.notApplied });
    return { id: spec.id, address: net.address, notApplied: cg.notApplied };
  }

  async start(m: DriverMachine, spec: MachineSpec, io: Parameters<RuntimeDriver['start']>[2]): Promise<void> {
    const machine = this.machines.get(m.id);
    if (!machine) throw new StarlingError('ERR_MACHINE_NOT_PREPARED', `machine ${m.id} was not prepared by this driver`);
    if (machine.run) throw new StarlingError('ERR_MACHINE_RUNNING', `machine ${m.id} is already running`, { fault: 'user' });
    const t0 = this.opts.clock.monotonic();
    const options = bwrapOptions(spec, machine.traces, this.runtimeBinds);
    const child = spawn(this.ip, ['netns', 'exec', machine.traces.netns, this.bwrap, '--args', '3', '--', ...spec.cmd], {
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
      detached: true, // its own process group: signals aimed at the driver's group miss machines
      env: { PATH: HOST_PATH },
    });
    const gate = child.stdio[3] as Writable;
    let spawned = false;
    const exited = new Promise<ExitInfo>((resolve) => {
      child.once('close', (code, signal) => {
        const info = exitInfo(code, signal);
        if (machine.run?.child === child) machine.run = undefined;
        if (!spawned) return resolve(info); // start() rejects; there was no process to report on
        this.log.info('machine exited', { machine: m.id, code: info.code, signal: info.signal });
        io.exit(info);
        resolve(info);
      });
    });
    machine.run = { child, pid: child.pid ?? 0, exited }; // taken at once: a concurrent start() must fail
    try {
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', reject);
      });
    } catch (e) {
      gate.destroy();
      machine.run = undefined;
      throw new StarlingError('ERR_MACHINE_START', `cannot start machine ${m.id}: ${(e as Error).message}`, { cause: e });
    }
    spawned = true;
    const pid = machine.run.pid;
    const failed = attachToCgroups(machine.traces.cgroupDirs, pid);
    for (const f of failed) m.notApplied.push(`cgroup: could not move the machine into ${f}`);
    if (failed.length) this.log.warn('machine runs outside some of its cgroups', { machine: m.id, failed });
    gate.on('error', () => undefined); // bwrap died before reading: its exit status says why
    gate.end(options.map((a) => `${a}\0`).join(''));
    child.stdout?.on('data', (c: Buffer) => io.stdout(c));
    child.stderr?.on('data', (c: Buffer) => io.stderr(c));
    this.log.info('machine started', { machine: m.id, pid, ms: Math.round(this.opts.clock.monotonic() - t0) });
  }

  async stop(m: DriverMachine, signal: NodeJS.Signals, timeoutMs: number): Promise<ExitInfo | undefined> {
    const run = this.machines.get(m.id)?.run;
    if (!run) return undefined;
    this.log.info('stopping machine', { machine: m.id, signal, timeoutMs });
    const timer = this.opts.clock.setTimeout(() => {
      this.log.warn('machine ignored its stop signal: SIGKILL', { machine: m.id, signal, timeoutMs });
      this.kill(run);
    }, timeoutMs);
    try {
      if (signal === 'SIGKILL') this.kill(run);
      else {
        // --new-session made the sandbox init a session and group leader, and the app inherits
        // its group; init itself ignores the signal (pid 1 without a handler) and exits with the app.
        const init = await sandboxInit(run, this.opts.clock);
        if (init === undefined) this.kill(run);
        else signalGroup(init, signal);
      }
      return await run.exited;
    } finally {
      timer.cancel();
    }
  }

  async destroy(m: DriverMachine): Promise<void> {
    const machine = this.machines.get(m.id);
    if (!machine) return;
    if (machine.run) {
      this.kill(machine.run);
      await machine.run.exited;
    }
    const left = await this.removeTraces({ id: machine.id, app: machine.app, traces: machine.traces });
    this.pool.release(machine.traces.address, machine.key);
    this.machines.delete(m.id);
    if (left.length) {
      this.log.error('machine destroyed with leftovers', { machine: m.id, left });
      throw new StarlingError('ERR_MACHINE_DESTROY', `machine ${m.id} left traces: ${left.join(', ')}`);
    }
    this.log.info('machine destroyed', { machine: m.id });
  }

  /** Destroys every machine this driver still holds (agent shutdown, test teardown). */
  async close(): Promise<void> {
    for (const machine of [...this.machines.values()]) await this.destroy({ id: machine.id, address: machine.traces.address, notApplied: [] });
  }

  /**
   * Removes what machines of an earlier driver process left under this stateDir (netns, veth, rule,
   * cgroups, files); their processes died with it (--die-with-parent). For the agent at boot: one
   * driver per stateDir. Returns the ids cleaned up.
   */
  async cleanupOrphans(): Promise<string[]> {
    const root = join(this.opts.stateDir, 'machines');
    const ours = new Set([...this.machines.values()].map((m) => m.traces.stateDir));
    const cleaned: string[] = [];
    for (const entry of existsSync(root) ? readdirSync(root) : []) {
      const dir = join(root, entry);
      if (ours.has(dir)) continue;
      const state = readState(dir);
      if (state) {
        const left = await this.removeTraces(state);
        if (left.length) this.log.warn('orphaned machine left traces', { machine: state.id, left });
        cleaned.push(state.id);
      }
      rmSync(dir, { recursive: true, force: true });
    }
    if (cleaned.length) this.log.info('removed orphaned machines', { machines: cleaned });
    return cleaned;
  }

  /** What a machine has on the host: names of its netns, veth, rule, cgroups and state dir. */
  traces(m: DriverMachine): SandboxTraces | undefined {
    const t = this.machines.get(m.id)?.traces;
    return t && { ...t, cgroupDirs: [...t.cgroupDirs] };
  }

  private async removeTraces(state: StateFile): Promise<string[]> {
    const left = await removeMachineNet(this.ip, state.traces);
    left.push(...(await removeMachineCgroups(state.traces.cgroupDirs, this.opts.clock)));
    rmSync(state.traces.stateDir, { recursive: true, force: true });
    if (existsSync(state.traces.stateDir)) left.push(`state ${state.traces.stateDir}`);
    return left;
  }

  /** SIGKILL to the sandbox init takes the whole pid namespace down; bwrap then exits with 128+9. */
  private kill(run: Running): void {
    const init = childrenOf(run.pid)[0];
    if (init === undefined || !sendSignal(init, 'SIGKILL')) sendSignal(-run.pid, 'SIGKILL');
    else {
      const gone = (): boolean => run.child.exitCode !== null || run.child.signalCode !== null;
      this.opts.clock.setTimeout(() => gone() || sendSignal(-run.pid, 'SIGKILL'), 2000);
    }
  }
}

interface StateFile {
  id: string;
  app: string;
  traces: SandboxTraces;
}

const cgroupName = (t: SandboxTraces): string => t.stateDir.slice(t.stateDir.lastIndexOf('/') + 1);

function writeState(dir: string, state: StateFile): void {
  const tmp = join(dir, `.state.json.${process.pid}`);
  writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n');
  renameSync(tmp, join(dir, 'state.json'));
}

function readState(dir: string): StateFile | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as StateFile;
  } catch {
    return undefined; // no machine (or a half-written dir, removed by the caller)
  }
}

/** bwrap reports a signalled app as 128+n (its init exits so); map that back as shells do. */
function exitInfo(code: number | null, signal: NodeJS.Signals | null): ExitInfo {
  if (signal) return { code: null, signal };
  if (code !== null && code > 128) {
    const name = Object.entries(constants.signals).find(([, n]) => n === code - 128)?.[0];
    if (name) return { code: null, signal: name as NodeJS.Signals };
  }
  return { code, signal: null };
}

function childrenOf(pid: number): number[] {
  if (pid <= 1) return [];
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** The sandbox init appears a few ms after spawn (bwrap sets up mounts first). */
async function sandboxInit(run: Running, clock: Clock): Promise<number | undefined> {
  for (let i = 0; i < 100 && run.child.exitCode === null; i++) {
    const init = childrenOf(run.pid)[0];
    if (init !== undefined) return init;
    await clock.sleep(5);
  }
  return undefined;
}

function signalGroup(leader: number, signal: NodeJS.Signals): void {
  if (!sendSignal(-leader, signal)) sendSignal(leader, signal);
}

function sendSignal(pid: number, signal: NodeJS.Signals): boolean {
  if (Math.abs(pid) <= 1) return false; // 0 and ±1 would hit the driver's own group or everything
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false; // already gone
  }
}

