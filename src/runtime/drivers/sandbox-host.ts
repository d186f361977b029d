/**
 * Everything a sandboxed machine has on its host besides its processes, made in prepare() and
 * removed by destroy() or, after a crash, by the next driver on the same state dir: its uid block
 * and user namespace, /30 and network namespace, firewall table, cgroups, state dir (state.json and
 * the generated /etc files) and its volumes' ownership. The state file names all of it, so an heir
 * finds what to remove without the dead driver's memory.
 */
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isStarlingError, type Clock, type Logger } from '../../shared/index.js';
import type { MachineSpec } from '../types.js';
import { createMachineCgroups, removeMachineCgroups, type CgroupLayout } from './cgroups.js';
import { label, writeEtcFiles } from './sandbox-args.js';
import { createFirewall, removeFirewall } from './sandbox-firewall.js';
import { AddressPool, createMachineNet, ensureIpv6Forwarding, netNames, removeMachineNet, RULE_PRIORITY, type MachineNet } from './sandbox-net.js';
import { ensureOwnDir, prepareVolume } from './sandbox-paths.js';
import { killNetnsProcesses } from './sandbox-proc.js';
import { unmountBelow } from './sandbox-rootfs.js';
import type { ResolvedUser } from './sandbox-user.js';
import { closeUserNamespace, createUserNamespace, uidBlocksFile, UidBlocks } from './sandbox-userns.js';

export interface SandboxTools {
  bwrap: string;
  ip: string;
  nft: string;
  unshare: string;
  setpriv: string;
  mount: string;
}

/** Where a machine left marks on the host: what destroy removes (and tests check). */
export interface SandboxTraces extends MachineNet {
  rulePriority: number;
  cgroupDirs: string[];
  stateDir: string;
  /** Host ids: its app's first uid, and the app's uid/gid as the host sees them; null = host root. */
  user: { first: number; uid: number; gid: number } | null;
}

export interface MachineRecord {
  id: string;
  app: string;
  key: string;
  traces: SandboxTraces;
  cgroupName: string;
  /** The open user namespace (kept for the machine's life), or undefined: host root. */
  usernsFd: number | undefined;
  /** Who the app is inside (sandbox-user.ts). */
  inside: ResolvedUser;
  /** Image base: the image's root filesystem, the overlay's lower layer; undefined: host base. */
  lower: string | undefined;
}

interface StateFile {
  id: string;
  app: string;
  traces: SandboxTraces;
}

export interface MachineHostOptions {
  stateDir: string;
  bridge: { name: string; cidr: string };
  publicPorts: number[];
  uidBase: number;
  allowHostRoot?: boolean | undefined;
  clock: Clock;
}

export class MachineHost {
  private readonly pool: AddressPool;
  private readonly blocks: UidBlocks;
  /** Set once the host has refused a user namespace and host root is allowed: not tried again. */
  private noUserns = false;

  constructor(
    private readonly o: MachineHostOptions,
    private readonly tools: SandboxTools,
    private readonly cgroups: CgroupLayout,
    private readonly log: Logger,
  ) {
    this.pool = new AddressPool(o.bridge.cidr);
    this.blocks = new UidBlocks(uidBlocksFile(o.stateDir), o.uidBase);
  }

  /** A user namespace for the machine, or undefined where the host has none and host root is allowed. */
  async userNamespace(spec: MachineSpec): Promise<{ fd: number; first: number } | undefined> {
    if (this.noUserns) return undefined;
    const first = this.blocks.firstUid(spec.app);
    try {
      return { fd: await createUserNamespace(this.tools.unshare, first, this.o.clock), first };
    } catch (e) {
      if (!this.o.allowHostRoot || !isStarlingError(e) || e.code !== 'ERR_SANDBOX_NO_USERNS') throw e;
      this.noUserns = true;
      this.log.warn('no user namespace for machines on this host: they run as the host uid 0 (allow_host_root)', { reason: e.message });
      return undefined;
    }
  }

  async create(spec: MachineSpec, userns: { fd: number; first: number } | undefined, inside: ResolvedUser, lower?: string): Promise<{ record: MachineRecord; notApplied: string[] }> {
    const names = netNames(this.o.stateDir, spec.id, this.o.bridge.name);
    const dir = join(this.o.stateDir, 'machines', `${label(spec.id)}-${names.short}`);
    const stale = readState(dir);
    if (stale) await this.removeTraces(stale, true); // left by a driver that died without destroying
    await unmountBelow(dir);
    rmSync(dir, { recursive: true, force: true });
    const key = `${this.o.stateDir}\0${spec.id}`;
    const net: MachineNet = { netns: names.netns, hostIf: names.hostIf, table: names.table, ...this.pool.allocate(key), ...(spec.private_ip ? { privateAddress: spec.private_ip } : {}) };
    const user = userns ? { first: userns.first, uid: userns.first + inside.uid, gid: userns.first + inside.gid } : null;
    const traces: SandboxTraces = { ...net, rulePriority: RULE_PRIORITY, cgroupDirs: [], stateDir: dir, user };
    try {
      ensureOwnDir(dir);
      writeEtcFiles(spec, traces, inside);
      writeState(dir, { id: spec.id, app: spec.app, traces });
      if (user) for (const m of spec.mounts) prepareVolume(m.source, user.uid, user.gid, this.log);
      // The table exists before the link does: the machine is never reachable-from without it.
      await createFirewall(this.tools.nft, net, this.o.publicPorts);
      if (net.privateAddress && ensureIpv6Forwarding()) {
        this.log.warn('IPv6 forwarding turned on for the machines\' private network', { sysctl: 'net.ipv6.conf.all.forwarding=1', hint: 'an interface that takes its own IPv6 address from router advertisements needs accept_ra=2 from now on' });
      }
      await createMachineNet(this.tools.ip, net);
    } catch (e) {
      await removeFirewall(this.tools.nft, net.table).catch(() => undefined);
      this.pool.release(net.address, key);
      rmSync(dir, { recursive: true, force: true });
      closeUserNamespace(userns?.fd);
      throw e;
    }
    const cgroupName = dir.slice(dir.lastIndexOf('/') + 1);
    const cg = createMachineCgroups(this.cgroups, cgroupName, spec.guest);
    traces.cgroupDirs = cg.dirs;
    writeState(dir, { id: spec.id, app: spec.app, traces });
    return { record: { id: spec.id, app: spec.app, key, traces, cgroupName, usernsFd: userns?.fd, inside, lower }, notApplied: cg.notApplied };
  }

  /** Removes a destroyed machine's traces; returns what is still there. */
  async remove(r: MachineRecord): Promise<string[]> {
    const left = await this.removeTraces({ id: r.id, app: r.app, traces: r.traces }, false);
    this.pool.release(r.traces.address, r.key);
    return left;
  }

  /** Removes what a dead driver's machine in `dir` left; its id, or undefined when `dir` holds none. */
  async removeOrphan(dir: string): Promise<string | undefined> {
    const state = readState(dir);
    if (!state) return undefined;
    const left = await this.removeTraces(state, true);
    if (left.length) this.log.warn('orphaned machine left traces', { machine: state.id, left });
    return state.id;
  }

  /** Every machine dir under the state dir but `ours`: what a dead driver left (removeOrphan); the ids. */
  async removeOrphans(ours: Set<string>): Promise<string[]> {
    const root = join(this.o.stateDir, 'machines');
    const cleaned: string[] = [];
    for (const entry of existsSync(root) ? readdirSync(root) : []) {
      const dir = join(root, entry);
      if (ours.has(dir)) continue;
      const id = await this.removeOrphan(dir);
      if (id !== undefined) cleaned.push(id);
      // Never rm -rf through a root overlay a dead driver left mounted (sandbox-rootfs.ts).
      const left = await unmountBelow(dir);
      if (left.length) this.log.error('orphaned machine root still mounted', { dir, left });
      else rmSync(dir, { recursive: true, force: true });
    }
    return cleaned;
  }

  /** `orphan`: its processes may still run (a killed driver): they are killed first. */
  private async removeTraces(state: StateFile, orphan: boolean): Promise<string[]> {
    const t = state.traces;
    const left: string[] = [];
    if (orphan) {
      const alive = await killNetnsProcesses(`/run/netns/${t.netns}`, this.o.clock);
      if (alive.length) left.push(`processes ${alive.join(' ')}`);
    }
    left.push(...(await removeMachineNet(this.tools.ip, t)));
    left.push(...(await removeFirewall(this.tools.nft, t.table ?? t.netns))); // state files from before the firewall lack .table
    left.push(...(await removeMachineCgroups(t.cgroupDirs, this.o.clock)));
    // A machine's root overlay (sandbox-rootfs.ts): never rm -rf through a mounted one.
    const mounted = await unmountBelow(t.stateDir);
    if (mounted.length) left.push(...mounted.map((m) => `mount ${m}`));
    else rmSync(t.stateDir, { recursive: true, force: true });
    if (existsSync(t.stateDir)) left.push(`state ${t.stateDir}`);
    return left;
  }
}

function writeState(dir: string, state: StateFile): void {
  const tmp = join(dir, `.state.json.${process.pid}`);
  writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
  renameSync(tmp, join(dir, 'state.json'));
}

function readState(dir: string): StateFile | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as StateFile;
  } catch {
    return undefined; // no machine (or a half-written dir, removed by the caller)
  }
}
