import { StarlingError, isStarlingError } from '../../../shared/index.js';
import type { Command } from '../../args.js';
import { agentOf, appOf, callJson, machinePath, machinesOptions, usage, type ChangeReply } from './common.js';

type Opts = Record<string, unknown>;

/** `starling machines start ID --app APP`. */
export const machinesStart: Command = {
  noun: 'machines',
  verb: 'start',
  summary: 'start a stopped machine',
  args: ['ID'],
  options: { ...machinesOptions },
  async run(opts) {
    const reply = await change(opts, 'POST', '/start');
    console.log(`machine ${String(opts.id)}: ${reply.machine?.state ?? 'started'} (was ${reply.previous_state})`);
    return 0;
  },
};

/** `starling machines stop ID --app APP`: the kill signal, then SIGKILL after the timeout. */
export const machinesStop: Command = {
  noun: 'machines',
  verb: 'stop',
  summary: 'stop a machine: its kill signal, then SIGKILL after the timeout',
  args: ['ID'],
  options: {
    ...machinesOptions,
    signal: { type: 'string', value: 'SIGNAL', description: "the signal to send first (SIGINT, SIGTERM, …; default: the machine's kill signal)" },
    timeout: { type: 'string', value: 'DURATION', description: 'how long to wait before SIGKILL, e.g. 10s' },
  },
  async run(opts) {
    const body: Record<string, string> = {};
    if (typeof opts.signal === 'string') body.signal = opts.signal.toUpperCase().replace(/^(?!SIG)/, 'SIG');
    if (typeof opts.timeout === 'string') body.timeout = /^\d+(\.\d+)?$/.test(opts.timeout) ? `${opts.timeout}s` : opts.timeout;
    const reply = await change(opts, 'POST', '/stop', body);
    console.log(`machine ${String(opts.id)}: ${reply.machine?.state ?? 'stopped'} (was ${reply.previous_state})`);
    return 0;
  },
};

/** `starling machines destroy ID --app APP [--force]`: removes the machine and every trace of it. */
export const machinesDestroy: Command = {
  noun: 'machines',
  verb: 'destroy',
  aliases: ['rm'],
  summary: 'destroy a machine (a started one only with --force)',
  args: ['ID'],
  options: {
    ...machinesOptions,
    force: { type: 'boolean', description: 'stop it first (SIGKILL) if it is running' },
  },
  async run(opts) {
    const reply = await change(opts, 'DELETE', opts.force === true ? '?force=true' : '');
    console.log(`machine ${String(opts.id)}: destroyed (was ${reply.previous_state})`);
    return 0;
  },
};

/** One lifecycle call; the API's refusals come back with what to do next. */
async function change(opts: Opts, method: 'POST' | 'DELETE', suffix: string, body?: unknown): Promise<ChangeReply> {
  const app = appOf(opts);
  const id = String(opts.id);
  if (id === '') throw usage('ID must not be empty');
  try {
    // Stopping waits for the process to go (up to its kill timeout): allow more than the default.
    return await callJson<ChangeReply>(await agentOf(opts), method, machinePath(app, id, suffix), { body, timeoutMs: 120_000 });
  } catch (e) {
    if (isStarlingError(e, 'ERR_MACHINE_NOT_FOUND')) throw again(e, `list the app's machines: starling machines list --app ${app}`);
    if (isStarlingError(e, 'ERR_LEASE_HELD')) throw again(e, 'another client holds a lease on this machine; wait for it to expire');
    if (isStarlingError(e, 'ERR_MACHINE_RUNNING')) throw again(e, `stop it first, or: starling machines destroy ${id} --app ${app} --force`);
    throw e;
  }
}

function again(e: StarlingError, hint: string): StarlingError {
  return new StarlingError(e.code, e.message, { fault: e.fault, cause: e, hint });
}
