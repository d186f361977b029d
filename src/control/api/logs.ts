/**
 * `GET /v1/apps/{app}/logs`: the newest lines of an app's machines, gathered from the agents that
 * run them (their admin API). Each host is asked with the secret that host chose when it
 * registered (which its agent accepts for reading machine logs only), so a host that registered a
 * wrong agent_url learns nothing but its own secret. Every answer is capped in time and size.
 * Secret values were already redacted on the host. A host that does not answer is listed in
 * `unreachable`; the others' lines are still returned.
 *
 * `machine=ID` narrows to one machine; one that is gone (replaced, retired, failed) is answered
 * from the last lines its agent reported when it destroyed it (machine_details). `since=CURSOR`
 * (the `cursor` of the previous answer) returns only newer lines: `starling logs -f` polls with it.
 */
import { z } from 'zod';
import { MACHINE_ID_RE } from '../../contract/index.js';
import { describeError } from '../../shared/index.js';
import { callJson } from '../../http/index.js';
import { agentMachineUrl, agentSecret } from './hosts.js';
import { getApp } from './apps.js';
import { HttpError, json, route, type Route } from './http.js';
import { formatCursor, linesAfter, parseCursor, type LogCursor } from './log-cursor.js';
import { getDetails } from './machine-details.js';
import { listMachines } from './machines.js';
import type { ApiContext, HostDoc } from './schemas.js';

const LogsQuery = z.strictObject({
  region: z.string().trim().toLowerCase().regex(/^[a-z]{3}$/, 'must be a region code like fra').optional(),
  tail: z.string().regex(/^\d{1,4}$/, 'must be a whole number from 1 to 9999').optional(),
  machine: z.string().regex(MACHINE_ID_RE, 'must be a machine id (starling status lists them)').optional(),
  since: z.string().max(64 * 1024).optional(),
});

/** How long one host may take to answer, and how much it may send. */
const HOST_TIMEOUT_MS = 5_000;
export const MAX_LOG_ANSWER_BYTES = 8 << 20;
/** With `since`, each host is asked for this many lines at least: the most a machine may write between two polls. */
const FOLLOW_WINDOW = 500;

export interface LogLine {
  time: string;
  machine: string;
  region: string;
  host: string;
  stream: 'stdout' | 'stderr';
  message: string;
}

type Entry = { time: string; stream: 'stdout' | 'stderr'; message: string };

export function logRoutes(ctx: ApiContext): Route[] {
  return [
    route({
      method: 'GET',
      path: '/v1/apps/{app}/logs',
      access: 'read',
      summary: "The newest log lines of an app's machines (optionally of one region or one machine, even a gone one; `since` for only newer ones), oldest first",
      querySchema: LogsQuery,
      responses: {
        '200': '{ lines: [{ time, machine, region, host, stream, message }], unreachable: [{ host, error }], cursor }',
        '400': 'ERR_BAD_REQUEST (a bad tail, machine or since)',
        '404': 'ERR_APP_NOT_FOUND, ERR_MACHINE_NOT_FOUND',
      },
      async handler({ params, query }) {
        const app = (await getApp(ctx, params.app!)).value.name;
        const tail = query.tail === undefined ? 100 : Number(query.tail);
        if (tail < 1) throw new HttpError(400, 'ERR_BAD_REQUEST', 'invalid query: tail: must be a whole number from 1 to 9999');
        const since = query.since === undefined ? undefined : parseCursor(query.since);
        if (query.since !== undefined && !since) throw new HttpError(400, 'ERR_BAD_REQUEST', 'invalid query: since: must be the cursor of an earlier answer of this route');
        const hosts = new Map((await ctx.store.list('hosts')).map((e) => [(e.value as HostDoc).id, e.value as HostDoc]));
        const machines = (await listMachines(ctx, app)).filter((m) => (query.region === undefined || m.region === query.region) && (query.machine === undefined || m.id === query.machine));
        const lines: LogLine[] = [];
        const unreachable: { host: string; error: string }[] = [];
        const next: LogCursor = new Map();
        const take = (m: { id: string; region: string; host: string }, entries: Entry[]): void => {
          for (const e of linesAfter(m.id, entries, since, next)) lines.push({ time: String(e.time), machine: m.id, region: m.region, host: m.host, stream: e.stream, message: String(e.message) });
        };
        if (query.machine !== undefined && machines.length === 0) {
          // A gone machine: the lines its agent reported when it destroyed it.
          const gone = await getDetails(ctx, app, query.machine);
          if (!gone || (query.region !== undefined && gone.region !== query.region)) {
            throw new HttpError(404, 'ERR_MACHINE_NOT_FOUND', `app ${app} has no machine ${query.machine}, nor kept the logs of one: starling status --app ${app} lists its machines`);
          }
          take(gone, gone.log_tail);
        }
        const ask = since ? Math.max(tail, FOLLOW_WINDOW) : tail;
        await Promise.all(
          machines.map(async (m) => {
            const host = hosts.get(m.host);
            if (!host) return void unreachable.push({ host: m.host, error: 'the host is not registered' });
            const url = `${agentMachineUrl(host, app, m.id)}/logs?tail=${ask}`;
            try {
              const secret = await agentSecret(ctx, m.host);
              const answer = await callJson<{ entries: Entry[] }>({ method: 'GET', url, token: secret, clock: ctx.clock, timeoutMs: HOST_TIMEOUT_MS, maxBytes: MAX_LOG_ANSWER_BYTES });
              take(m, answer.body.entries);
            } catch (e) {
              // A machine not made yet (or already gone) has no logs: nothing to show, nothing wrong.
              if (e instanceof HttpError && e.status === 404) return;
              unreachable.push({ host: m.host, error: describeError(e) });
            }
          }),
        );
        // Machines that did not answer this time keep their place in the cursor.
        for (const [id, at] of since ?? []) if (!next.has(id)) next.set(id, at);
        lines.sort((x, y) => x.time.localeCompare(y.time) || x.machine.localeCompare(y.machine));
        return json(200, { lines: since ? lines : lines.slice(-tail), unreachable, cursor: formatCursor(next) });
      },
    }),
  ];
}
