/**
 * The sandbox driver: each machine is a process tree under bubblewrap, in a user namespace of its
 * own mapped to its app's unprivileged host uids (sandbox-userns.ts), under a seccomp filter
 * (seccomp.ts), inside its own network namespace (sandbox-net.ts) whose host side a per-machine
 * nftables table guards (sandbox-firewall.ts), with memory/CPU/pids limits where the host's cgroups
 * allow (cgroups.ts). Process tree on the host:
 *
 *   node (driver) ─ bwrap monitor (ip netns exec'd in place) ─ sandbox init (pid 1 inside) ─ app
 *
 * Secrets: bwrap's options (binds, --setenv pairs) go through `--args 3`, a pipe, so they never
 * appear in any /proc/<pid>/cmdline; the driver never logs argv or env; the state files hold none.
 * The pipe doubles as a start gate: bwrap forks nothing before it has read all of it, so the
 * monitor is moved into its cgroups first and every process of the machine is born inside them.
 * fd 4 is the user namespace, fd 5 the seccomp program (a pipe bwrap reads to EOF).
 *
 * The view (sandbox-args.ts): on the host base the image read-only at /app over the host's /usr;
 * on an image base (MachineSpec.image.base 'image') the image's own root filesystem, from the
 * `rootfs` option, under an overlay wiped at every start (sandbox-rootfs.ts), as `/`. Who the app
 * is inside (sandbox-user.ts) may be root: the block's uid 0, never the host's (bwrapAs).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { StarlingError, type Clock, type Logger } from '../../shared/index.js';
import type { DriverMachine, ExecRequest, ExitInfo, MachineSpec, RuntimeDriver } from '../types.js';
import { bwrapOptions, findBinary, HOST_PATH, hostRuntimeBinds, isImageBase, machineEnv, validateSpec, workdirOf } from './sandbox-args.js';
import { spawnExec } from './sandbox-exec.js';
import { attachToCgroups, createMachineCgroups, detectCgroups, type CgroupLayout } from './cgroups.js';
import { validatePorts } from './sandbox-firewall.js';
import { MachineHost, type MachineRecord, type SandboxTraces, type SandboxTools } from './sandbox-host.js';
import { addTraverse, checkMachinePaths, ensureOwnDir } from './sandbox-paths.js';
import { childrenOf, exitInfo, killMachine, sandboxInit, signalGroup } from './sandbox-proc.js';
import { Reaper } from './sandbox-reaper.js';
import { mountRoot, releaseRoot } from './sandbox-rootfs.js';
import { HOST_BASE_USER, resolveUser } from './sandbox-user.js';
import { bwrapAs, closeUserNamespace, DEFAULT_UID_BASE } from './sandbox-userns.js';
import { hostSeccompArch, seccompProgram } from './seccomp.js';

export type { SandboxTraces } from './sandbox-host.js';

export interface SandboxDriverOptions {
  /** Per-machine state (no secrets): state.json, the generated /etc files, uid-blocks.json. */
  stateDir: string;
  /** The machine network. `cidr` is cut into one /30 per machine; `name` prefixes host-side veth names. */
  bridge: { name: string; cidr: string };
  /** TCP ports a machine may reach on its gateway address (the platform's proxy); nothing else. */
  publicPorts?: number[];
  /** First host uid of the per-app blocks (default 0x70000000); one agent per host owns the range. */
  uidBase?: number;
  /**
   * Where the host cannot give a machine a user namespace, run it as the host's uid 0 (still with
   * seccomp and the firewall) instead of refusing. For hosts where that uid is itself unprivileged:
   * the non-root lab's user-namespace holder.
   */
  allowHostRoot?: boolean | undefined;
  /** Directories above stateDir that belong to the caller: given o+x (never o+r) rather than refused. */
  traversable?: string[];
  /**
   * The root filesystem of an image-base machine's image (MachineSpec.image.base 'image'): a
   * directory of it unpacked with file owners shifted by `uidShift` (the app's first host uid, 0
   * without a user namespace). The agent wires it to the host image store; called in prepare().
   */
  rootfs?: ((image: MachineSpec['image'], uidShift: number) => Promise<string>) | undefined;
  bwrap?: string;
  ip?: string;
  nft?: string;
  unshare?: string;
  clock: Clock;
  logger: Logger;
}

interface Running {
  child: ChildProcess;
  pid: number;
  exited: Promise<ExitInfo>;
}

interface Machine extends MachineRecord {
  run?: Running | undefined;
  /** start() is mounting its root: another start() must fail. */
  mounting?: boolean | undefined;
}

export class SandboxDriver implements RuntimeDriver {
  readonly name = 'sandbox';
  private readonly machines = new Map<string, Machine>();
  private readonly cgroups: CgroupLayout = detectCgroups();
  private readonly runtimeBinds = hostRuntimeBinds();
  private readonly seccomp: Buffer;
  private readonly host: MachineHost;
  private readonly tools: SandboxTools;
  private readonly log: Logger;
  /** Kills the running machines if this process dies without destroying them (sandbox-reaper.ts). */
  private readonly reaper: Reaper;

  private attached: SandboxDriverOptions['rootfs'];

  /** The agent's host image store, for a driver its caller made (a `rootfs` option wins). */
  useImages(rootfs: NonNullable<SandboxDriverOptions['rootfs']>): void {
    this.attached = rootfs;
  }

  constructor(private readonly opts: SandboxDriverOptions) {
    this.seccomp = seccompProgram(hostSeccompArch());
    validatePorts(opts.publicPorts ?? []);
    this.tools = {
      bwrap: opts.bwrap ?? findBinary('bwrap', 'install the "bubblewrap" package'),
      ip: opts.ip ?? findBinary('ip', 'install the "iproute2" package'),
      nft: opts.nft ?? findBinary('nft', 'install the "nftables" package'),
      unshare: opts.unshare ?? findBinary('unshare', 'install the "util-linux" package'),
      setpriv: findBinary('setpriv', 'install the "util-linux" package'),
      mount: findBinary('mount', 'install the "mount" package'),
    };
    this.log = opts.logger.child({ component: 'sandbox-driver' });
    this.reaper = new Reaper(findBinary('sh', 'install the "dash" package'), this.log);
    for (const d of ['', 'machines', 'images', 'volumes']) ensureOwnDir(join(opts.stateDir, d));
    addTraverse(opts.traversable ?? [], opts.stateDir);
    // Without the host-root fallback every machine runs as an unprivileged uid: check at once that
    // it can reach what is bound into it, rather than failing each machine's start.
    if (!opts.allowHostRoot) checkMachinePaths(opts.stateDir, this.runtimeBinds);
    this.host = new MachineHost({ ...opts, uidBase: opts.uidBase ?? DEFAULT_UID_BASE, publicPorts: opts.publicPorts ?? [] }, this.tools, this.cgroups, this.log);
  }

  async prepare(spec: MachineSpec): Promise<DriverMachine> {
    validateSpec(spec);
    const t0 = this.opts.clock.monotonic();
    const known = this.machines.get(spec.id);
    if (known) {
      const cg = createMachineCgroups(this.cgroups, known.cgroupName, spec.guest);
      return { id: spec.id, address: known.traces.address, notApplied: cg.notApplied, imageRoot: known.lower };
    }
    const userns = await this.host.userNamespace(spec);
    let lower: string | undefined;
    let inside: ReturnType<typeof resolveUser>;
    try {
      if (isImageBase(spec)) {
        const rootfs = this.opts.rootfs ?? this.attached;
        if (!rootfs) throw new StarlingError('ERR_SANDBOX_CONFIG', `machine ${spec.id}: its image is its own root filesystem, and this driver has no image store (rootfs option)`);
        lower = await rootfs(spec.image, userns?.first ?? 0);
      }
      inside = resolveUser(spec, lower);
      if (userns) checkMachinePaths(this.opts.stateDir, this.runtimeBinds, spec);
    } catch (e) {
      closeUserNamespace(userns?.fd);
      throw e;
    }
    const { record, notApplied } = await this.host.create(spec, userns, inside, lower);
    this.machines.set(spec.id, record);
    const ms = Math.round(this.opts.clock.monotonic() - t0);
    const t = record.traces;
    this.log.info('machine prepared', { machine: spec.id, app: spec.app, address: t.address, netns: t.netns, uids: t.user?.first, ms, notApplied });
    return { id: spec.id, address: t.address, notApplied, imageRoot: lower };
  }

  async start(m: DriverMachine, spec: MachineSpec, io: Parameters<RuntimeDriver['start']>[2]): Promise<void> {
    const machine = this.machines.get(m.id);
    if (!machine) throw new StarlingError('ERR_MACHINE_NOT_PREPARED', `machine ${m.id} was not prepared by this driver`);
    if (machine.run || machine.mounting) throw new StarlingError('ERR_MACHINE_RUNNING', `machine ${m.id} is already running`, { fault: 'user' });
    const t0 = this.opts.clock.monotonic();
    const { inside, traces } = machine;
    const first = traces.user?.first;
    const userns = machine.usernsFd === undefined ? undefined : { fd: 4, uid: inside.uid, gid: inside.gid };
    if (!userns) this.log.warn('HOST ROOT: starting a machine as the host uid 0, without a user namespace (allow_host_root)', { machine: m.id, app: spec.app });
    // Image base: a fresh overlay over the image at every start (sandbox-rootfs.ts).
    machine.mounting = machine.lower !== undefined;
    const root = machine.lower && (await mountRoot(this.tools.mount, traces.stateDir, machine.lower).finally(() => (machine.mounting = false)));
    const options = bwrapOptions(spec, traces, this.runtimeBinds, { userns, seccompFd: 5, root, home: root ? inside.home : HOST_BASE_USER.home });
    const child = spawn(this.tools.ip, ['netns', 'exec', traces.netns, ...bwrapAs(this.tools.setpriv, first, inside.uid), this.tools.bwrap, '--args', '3', '--', ...spec.cmd], {
      stdio: ['ignore', 'pipe', 'pipe', 'pipe', machine.usernsFd ?? 'ignore', 'pipe'],
      detached: true, // its own process group: signals aimed at the driver's group miss machines
      env: { PATH: HOST_PATH },
      // Setting uid/gid makes libuv call setgroups(0) first: no host supplementary group goes along.
      uid: 0,
      gid: 0,
    });
    const gate = child.stdio[3] as Writable;
    const filter = (child.stdio as unknown as (Writable | null)[])[5] as Writable;
    let spawned = false;
    let init: number | undefined;
    const exited = new Promise<ExitInfo>((resolve) => {
      child.once('close', (code, signal) => {
        const info = exitInfo(code, signal);
        if (init !== undefined) this.reaper.remove(init);
        init = -1; // ended: a late lookup below must not list it
        // The root overlay goes before anyone hears of the exit: a start() after it mounts afresh.
        void (root ? releaseRoot(traces.stateDir) : Promise.resolve([])).then((left) => {
          if (left.length) this.log.error('machine root still mounted after its exit', { machine: m.id, left });
          if (machine.run?.child === child) machine.run = undefined;
          if (!spawned) return resolve(info); // start() rejects; there was no process to report on
          this.log.info('machine exited', { machine: m.id, code: info.code, signal: info.signal });
          io.exit(info);
          resolve(info);
        });
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
      filter.destroy();
      machine.run = undefined;
      if (root) await releaseRoot(traces.stateDir);
      throw new StarlingError('ERR_MACHINE_START', `cannot start machine ${m.id}: ${(e as Error).message}`, { cause: e });
    }
    spawned = true;
    const pid = machine.run.pid;
    const failed = attachToCgroups(machine.traces.cgroupDirs, pid);
    for (const f of failed) m.notApplied.push(`cgroup: could not move the machine into ${f}`);
    if (failed.length) this.log.warn('machine runs outside some of its cgroups', { machine: m.id, failed });
    for (const w of [gate, filter]) w.on('error', () => undefined); // bwrap died before reading: its exit status says why
    filter.end(this.seccomp);
    gate.end(options.map((a) => `${a}\0`).join(''));
    child.stdout?.on('data', (c: Buffer) => io.stdout(c));
    child.stderr?.on('data', (c: Buffer) => io.stderr(c));
    // The watchdog learns the init once bwrap has made it; start() does not wait for that.
    void sandboxInit(pid, () => child.exitCode === null && init === undefined, this.opts.clock).then((found) => {
      if (found === undefined || init !== undefined) return;
      init = found;
      this.reaper.add(found);
    });
    this.log.info('machine started', { machine: m.id, pid, ms: Math.round(this.opts.clock.monotonic() - t0) });
  }

  async stop(m: DriverMachine, signal: NodeJS.Signals, timeoutMs: number): Promise<ExitInfo | undefined> {
    const run = this.machines.get(m.id)?.run;
    if (!run) return undefined;
    this.log.info('stopping machine', { machine: m.id, signal, timeoutMs });
    const timer = this.opts.clock.setTimeout(() => {
      this.log.warn('machine ignored its stop signal: SIGKILL', { machine: m.id, signal, timeoutMs });
      killMachine(run.pid, run.child, this.opts.clock);
    }, timeoutMs);
    try {
      if (signal === 'SIGKILL') killMachine(run.pid, run.child, this.opts.clock);
      else {
        // --new-session made the sandbox init a session and group leader, and the app inherits
        // its group; init itself ignores the signal (pid 1 without a handler) and exits with the app.
        const init = await sandboxInit(run.pid, () => run.child.exitCode === null, this.opts.clock);
        if (init === undefined) killMachine(run.pid, run.child, this.opts.clock);
        else signalGroup(init, signal);
      }
      return await run.exited;
    } finally {
      timer.cancel();
    }
  }

  /** A command inside the started machine, in its isolation (sandbox-exec.ts). */
  exec(m: DriverMachine, spec: MachineSpec, req: ExecRequest): ChildProcess {
    const machine = this.machines.get(m.id);
    const init = machine?.run ? childrenOf(machine.run.pid)[0] : undefined;
    if (!machine || init === undefined) throw new StarlingError('ERR_MACHINE_NOT_STARTED', `machine ${m.id} is not running: start it first`, { fault: 'user' });
    const child = spawnExec({ init, user: machine.usernsFd === undefined ? undefined : machine.inside, bwrap: this.tools.bwrap, seccompFd: 3, workdir: workdirOf(spec) }, req, {
      imageBase: machine.lower !== undefined,
      seccomp: this.seccomp,
      env: machineEnv(spec, machine.traces.address, machine.lower ? machine.inside.home : HOST_BASE_USER.home),
    });
    if (child.pid !== undefined) attachToCgroups(machine.traces.cgroupDirs, child.pid);
    return child;
  }

  async destroy(m: DriverMachine): Promise<void> {
    const machine = this.machines.get(m.id);
    if (!machine) return;
    if (machine.run) {
      killMachine(machine.run.pid, machine.run.child, this.opts.clock);
      await machine.run.exited;
    }
    closeUserNamespace(machine.usernsFd);
    machine.usernsFd = undefined;
    const left = await this.host.remove(machine);
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
    this.reaper.close();
  }

  /**
   * Removes what machines of an earlier driver process left under this stateDir: their processes
   * (which outlive a killed driver, see sandbox-proc.ts), netns, veth, rule, firewall table,
   * cgroups and files. For the agent at boot: one driver per stateDir. Returns the ids cleaned up.
   */
  async cleanupOrphans(): Promise<string[]> {
    const ours = new Set([...this.machines.values()].map((m) => m.traces.stateDir));
    const cleaned = await this.host.removeOrphans(ours);
    if (cleaned.length) this.log.info('removed orphaned machines', { machines: cleaned });
    return cleaned;
  }

  /** What a machine has on the host: names of its netns, veth, rule, table, cgroups and state dir. */
  traces(m: DriverMachine): SandboxTraces | undefined {
    const t = this.machines.get(m.id)?.traces;
    return t && { ...t, cgroupDirs: [...t.cgroupDirs] };
  }
}
