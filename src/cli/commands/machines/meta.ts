/**
 * `starling machines …`: what the command table knows of them (run.ts, list.ts, lifecycle.ts,
 * logs.ts run them). `list`, `start`, `stop` and `destroy` act on the app's machines on every host,
 * through the control plane; with `--local` (or `--config FILE`) on this host's agent, its local
 * Machines API, as `run` and `logs` always do.
 */
import { SHORT, appFlag, configFlag, controlFlags, jsonFlag } from '../../flags.js';
import { boolean, custom, defineCommand, list, number, string } from '../../kit/index.js';
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

export const machinesStart = defineCommand({
  noun: 'machines',
  verb: 'start',
  summary: 'start a stopped machine, on whichever host runs it',
  args: ['ID'],
  options: { ...fleetFlags },
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
  },
  load: () => import('./lifecycle.js'),
});

export const machinesDestroy = defineCommand({
  noun: 'machines',
  verb: 'destroy',
  aliases: ['rm'],
  summary: 'destroy a machine: its placement is removed and its host tears it down (--local: a started one only with --force)',
  args: ['ID'],
  options: { ...fleetFlags, force: boolean({ description: 'with --local: stop it first (SIGKILL) if it is running' }) },
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
