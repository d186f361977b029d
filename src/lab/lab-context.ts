/**
 * A lab as the commands after `lab up` see it: its state (what exists), its topology (kept in the
 * state file's meta, so the plan — names, addresses, sessions — is recomputed exactly), and where
 * each part keeps its files. Also the few files of this package the lab runs: the CLI itself (the
 * control plane and the agents are `starling control run` and `starling agent run`), the prober and
 * the demo app.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StarlingError, SystemClock, silentLogger, type Clock, type Logger } from '../shared/index.js';
import { spawnIn } from './fabric.js';
import { LabState, procInfo, type JsonValue } from './lab-state.js';
import { assertLabId, planLab, type LabPlan, type PopHostPlan } from './plan.js';
import { checkTopology, type Topology } from './topology.js';

/** Where labs keep their state: one directory per lab, named after it. */
export const LAB_BASE_DIR = '/run/starling-lab';
export const DEFAULT_LAB = 'default';
/** The demo app's name; it is served at `<app>.<apps domain>` by every PoP. */
export const DEMO_APP = 'demo';
export const APPS_DOMAIN = 'starling.test';

export const CLI_MAIN = fileURLToPath(new URL('../cli/main.js', import.meta.url));
export const PROBE_WORKER = fileURLToPath(new URL('./probe-worker.js', import.meta.url));
/** dist/src/lab → the repository's examples/lab-demo. */
export const DEMO_APP_DIR = fileURLToPath(new URL('../../../examples/lab-demo', import.meta.url));
export const BIRD_BIN = '/usr/sbin/bird';

/** Injury done to a PoP host by `lab fail`, so `lab heal` knows what to undo. */
export type FailMode = 'crash' | 'silent' | 'graceful';

export interface LabContext {
  name: string;
  dir: string;
  state: LabState;
  topology: Topology;
  plan: LabPlan;
  /** `demo.starling.test`: the Host every probe sends. */
  appHost: string;
  clock: Clock;
  logger: Logger;
}

export interface LabContextOptions {
  baseDir?: string | undefined;
  clock?: Clock | undefined;
  logger?: Logger | undefined;
}

export function labDir(name: string, baseDir = LAB_BASE_DIR): string {
  assertLabId(name);
  return join(baseDir, name);
}

export const routerDir = (ctx: Pick<LabContext, 'dir'>, city: string): string => join(ctx.dir, 'routers', city);
export const hostDir = (ctx: Pick<LabContext, 'dir'>, id: string): string => join(ctx.dir, 'hosts', id);
export const controlDir = (ctx: Pick<LabContext, 'dir'>): string => join(ctx.dir, 'control');
export const routerSocket = (ctx: Pick<LabContext, 'dir'>, city: string): string => join(routerDir(ctx, city), 'bird.ctl');
export const agentConfigPath = (ctx: Pick<LabContext, 'dir'>, id: string): string => join(hostDir(ctx, id), 'agent.toml');
/** The agent's BIRD keeps its config, socket and pid file here (the agent's `<state_dir>/bird`). */
export const agentBirdDir = (ctx: Pick<LabContext, 'dir'>, id: string): string => join(hostDir(ctx, id), 'state', 'bird');
/** The control plane's self-signed certificate (made at its first start): the lab's clients pin it. */
export const controlCert = (ctx: Pick<LabContext, 'dir'>): string => join(controlDir(ctx), 'tls.crt');
/** Where `starling hosts add --write` puts a host's one-time join token, for its agent's first start. */
export const joinTokenPath = (ctx: Pick<LabContext, 'dir'>, id: string): string => join(hostDir(ctx, id), 'join.token');
export const controlUserToken = (ctx: Pick<LabContext, 'dir'>): string => join(controlDir(ctx), 'api.token');
/** The lab's CA (Pebble and challtestsrv): their config, logs and listener certificate (lab-ca.ts). */
export const caDir = (ctx: Pick<LabContext, 'dir'>): string => join(ctx.dir, 'ca');
/** Pebble's issuing root, recorded at lab up: the lab's HTTPS clients trust it. */
export const labRootPath = (ctx: Pick<LabContext, 'dir'>): string => join(caDir(ctx), 'root.pem');

/** Names of recorded processes, so each can be found again in the state file. */
export const what = {
  router: (city: string): string => `bird router ${city}`,
  control: (): string => 'control plane',
  pebble: (): string => 'pebble (the lab CA)',
  challtestsrv: (): string => "pebble-challtestsrv (the lab CA's DNS)",
  agent: (id: string): string => `agent ${id}`,
  agentBird: (id: string): string => `bird of agent ${id}`,
};

/** A new context for `lab up` (the state is opened, and its topology recorded). */
export function createLabContext(name: string, topology: Topology, o: LabContextOptions = {}): LabContext {
  const dir = labDir(name, o.baseDir);
  const plan = planLab(topology, { lab: name });
  const state = LabState.open(dir, name);
  // Everything the lab writes lives under these; recorded first, so lab down removes them.
  state.record('dir', ...['routers', 'hosts', 'control', 'ca', 'app'].map((d) => join(dir, d)));
  state.setMeta('topology', topology as unknown as JsonValue);
  return { name, dir, state, topology, plan, appHost: `${DEMO_APP}.${APPS_DOMAIN}`, clock: o.clock ?? new SystemClock(), logger: o.logger ?? silentLogger };
}

/** The running lab `name`; ERR_LAB_NOT_FOUND when it has no state. */
export function openLab(name: string, o: LabContextOptions = {}): LabContext {
  const dir = labDir(name, o.baseDir);
  const state = LabState.load(dir);
  const raw = state?.snapshot().meta.topology;
  if (!state || raw === undefined) {
    throw new StarlingError('ERR_LAB_NOT_FOUND', `there is no lab "${name}" (no state in ${dir})`, {
      fault: 'user',
      hint: name === DEFAULT_LAB ? 'start one with: starling lab up' : `start it with: starling lab up --name ${name}`,
    });
  }
  const topology = checkTopology(raw, `${dir}/state.json meta.topology`);
  return { name, dir, state, topology, plan: planLab(topology, { lab: name }), appHost: `${DEMO_APP}.${APPS_DOMAIN}`, clock: o.clock ?? new SystemClock(), logger: o.logger ?? silentLogger };
}

/** The PoP hosts `which` names: a host id (`fra1`) or a PoP's city (`fra`: all its hosts). */
export function findPopHosts(ctx: LabContext, which: string): PopHostPlan[] {
  const hosts = ctx.plan.popHosts.filter((h) => h.id === which || h.city === which);
  if (hosts.length === 0) {
    throw new StarlingError('ERR_LAB_POP', `lab ${ctx.name} has no PoP "${which}"; its PoP hosts are ${ctx.plan.popHosts.map((h) => h.id).join(', ')}`, {
      fault: 'user',
      hint: 'name a PoP host (fra1) or a PoP city (fra: all its hosts)',
    });
  }
  return hosts;
}

/** The injuries `lab fail` recorded: host id → mode. */
export function failures(ctx: LabContext): Record<string, FailMode> {
  const f = ctx.state.snapshot().meta.failures;
  return f && typeof f === 'object' && !Array.isArray(f) ? (f as Record<string, FailMode>) : {};
}

export function setFailure(ctx: LabContext, id: string, mode: FailMode | undefined): void {
  const next = { ...failures(ctx) };
  if (mode === undefined) delete next[id];
  else next[id] = mode;
  ctx.state.setMeta('failures', next);
}

/** PATH for lab processes: `ip`, `bird`, `tc` live in sbin, which a normal user's PATH may lack. */
export function labEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const path = [process.env.PATH ?? '/usr/bin:/bin', '/usr/sbin', '/sbin'].join(':');
  return { ...process.env, PATH: path, ...extra };
}

/**
 * Starts a long-lived lab process in `ns`, detached (it outlives the command that started it) with
 * its output appended to `logFile`, and records it in the state under `name`.
 *
 * `enter: 'ip'` (the default) is `ip netns exec`, which also mounts a sysfs of the namespace on /sys.
 * `enter: 'nsenter'` joins only the network namespace and keeps the caller's /sys, with its cgroup
 * hierarchies: what the agents need, whose sandbox driver puts machines in cgroups (a fresh sysfs
 * has an empty /sys/fs/cgroup; as a normal user, the host's cgroup mounts even stay listed in
 * mountinfo while hidden under it).
 */
export function startDaemon(ctx: LabContext, ns: string, argv: string[], name: string, logFile: string, o: { enter?: 'ip' | 'nsenter'; env?: Record<string, string> } = {}): number {
  const fd = openSync(logFile, 'a', 0o600);
  try {
    const [cmd = '', ...args] = argv;
    const opts = { what: name, detached: true, stdio: ['ignore', fd, fd] as ['ignore', number, number], env: labEnv(o.env) };
    const child = o.enter === 'nsenter' ? spawnEntered(ctx, ns, argv, opts) : spawnIn(ctx.state, ns, cmd, args, opts);
    child.on('error', () => undefined);
    child.unref();
    return child.pid!;
  } finally {
    closeSync(fd);
  }
}

/** `nsenter --net=/run/netns/NS -- argv`: nsenter execs in place, so the pid is argv's; recorded. */
function spawnEntered(ctx: LabContext, ns: string, argv: string[], o: SpawnOptions & { what: string }): ChildProcess {
  const { what: name, ...spawnOpts } = o;
  const child = spawn('nsenter', [`--net=/run/netns/${ns}`, '--', ...argv], spawnOpts);
  const info = child.pid === undefined ? undefined : procInfo(child.pid);
  if (child.pid === undefined || !info) {
    child.on('error', () => undefined);
    throw new StarlingError('ERR_LAB_SPAWN', `cannot start ${argv[0] ?? ''} in ${ns}: nsenter did not start`, { hint: 'nsenter is in util-linux' });
  }
  ctx.state.record('process', { pid: child.pid, startTime: info.startTime, what: name, ns });
  return child;
}

/** The recorded process named `name`, if any. */
export function recorded(ctx: LabContext, name: string): { pid: number; startTime: number } | undefined {
  return ctx.state.snapshot().processes.find((p) => p.what === name);
}

/** The last `n` lines of a log file, for error messages ('' when there is none). */
export function logTail(file: string, n = 8): string {
  if (!existsSync(file)) return '';
  const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '');
  return lines.slice(-n).map((l) => `    ${l.length > 300 ? `${l.slice(0, 300)}…` : l}`).join('\n');
}

/**
 * The namespace `where` names: a city with clients (its client namespace), a PoP host id (`lhr1`),
 * a router (`r-lhr`) or `ctl` (the control plane's).
 */
export function namespaceFor(ctx: LabContext, where: string): string {
  const client = ctx.plan.clients.find((c) => c.city === where);
  if (client) return client.ns;
  const host = ctx.plan.popHosts.find((h) => h.id === where);
  if (host) return host.ns;
  const router = ctx.plan.routers.find((r) => `r-${r.city}` === where);
  if (router) return router.ns;
  if (where === 'ctl') return ctx.plan.control.ns;
  throw new StarlingError('ERR_LAB_WHERE', `lab ${ctx.name} has no client city, PoP host or router "${where}"`, {
    fault: 'user',
    hint: `client cities: ${ctx.plan.clients.map((c) => c.city).join(', ')}; PoP hosts: ${ctx.plan.popHosts.map((h) => h.id).join(', ')}; routers: ${ctx.plan.routers.map((r) => `r-${r.city}`).join(', ')}; or ctl`,
  });
}
