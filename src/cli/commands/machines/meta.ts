/**
 * `starling machines …`: what the command table knows of them (run.ts, list.ts, lifecycle.ts,
 * show.ts, cordon.ts, wait.ts, lease.ts, logs.ts run them). `list`, `show`, `start`, `stop`,
 * `destroy`, `wait` and `lease` act on the app's machines on every host, through the control
 * plane's Machines API; with `--local` (or `--config FILE`) on this host's agent, its local
 * Machines API, as `run` and `logs` always do. `suspend`, `cordon` and `uncordon` are the control
 * plane's only.
 */
import { SHORT, appFlag, configFlag, controlFlags, jsonFlag } from '../../flags.js';
import { boolean, custom, defineCommand, list, number, oneOf, string } from '../../kit/index.js';
import { regionCode } from '../regions/meta.js';
import { agentConfigFlag } from '../agent/meta.js';

/** `--app APP` (else the app config's) and `--config FILE` (the agent whose local Machines API is called), on every machines command. */
const machinesFlags = {
  ...appFlag({ description: 'the app the machines belong to (default: app in ./starling.toml or ./fly.toml)', hint: 'every machine belongs to an app: --app my-app' }),
  ...agentConfigFlag,
};

/** The commands that reach every host through the control plane, or this host's agent with --local. */
const fleetFlags = {
  ...appFlag({ description: 'the app the machines belong to (default: app in ./starling.toml or ./fly.toml)', hint: 'every machine belongs to an app: --app my-app' }),
  local: boolean({ description: "act on this host's agent (its local Machines API) instead of the control plane" }),
  ...configFlag("with --local: this host's agent.toml (default /etc/starling/agent.toml); giving it implies --local"),
  ...controlFlags,
};

/** The commands only the control plane's Machines API has. */
const platformFlags = {
  ...appFlag({ description: 'the app the machines belong to (default: app in ./starling.toml or ./fly.toml)', hint: 'every machine belongs to an app: --app my-app' }),
  ...controlFlags,
};

/** `--lease-nonce`: while a lease is held on the machine, a change needs its nonce. */
const leaseNonceFlag = {
  'lease-nonce': string({ value: 'NONCE', description: "the nonce of the machine's lease (machines lease acquire prints it), while one is held" }),
};

/** `--detach`: the control plane records the change; without it the command waits until the machine is there. */
const detachFlag = {
  detach: boolean({ description: 'return once the control plane has recorded it, without waiting for the machine to get there' }),
};

export const machinesRun = defineCommand({
  noun: 'machines',
  verb: 'run',
  summary: 'create and start a machine from an image',
  args: ['IMAGE'],
  options: {
    ...machinesFlags,
    region: custom({ value: 'REGION', description: "where the machine runs (the agent's region; the only one it can run), in any case" }, regionCode),
    env: list({ value: 'NAME=VALUE', description: 'an environment variable' }),
    secret: list({ value: 'NAME[=VALUE]', description: 'a secret (NAME alone: the value of $NAME here)' }),
    port: number({ value: 'N', integer: true, min: 1, max: 65535, expect: 'from 1 to 65535', description: 'the port the app listens on inside the machine' }),
    cmd: string({ value: 'COMMAND', description: 'the command to run, e.g. "node server.js"' }),
    detach: boolean({ description: 'return once the machine is created, without waiting for it to start' }),
    ...jsonFlag(),
  },
  load: () => import('./run.js'),
});

export const machinesList = defineCommand({
  noun: 'machines',
  verb: 'list',
  aliases: ['ls'],
  summary: "an app's machines on every host (through the control plane): region, host, release, state, checks",
  options: { ...fleetFlags, ...jsonFlag() },
  load: () => import('./list.js'),
});

export const machinesShow = defineCommand({
  noun: 'machines',
  verb: 'show',
  summary: "one machine: fly's machine object (state, placement, config, metadata, desired state, cordon)",
  args: ['ID'],
  options: { ...fleetFlags, ...jsonFlag() },
  load: () => import('./show.js'),
});

export const machinesStart = defineCommand({
  noun: 'machines',
  verb: 'start',
  summary: 'start a stopped machine, on whichever host runs it, and wait until it is started',
  args: ['ID'],
  options: { ...fleetFlags, ...leaseNonceFlag, ...detachFlag },
  load: () => import('./lifecycle.js'),
});

export const machinesStop = defineCommand({
  noun: 'machines',
  verb: 'stop',
  summary: 'stop a machine: its kill signal, then SIGKILL after the timeout (it stays stopped until started or autostarted)',
  args: ['ID'],
  options: {
    ...fleetFlags,
    signal: string({ value: 'SIGNAL', description: "the signal to send first (SIGINT, SIGTERM, …; default: the machine's kill signal)" }),
    timeout: string({ value: 'DURATION', description: 'how long to wait before SIGKILL, e.g. 10s' }),
    ...leaseNonceFlag,
    ...detachFlag,
  },
  load: () => import('./lifecycle.js'),
});

export const machinesSuspend = defineCommand({
  noun: 'machines',
  verb: 'suspend',
  summary: 'suspend a machine (a stop on this runtime, which keeps no memory); wait until it is stopped',
  args: ['ID'],
  options: { ...platformFlags, ...leaseNonceFlag, ...detachFlag },
  load: () => import('./lifecycle.js'),
});

export const machinesCordon = defineCommand({
  noun: 'machines',
  verb: 'cordon',
  summary: 'take a machine out of every proxy\'s routes; it keeps running',
  args: ['ID'],
  options: { ...platformFlags, ...leaseNonceFlag },
  load: () => import('./cordon.js'),
});

export const machinesUncordon = defineCommand({
  noun: 'machines',
  verb: 'uncordon',
  summary: 'put a cordoned machine back into the proxies\' routes',
  args: ['ID'],
  options: { ...platformFlags, ...leaseNonceFlag },
  load: () => import('./cordon.js'),
});

export const machinesWait = defineCommand({
  noun: 'machines',
  verb: 'wait',
  summary: 'wait until a machine is started, stopped, suspended or destroyed (at most 60 s)',
  args: ['ID'],
  options: {
    ...fleetFlags,
    state: oneOf(['started', 'stopped', 'suspended', 'destroyed'], { value: 'STATE', description: 'the state to wait for', default: 'started' }),
    timeout: number({ value: 'SECONDS', integer: true, min: 1, max: 60, default: 60, description: 'how long to wait at most' }),
  },
  load: () => import('./wait.js'),
});

export const machinesLease = defineCommand({
  noun: 'machines',
  verb: 'lease',
  summary: "a machine's lease: acquire (or extend with --lease-nonce), show, release",
  args: ['ACTION', 'ID'],
  options: {
    ...fleetFlags,
    ttl: number({ value: 'SECONDS', integer: true, min: 1, max: 86_400, description: 'acquire: how long the lease holds (default 30)' }),
    description: string({ value: 'TEXT', description: 'acquire: what the lease is for, shown to others' }),
    ...leaseNonceFlag,
    ...jsonFlag('print the lease object ({ nonce, expires_at, owner, description })'),
  },
  load: () => import('./lease.js'),
});

export const machinesDestroy = defineCommand({
  noun: 'machines',
  verb: 'destroy',
  aliases: ['rm'],
  summary: 'destroy a machine: its placement is removed and its host tears it down (--local: a started one only with --force)',
  args: ['ID'],
  options: { ...fleetFlags, force: boolean({ description: 'with --local: stop it first (SIGKILL) if it is running' }), ...leaseNonceFlag },
  load: () => import('./lifecycle.js'),
});

export const machinesLogs = defineCommand({
  noun: 'machines',
  verb: 'logs',
  summary: "a machine's stdout and stderr; --follow to keep printing",
  args: ['ID'],
  options: {
    ...machinesFlags,
    tail: number({ value: 'N', integer: true, min: 1, max: 999_999, expect: 'a number of lines from 1 to 999999', description: 'only the last N lines (then new ones with --follow)' }),
    follow: boolean({ short: SHORT.follow, description: 'keep printing new lines until interrupted (Ctrl-C)' }),
  },
  load: () => import('./logs.js'),
});

export const machinesStatus = defineCommand({
  noun: 'machines',
  verb: 'status',
  summary: 'one machine through the control plane: state, last exit, checks and its newest events (a gone one too)',
  args: ['ID'],
  options: { ...appFlag(), ...jsonFlag(), ...controlFlags },
  load: () => import('./status.js'),
});
