/**
 * `GET /v1/apps/{app}/logs`: the newest lines of an app's machines, gathered from the agents that
 * run them (their admin API, with the agent token, which an agent accepts for reading machine logs
 * only). Secret values were already redacted on the host. A host that does not answer is listed
 * in `unreachable`; the others' lines are still returned.
 */
import { z } from 'zod';
import { describeError } from '../../shared/index.js';
import { getApp } from './apps.js';
import { ApiError, json, route, type Route } from './http.js';
import { listMachines } from './machines.js';
import type { ApiContext, HostDoc } from './schemas.js';

const LogsQuery = z.strictObject({
  region: z.string().regex(/^[a-z]{3}$/, 'must be a region code like fra').optional(),
  tail: z.string().regex(/^\d{1,4}$/, 'must be a whole number from 1 to 9999').optional(),
});

/** How long one host may take to answer. */
const HOST_TIMEOUT_MS = 5_000;

export interface LogLine {
  time: string;
  machine: string;
  region: string;
  host: string;
  stream: 'stdout' | 'stderr';
  message: string;
}

export function logRoutes(ctx: ApiContext): Route[] {
  return [
    route({
      method: 'GET',
      path: '/v1/apps/{app}/logs',
      summary: "The newest log lines of an app's machines (optionally of one region), oldest first",
      querySchema: LogsQuery,
      responses: { '200': '{ lines: [{ time, machine, region, host, stream, message }], unreachable: [{ host, error }] }', '404': 'ERR_APP_NOT_FOUND' },
      async handler({ params, query }) {
        const app = (await getApp(ctx, params.app!)).value.name;
        const tail = query.tail === undefined ? 100 : Number(query.tail);
        if (tail < 1) throw new ApiError(400, 'ERR_BAD_REQUEST', 'invalid query: tail: must be a whole number from 1 to 9999');
        if (ctx.agentToken === undefined) throw new ApiError(503, 'ERR_NO_AGENT_TOKEN', 'this control plane has no agent token, so it cannot ask the hosts');
        const hosts = new Map((await ctx.store.list('hosts')).map((e) => [(e.value as HostDoc).id, e.value as HostDoc]));
        const machines = (await listMachines(ctx, app)).filter((m) => query.region === undefined || m.region === query.region);
        const lines: LogLine[] = [];
        const unreachable: { host: string; error: string }[] = [];
        await Promise.all(
          machines.map(async (m) => {
            const host = hosts.get(m.host);
            if (!host) return void unreachable.push({ host: m.host, error: 'the host is not registered' });
            const url = `${host.agent_url.replace(/\/+$/, '')}/v1/apps/${encodeURIComponent(app)}/machines/${encodeURIComponent(m.id)}/logs?tail=${tail}`;
            try {
              const res = await fetch(url, { headers: { authorization: `Bearer ${ctx.agentToken}` }, signal: AbortSignal.timeout(HOST_TIMEOUT_MS) });
              // A machine not made yet (or already gone) has no logs: nothing to show, nothing wrong.
              if (res.status === 404) return;
              if (!res.ok) throw new Error(`answered ${res.status}`);
              const body = (await res.json()) as { entries: { time: string; stream: 'stdout' | 'stderr'; message: string }[] };
              for (const e of body.entries) lines.push({ time: e.time, machine: m.id, region: m.region, host: m.host, stream: e.stream, message: e.message });
            } catch (e) {
              unreachable.push({ host: m.host, error: describeError(e) });
            }
          }),
        );
        lines.sort((x, y) => x.time.localeCompare(y.time) || x.machine.localeCompare(y.machine));
        return json(200, { lines: lines.slice(-tail), unreachable });
      },
    }),
  ];
}
