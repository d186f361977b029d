/**
 * `starling machines start|stop|suspend|destroy ID`. Through the control plane (the default) the
 * change is recorded in the machine's placement and its host carries it out; the command then waits
 * (one long poll, 60 s at most) until the machine is there, unless `--detach`. With `--local`, this
 * host's agent acts at once, as its local Machines API does.
 */
import { implement, usageError as usage } from '../../kit/index.js';
import { appOf, machinePath, type ChangeReply } from './common.js';
import { explained, machinesApi, waitForState, type MachinesApi, type TargetFlags, type WaitState } from './api.js';
import { machinesDestroy, machinesStart, machinesStop, machinesSuspend } from './meta.js';

/** How long start, stop and suspend wait for the machine (the API's maximum). */
const WAIT_S = 60;

type Target = TargetFlags & { app: string; id: string; 'lease-nonce'?: string | undefined; detach?: boolean };

/** `starling machines start ID --app APP`. */
export const runMachinesStart = implement(machinesStart, async (opts) => {
  await change(opts, 'start', undefined, 'started');
  return 0;
});

/** `starling machines stop ID --app APP`: the kill signal, then SIGKILL after the timeout. */
export const runMachinesStop = implement(machinesStop, async (opts) => {
  const body: Record<string, string> = {};
  if (opts.signal !== undefined) body.signal = opts.signal.toUpperCase().replace(/^(?!SIG)/, 'SIG');
  if (opts.timeout !== undefined) body.timeout = /^\d+(\.\d+)?$/.test(opts.timeout) ? `${opts.timeout}s` : opts.timeout;
  await change(opts, 'stop', body, 'stopped');
  return 0;
});

/** `starling machines suspend ID --app APP`: a stop on this runtime, recorded as suspended. */
export const runMachinesSuspend = implement(machinesSuspend, async (opts) => {
  await change(opts, 'suspend', undefined, 'suspended');
  return 0;
});

/**
 * `starling machines destroy ID --app APP`: removes its placement; its host stops and removes it.
 * `--local [--force]`: removes the machine from this host's agent and every trace of it.
 */
export const runMachinesDestroy = implement(machinesDestroy, async (opts) => {
  const app = appOf(opts);
  const id = nonEmpty(opts.id);
  const api = await machinesApi(opts);
  const path = machinePath(app, id, api.local && opts.force ? '?force=true' : '');
  const reply = await api.call<ChangeReply & { host?: string }>('DELETE', path, { nonce: opts['lease-nonce'], timeoutMs: 120_000 }).catch((e: unknown) => {
    throw explained(e, app, id);
  });
  if (api.local) console.log(`machine ${id}: destroyed (was ${reply.previous_state})`);
  else console.log(`machine ${id} on ${reply.host}: destroyed (its host stops and removes it; see starling machines list --app ${app})`);
  return 0;
});

function nonEmpty(id: string): string {
  if (id === '') throw usage('ID must not be empty');
  return id;
}

/** One start, stop or suspend; then, through the control plane, the wait for the state. */
async function change(opts: Target, verb: 'start' | 'stop' | 'suspend', body: Record<string, string> | undefined, state: WaitState): Promise<void> {
  const app = appOf(opts);
  const id = nonEmpty(opts.id);
  const api = await machinesApi(opts);
  if (api.local && verb === 'suspend') throw usage('suspend is the control plane\'s: drop --local');
  const reply = await api
    // Stopping on the local API waits for the process to go (up to its kill timeout): allow more than the default.
    .call<ChangeReply & { host?: string }>('POST', machinePath(app, id, `/${verb}`), { body: body && Object.keys(body).length > 0 ? body : undefined, nonce: opts['lease-nonce'], timeoutMs: 120_000 })
    .catch((e: unknown) => {
      throw explained(e, app, id);
    });
  if (api.local) return void console.log(`machine ${id}: ${reply.machine?.state ?? state} (was ${reply.previous_state})`);
  if (opts.detach) return void console.log(`machine ${id} on ${reply.host}: ${verb} recorded (was ${reply.previous_state}); its host carries it out`);
  await wait(api, app, id, state, `machine ${id} was asked to ${verb}`);
  console.log(`machine ${id} on ${reply.host}: ${state} (was ${reply.previous_state})`);
}

function wait(api: MachinesApi, app: string, id: string, state: WaitState, asked: string): Promise<void> {
  return waitForState(api, app, id, state, WAIT_S, asked);
}
