import { StarlingError, isStarlingError } from '../../../shared/index.js';
import { implement, usageError as usage } from '../../kit/index.js';
import type { ControlFlagValues } from '../../control-client.js';
import { agentOf, appOf, callJson, isLocal, machinePath, type ChangeReply } from './common.js';
import { fleetChange } from './fleet.js';
import { machinesDestroy, machinesStart, machinesStop } from './meta.js';

/** What every lifecycle command is given: which machine of which app, through the control plane or which agent. */
type Target = ControlFlagValues & { app: string; config?: string | undefined; local: boolean; id: string };

/** `starling machines start ID --app APP`. */
export const runMachinesStart = implement(machinesStart, async (opts) => {
  const reply = await change(opts, 'POST', '/start');
  console.log(`machine ${opts.id}${where(reply)}: ${reply.machine?.state ?? 'started'} (was ${reply.previous_state})`);
  return 0;
});

/** `starling machines stop ID --app APP`: the kill signal, then SIGKILL after the timeout. */
export const runMachinesStop = implement(machinesStop, async (opts) => {
  const body: Record<string, string> = {};
  if (opts.signal !== undefined) body.signal = opts.signal.toUpperCase().replace(/^(?!SIG)/, 'SIG');
  if (opts.timeout !== undefined) body.timeout = /^\d+(\.\d+)?$/.test(opts.timeout) ? `${opts.timeout}s` : opts.timeout;
  const reply = await change(opts, 'POST', '/stop', body);
  console.log(`machine ${opts.id}${where(reply)}: ${reply.machine?.state ?? 'stopped'} (was ${reply.previous_state})`);
  return 0;
});

/**
 * `starling machines destroy ID --app APP`: removes its placement; its host stops and removes it.
 * `--local [--force]`: removes the machine from this host's agent and every trace of it.
 */
export const runMachinesDestroy = implement(machinesDestroy, async (opts) => {
  if (!isLocal(opts)) {
    const app = appOf(opts);
    const reply = await fleetChange(opts, app, nonEmpty(opts.id), 'DELETE', '');
    console.log(`machine ${opts.id} on ${reply.host}: destroyed (its host stops and removes it; see starling machines list --app ${app})`);
    return 0;
  }
  const reply = await change(opts, 'DELETE', opts.force ? '?force=true' : '');
  console.log(`machine ${opts.id}: destroyed (was ${reply.previous_state})`);
  return 0;
});

const where = (reply: ChangeReply | (ChangeReply & { host: string })): string => ('host' in reply ? ` on ${reply.host}` : '');

function nonEmpty(id: string): string {
  if (id === '') throw usage('ID must not be empty');
  return id;
}

/** One start or stop, through the control plane or the local agent; the API's refusals come back with what to do next. */
async function change(opts: Target, method: 'POST' | 'DELETE', suffix: string, body?: unknown): Promise<ChangeReply | (ChangeReply & { host: string })> {
  const app = appOf(opts);
  const id = nonEmpty(opts.id);
  if (!isLocal(opts) && method === 'POST') return (await fleetChange(opts, app, id, method, suffix, body)) as ChangeReply & { host: string };
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
