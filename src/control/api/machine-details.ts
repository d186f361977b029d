/**
 * `machine_details/<app>.<id>` (contract/documents.ts): what agents report about why a machine is
 * as it is — its last exit, checks, events and last log lines — stored beside `machine_states`
 * from the same report, and kept once the machine is gone, so the logs and status of a replaced or
 * failed machine can still be read. The newest MAX_GONE_MACHINES gone machines per app are kept.
 */
import { z } from 'zod';
import { MAX_GONE_MACHINES, machineKey, type MachineDetailsDoc, type MachineStateDoc } from '../../contract/index.js';
import type { Op } from '../store/index.js';
import type { ApiContext, ReportMachineState } from './schemas.js';

type Report = z.infer<typeof ReportMachineState>;

export const DETAILS = 'machine_details';

/**
 * The ops that store a report: the state (deleted on `destroyed`) and its details (marked gone on
 * `destroyed`, keeping the last lines the agent sent with it, or the ones it sent before).
 */
export function reportOps(state: MachineStateDoc, body: Report, beforeState: MachineStateDoc | undefined, before: MachineDetailsDoc | undefined): Op[] {
  const key = machineKey(state.app, state.id);
  const gone = body.state === 'destroyed';
  const details: MachineDetailsDoc = {
    id: state.id,
    app: state.app,
    host: state.host,
    region: state.region,
    // The state it was in before it was destroyed says more than `destroyed` does.
    release: state.release,
    state: gone ? (before?.state ?? 'destroyed') : state.state,
    exit: body.exit !== undefined ? body.exit : (before?.exit ?? null),
    checks: body.checks ?? before?.checks ?? [],
    events: body.events ?? before?.events ?? [],
    log_tail: body.log_tail ?? before?.log_tail ?? [],
    updated_at: state.updated_at,
    gone_at: gone ? state.updated_at : null,
    ...(state.role ? { role: state.role } : {}),
  };
  // machine_states is on every agent's feed: written only when what the proxies route by changed.
  const b = beforeState;
  const sameState = b !== undefined && b.state === state.state && b.healthy === state.healthy && b.release === state.release && b.region === state.region && b.host === state.host;
  const ops: Op[] = gone ? [{ op: 'delete', collection: 'machine_states', key }] : sameState ? [] : [{ op: 'put', collection: 'machine_states', key, value: state }];
  return [...ops, { op: 'put', collection: DETAILS, key, value: details }];
}

/** Deletes the details of an app's gone machines beyond the newest MAX_GONE_MACHINES. */
export async function pruneGone(ctx: ApiContext, app: string): Promise<void> {
  const gone = (await ctx.store.list(DETAILS, { prefix: `${app}.` }))
    .map((e) => e.value as MachineDetailsDoc)
    .filter((d) => d.gone_at !== null)
    .sort((a, b) => (b.gone_at ?? '').localeCompare(a.gone_at ?? ''));
  const old = gone.slice(MAX_GONE_MACHINES);
  if (old.length > 0) await ctx.store.transaction(old.map((d): Op => ({ op: 'delete', collection: DETAILS, key: machineKey(app, d.id) })));
}

export async function getDetails(ctx: ApiContext, app: string, id: string): Promise<MachineDetailsDoc | undefined> {
  return (await ctx.store.get(DETAILS, machineKey(app, id)))?.value as MachineDetailsDoc | undefined;
}

export async function listDetails(ctx: ApiContext, app: string): Promise<MachineDetailsDoc[]> {
  return (await ctx.store.list(DETAILS, { prefix: `${app}.` })).map((e) => e.value as MachineDetailsDoc);
}
