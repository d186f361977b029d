/**
 * The Machines API a `starling machines …` command talks to: the control plane's (every host; the
 * default, reached as every control-plane command reaches it) or, with `--local` / `--config FILE`,
 * this host's agent's. Both are fly-shaped with the same paths (`/v1/apps/{app}/machines…`), the
 * same machine and lease objects (contract/machines-api.ts) and the same lease nonce header, so a
 * command is written once for both.
 */
import { LEASE_NONCE_HEADERS } from '../../../contract/index.js';
import { StarlingError, isStarlingError } from '../../../shared/index.js';
import { callControl, resolveControl, type ControlFlagValues } from '../../control-client.js';
import { agentOf, callJson, isLocal, machinePath } from './common.js';

export interface MachinesApi {
  /** This host's agent, not the control plane. */
  local: boolean;
  call<T>(method: 'GET' | 'POST' | 'DELETE', path: string, o?: { body?: unknown; nonce?: string | undefined; timeoutMs?: number }): Promise<T>;
}

export type TargetFlags = ControlFlagValues & { local?: boolean; config?: string | undefined };

export async function machinesApi(opts: TargetFlags): Promise<MachinesApi> {
  const headers = (nonce: string | undefined): Record<string, string> => (nonce === undefined ? {} : { [LEASE_NONCE_HEADERS[0]]: nonce });
  if (isLocal(opts)) {
    const agent = await agentOf(opts);
    return { local: true, call: (method, path, o = {}) => callJson(agent, method, path, { body: o.body, headers: headers(o.nonce), timeoutMs: o.timeoutMs ?? 30_000 }) };
  }
  const target = resolveControl(opts);
  return { local: false, call: (method, path, o = {}) => callControl(target, method, path, o.body, { headers: headers(o.nonce), timeoutMs: o.timeoutMs ?? 30_000 }) };
}

/** The states `wait` knows (the control plane's; the local API has stopped and destroyed too). */
export type WaitState = 'started' | 'stopped' | 'suspended' | 'destroyed';

/**
 * Until the machine is `state` (one long poll of at most `timeoutS` seconds). Not there in time is
 * ERR_WAIT_TIMEOUT as a system error (exit status 1): the call was right, the machine is late.
 */
export async function waitForState(api: MachinesApi, app: string, id: string, state: WaitState, timeoutS: number, asked?: string): Promise<void> {
  try {
    await api.call('GET', machinePath(app, id, `/wait?state=${state}&timeout=${timeoutS}`), { timeoutMs: (timeoutS + 10) * 1000 });
  } catch (e) {
    if (!isStarlingError(e, 'ERR_WAIT_TIMEOUT')) throw e;
    const head = asked === undefined ? e.message : `${asked}, but ${e.message.replace(/^machine \w+ /, 'it ')}`;
    throw new StarlingError('ERR_WAIT_TIMEOUT', head, { cause: e, hint: `see why: starling machines status ${id} --app ${app}` });
  }
}

/** A refusal of the API with what to do next. */
export function explained(e: unknown, app: string, id: string): unknown {
  const again = (err: StarlingError, hint: string): StarlingError => new StarlingError(err.code, err.message, { fault: err.fault, cause: err, hint });
  if (isStarlingError(e, 'ERR_MACHINE_NOT_FOUND')) return again(e, `list the app's machines: starling machines list --app ${app}`);
  if (isStarlingError(e, 'ERR_LEASE_HELD')) return again(e, `another client holds a lease on it: pass its nonce with --lease-nonce, or wait for it to expire (starling machines lease show ${id} --app ${app})`);
  if (isStarlingError(e, 'ERR_MACHINE_RUNNING')) return again(e, `stop it first, or: starling machines destroy ${id} --app ${app} --local --force`);
  return e;
}
