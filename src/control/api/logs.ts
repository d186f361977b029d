/**
 * `GET /v1/apps/{app}/logs`: the newest lines of an app's machines, gathered from the agents that
 * run them (their admin API). Each host is asked with the secret that host chose when it
 * registered (which its agent accepts for reading machine logs only), so a host that registered a
 * wrong agent_url learns nothing but its own secret. Every answer is capped in time and size.
 * Secret values were already redacted on the host. A host that does not answer is listed in
 * `unreachable`; the others' lines are still returned.
 */
import { z } from 'zod';
import { describeError } from '../../shared/index.js';
import { callJson } from '../../http/index.js';
import type { HostCredentialDoc } from '../auth/index.js';
import { decryptSecret } from '../secrets/index.js';
import { agentSecretRef } from './hosts.js';
import { getApp } from './apps.js';
import { HttpError, json, route, type Route } from './http.js';
import { listMachines } from './machines.js';
import type { ApiContext, HostDoc } from './schemas.js';

const LogsQuery = z.strictObject({
  region: z.string().trim().toLowerCase().regex(/^[a-z]{3}$/, 'must be a region code like fra').optional(),
  tail: z.string().regex(/^\d{1,4}$/, 'must be a whole number from 1 to 9999').optional(),
});

/** How long one host may take to answer, and how much it may send. */
const HOST_TIMEOUT_MS = 5_000;
export const MAX_LOG_ANSWER_BYTES = 8 << 20;

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
      access: 'read',
      summary: "The newest log lines of an app's machines (optionally of one region), oldest first",
      querySchema: LogsQuery,
      responses: { '200': '{ lines: [{ time, machine, region, host, stream, message }], unreachable: [{ host, error }] }', '404': 'ERR_APP_NOT_FOUND' },
      async handler({ params, query }) {
        const app = (await getApp(ctx, params.app!)).value.name;
        const tail = query.tail === undefined ? 100 : Number(query.tail);
        if (tail < 1) throw new HttpError(400, 'ERR_BAD_REQUEST', 'invalid query: tail: must be a whole number from 1 to 9999');
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
              const secret = await agentSecret(ctx, m.host);
              const answer = await callJson<{ entries: { time: string; stream: 'stdout' | 'stderr'; message: string }[] }>({
                method: 'GET', url, token: secret, clock: ctx.clock, timeoutMs: HOST_TIMEOUT_MS, maxBytes: MAX_LOG_ANSWER_BYTES,
              });
              for (const e of answer.body.entries) lines.push({ time: String(e.time), machine: m.id, region: m.region, host: m.host, stream: e.stream, message: String(e.message) });
            } catch (e) {
              // A machine not made yet (or already gone) has no logs: nothing to show, nothing wrong.
              if (e instanceof HttpError && e.status === 404) return;
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

/** The secret host `host` chose for calls to its admin API; the host must have registered. */
async function agentSecret(ctx: ApiContext, host: string): Promise<string> {
  const cred = (await ctx.store.get('host_credentials', host))?.value as HostCredentialDoc | undefined;
  if (!cred?.agent_secret) throw new Error('the host has not registered its agent secret');
  return decryptSecret(ctx.secretsKey, agentSecretRef(host), cred.agent_secret);
}
