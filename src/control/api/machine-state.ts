/**
 * One machine of the platform Machines API, and what a user asks of it: `GET …/{id}`, `POST
 * …/{id}/start|stop|suspend|cordon|uncordon` and `GET …/{id}/wait`.
 *
 * start, stop and suspend record the desired state in the machine's placement (with the stop's
 * signal and timeout) and bump its desired_version; its host's agent carries each out once
 * (sync/desired.ts), also when it learns of it late (it was down) — so a stop survives an agent
 * restart. They answer at once: `wait` says when the machine got there. Autostart: as on fly, the
 * proxy may start a stopped machine for a request when the app autostarts (auto_start_machines,
 * default true); a stop does not hold it down against traffic, and that start is not undone.
 * Suspend is a stop on this runtime (it keeps no memory). cordon takes the machine out of every
 * proxy's routes while it keeps running (sync/control-routes.ts); uncordon puts it back.
 *
 * wait long-polls the store's feed for the machine's placement and reported state: it answers as
 * soon as the state is reached, or 408 ERR_WAIT_TIMEOUT after `timeout` seconds (at most 60).
 */
import { z } from 'zod';
import { StopMachineBody, WAIT_MAX_S, machineKey, parseDuration, waitTimeoutQuery, type DesiredMachineState, type MachineStateDoc } from '../../contract/index.js';
import type { Change } from '../store/index.js';
import { getApp } from './apps.js';
import { changePlacement } from './machine-leases.js';
import { placementOf, platformMachine } from './machine-object.js';
import { who } from './machine-ops.js';
import { HttpError, json, route, type Route } from './http.js';
import type { ApiContext } from './schemas.js';

const WAIT_STATES = ['started', 'stopped', 'suspended', 'destroyed'] as const;
type WaitState = (typeof WAIT_STATES)[number];
const WaitQuery = z.strictObject({
  state: z.enum(WAIT_STATES, { error: `must be one of ${WAIT_STATES.join(', ')}` }).default('started'),
  timeout: waitTimeoutQuery,
});

const RUN_SUMMARY: Record<DesiredMachineState, string> = {
  started: 'Start a machine: recorded in its placement, carried out by its host (also if it is down now); answers at once, `wait` for the state',
  stopped: "Stop a machine (its kill signal or `signal`, then SIGKILL after its kill timeout or `timeout`): recorded and carried out by its host as start is; the proxy's autostart may start it again for a request (as on fly)",
  suspended: 'Suspend a machine: a stop on this runtime (it keeps no memory), recorded as `suspended`',
};
const VERB: Record<DesiredMachineState, 'start' | 'stop' | 'suspend'> = { started: 'start', stopped: 'stop', suspended: 'suspend' };

export function machineStateRoutes(ctx: ApiContext): Route[] {
  const reported = async (app: string, id: string): Promise<MachineStateDoc | undefined> => (await ctx.store.get('machine_states', machineKey(app, id)))?.value as MachineStateDoc | undefined;

  return [
    route({
      method: 'GET',
      path: '/v1/apps/{app}/machines/{id}',
      access: 'read',
      summary: "One machine: fly's machine object (state as its host last reported; config as the release and its overrides make it) with its host, release, health, desired state and cordon",
      responses: { '200': 'the machine object', '404': 'ERR_APP_NOT_FOUND, ERR_MACHINE_NOT_FOUND' },
      async handler({ params }) {
        const app = (await getApp(ctx, params.app!)).value.name;
        return json(200, await platformMachine(ctx, (await placementOf(ctx, app, params.id!)).doc));
      },
    }),
    ...(['started', 'stopped', 'suspended'] as const).map((want) =>
      route({
        method: 'POST',
        path: `/v1/apps/{app}/machines/{id}/${VERB[want]}`,
        access: 'deploy',
        summary: RUN_SUMMARY[want],
        requestSchema: want === 'started' ? z.strictObject({}).optional() : StopMachineBody,
        responses: { '200': '{ ok, previous_state, machine, host }', '400': 'a bad body (start takes none, or {})', '404': 'ERR_APP_NOT_FOUND, ERR_MACHINE_NOT_FOUND', '409': 'ERR_LEASE_HELD' },
        async handler({ params, body, headers, principal }) {
          const stop = body as z.output<typeof StopMachineBody>;
          const { before, after } = await changePlacement(ctx, params.app!, params.id!, headers, (doc) => {
            const { stop_signal: _s, stop_timeout_ms: _t, ...rest } = doc;
            const timeout = stop?.timeout === undefined ? undefined : parseDuration(stop.timeout);
            return {
              ...rest,
              desired_state: want,
              desired_version: (doc.desired_version ?? 0) + 1,
              ...(stop?.signal !== undefined ? { stop_signal: stop.signal } : {}),
              ...(timeout !== undefined ? { stop_timeout_ms: timeout } : {}),
            };
          });
          const previous = (await reported(before.app, before.id))?.state ?? 'pending';
          ctx.logger.info(`machine ${VERB[want]} requested`, { app: before.app, machine: before.id, host: before.host, by: who(principal) });
          return json(200, { ok: true, previous_state: previous, machine: await platformMachine(ctx, after!), host: before.host });
        },
      }),
    ),
    ...([true, false] as const).map((cordon) =>
      route({
        method: 'POST',
        path: `/v1/apps/{app}/machines/{id}/${cordon ? 'cordon' : 'uncordon'}`,
        access: 'deploy',
        summary: cordon ? 'Cordon a machine: no proxy routes to it (nor autostarts it) while it keeps running' : 'Uncordon a machine: the proxies route to it again',
        responses: { '200': '{ ok, cordoned, machine, host }', '404': 'ERR_APP_NOT_FOUND, ERR_MACHINE_NOT_FOUND', '409': 'ERR_LEASE_HELD' },
        async handler({ params, headers, principal }) {
          const { before, after } = await changePlacement(ctx, params.app!, params.id!, headers, (doc) => {
            if ((doc.cordoned ?? false) === cordon) return undefined;
            const { cordoned: _c, ...rest } = doc;
            return cordon ? { ...rest, cordoned: true } : rest;
          });
          ctx.logger.info(cordon ? 'machine cordoned' : 'machine uncordoned', { app: before.app, machine: before.id, host: before.host, by: who(principal) });
          return json(200, { ok: true, cordoned: cordon, machine: await platformMachine(ctx, after ?? before), host: before.host });
        },
      }),
    ),
    route({
      method: 'GET',
      path: '/v1/apps/{app}/machines/{id}/wait',
      access: 'read',
      summary: `Wait until a machine is \`state\` (started, stopped, suspended — stopped on this runtime — or destroyed), at most \`timeout\` seconds (1-${WAIT_MAX_S}, default ${WAIT_MAX_S})`,
      querySchema: WaitQuery,
      responses: { '200': '{ ok: true, state }', '400': 'a bad query', '404': 'ERR_APP_NOT_FOUND, ERR_MACHINE_NOT_FOUND', '408': 'ERR_WAIT_TIMEOUT' },
      async handler({ params, query, signal }) {
        const app = (await getApp(ctx, params.app!)).value.name;
        const id = params.id!;
        // The revision first: every change after it is delivered, even one made while reading.
        const since = await ctx.store.revision();
        const placed = await ctx.store.get('machines', machineKey(app, id));
        const state = await reported(app, id);
        if (!placed && !state) {
          // A machine that was never here is a 404; one gone (destroyed) has reached `destroyed`.
          if (query.state === 'destroyed' && (await ctx.store.get('machine_details', machineKey(app, id)))) return json(200, { ok: true, state: 'destroyed' });
          await placementOf(ctx, app, id);
        }
        const now = { placed: placed !== undefined, state: state?.state };
        if (reached(query.state, now)) return json(200, { ok: true, state: query.state });
        if (await waitUntil(ctx, since, machineKey(app, id), now, query.state, query.timeout * 1000, signal)) return json(200, { ok: true, state: query.state });
        const is = now.state ?? (now.placed ? 'pending (not reported yet)' : 'destroyed');
        throw new HttpError(408, 'ERR_WAIT_TIMEOUT', `machine ${id} did not reach state ${query.state} within ${query.timeout} s (it is ${is})`);
      },
    }),
  ];
}

interface Seen {
  placed: boolean;
  state: string | undefined;
}

function reached(want: WaitState, s: Seen): boolean {
  if (want === 'destroyed') return !s.placed && (s.state === undefined || s.state === 'destroyed');
  // Suspend is a stop on this runtime: a suspended machine reports stopped.
  return s.state === (want === 'suspended' ? 'stopped' : want);
}

/** Follows the feed from `since` until the machine's documents reach `want` (true), or `ms` pass or the client goes (false). */
function waitUntil(ctx: ApiContext, since: number, key: string, seen: Seen, want: WaitState, ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (ok: boolean): void => {
      if (done) return;
      done = true;
      unsubscribe();
      timer.cancel();
      signal.removeEventListener('abort', gone);
      resolve(ok);
    };
    const gone = (): void => finish(false);
    const onChange = (c: Change): void => {
      if (c.key !== key) return;
      if (c.collection === 'machines') seen.placed = c.op === 'put';
      else seen.state = c.op === 'put' ? (c.value as MachineStateDoc).state : undefined;
      if (reached(want, seen)) queueMicrotask(() => finish(true));
    };
    // A watch that ends (the store closed, history compacted) ends the wait; the answer says where the machine is.
    const unsubscribe = ctx.store.watch(since, onChange, () => queueMicrotask(() => finish(false)), { collections: ['machines', 'machine_states'] });
    const timer = ctx.clock.setTimeout(() => finish(false), ms);
    if (signal.aborted) queueMicrotask(gone);
    else signal.addEventListener('abort', gone);
  });
}
