/**
 * What a user does to one machine of an app through the control plane, whichever host runs it:
 * start and stop it (relayed to its host's agent, which acts as on its local Machines API),
 * destroy it (its placement is removed; the host's reconciler stops and removes the machine), and
 * the two streamed relays `starling ssh console` and `starling proxy` use: exec a command inside
 * it, and open a TCP connection to one of its ports. The control plane calls the agent at the
 * agent_url its host registered, with the secret that host chose (as logs.ts does), so a host
 * learns nothing of the others. The relays are one long POST each: the request body carries the
 * client's bytes to the agent, the answer's body the agent's bytes back (docs/control-api.md).
 *
 * Scope: `deploy`. A deploy-scoped token can already run any code in the app (by deploying it)
 * and set its secrets, so exec and connect give it nothing it could not take; read-only tokens
 * may not (docs/threat-model.md).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { z } from 'zod';
import { describeError } from '../../shared/index.js';
import { callJson, errorBody } from '../../http/index.js';
import type { Principal } from '../auth/index.js';
import type { DeployRunner } from '../deploy/index.js';
import { agentMachineUrl, agentSecret } from './hosts.js';
import { getApp } from './apps.js';
import { HttpError, json, rawRoute, route, type Route } from './http.js';
import { machineKey, type ApiContext, type HostDoc, type MachineDoc } from './schemas.js';

/** A start or stop waits for the machine's kill timeout at most; more is a host that hangs. */
const AGENT_TIMEOUT_MS = 120_000;

const StopBody = z
  .strictObject({
    signal: z.string().regex(/^SIG[A-Z0-9]{2,8}$/, 'must be a signal name like SIGTERM').optional(),
    timeout: z.union([z.number().nonnegative(), z.string().max(32)]).optional(),
  })
  .optional();

/** Where a machine is, and how to reach its host's agent. */
interface Placed {
  machine: MachineDoc;
  /** `{agent_url}/v1/apps/{app}/machines/{id}`. */
  base: string;
  secret: string;
}

export function machineOpRoutes(ctx: ApiContext, runner: DeployRunner): Route[] {
  const { store } = ctx;

  const placed = async (appParam: string, id: string): Promise<Placed> => {
    const app = (await getApp(ctx, appParam)).value.name;
    const machine = (await store.get('machines', machineKey(app, id)))?.value as MachineDoc | undefined;
    if (!machine) throw new HttpError(404, 'ERR_MACHINE_NOT_FOUND', `app ${app} has no machine ${id}: list them with starling machines list --app ${app}`);
    const host = (await store.get('hosts', machine.host))?.value as HostDoc | undefined;
    if (!host) throw new HttpError(503, 'ERR_HOST_UNREACHABLE', `machine ${id} is placed on host ${machine.host}, which is not registered`);
    return { machine, base: agentMachineUrl(host, app, id), secret: await agentSecret(ctx, machine.host) };
  };

  /** One JSON call to the machine's agent; its refusals keep their code, its absence is a 503. */
  const relay = async (p: Placed, method: 'POST', suffix: string, body?: unknown): Promise<unknown> => {
    try {
      return (await callJson({ method, url: p.base + suffix, token: p.secret, body, clock: ctx.clock, timeoutMs: AGENT_TIMEOUT_MS, what: `the agent of host ${p.machine.host}` })).body;
    } catch (e) {
      if (e instanceof HttpError) throw e;
      throw new HttpError(503, 'ERR_HOST_UNREACHABLE', `machine ${p.machine.id} is on host ${p.machine.host}, whose agent does not answer: ${describeError(e)}`);
    }
  };

  return [
    ...(['start', 'stop'] as const).map((verb) =>
      route({
        method: 'POST',
        path: `/v1/apps/{app}/machines/{id}/${verb}`,
        access: 'deploy',
        summary:
          verb === 'start'
            ? 'Start a stopped machine (its host starts it; the placement is unchanged)'
            : 'Stop a machine: its kill signal (or `signal`), then SIGKILL after its kill timeout (or `timeout`); it stays placed, stopped, until started again (or autostarted by the proxy)',
        requestSchema: StopBody,
        responses: { '200': '{ ok, previous_state, machine, host }', '400': 'a body on start', '404': 'ERR_APP_NOT_FOUND, ERR_MACHINE_NOT_FOUND', '503': 'ERR_HOST_UNREACHABLE' },
        async handler({ params, body, principal }) {
          if (verb === 'start' && body !== undefined) throw new HttpError(400, 'ERR_BAD_REQUEST', 'start takes no body');
          const p = await placed(params.app!, params.id!);
          const answer = (await relay(p, 'POST', `/${verb}`, verb === 'stop' ? (body ?? {}) : undefined)) as Record<string, unknown>;
          ctx.logger.info(`machine ${verb} requested`, { app: p.machine.app, machine: p.machine.id, host: p.machine.host, by: who(principal) });
          return json(200, { ...answer, host: p.machine.host });
        },
      }),
    ),
    route({
      method: 'DELETE',
      path: '/v1/apps/{app}/machines/{id}',
      access: 'deploy',
      summary: "Destroy a machine: its placement is removed and its host stops and removes it (the app runs one machine fewer until scaled or deployed again)",
      responses: { '200': '{ ok, destroyed, host }', '404': 'ERR_APP_NOT_FOUND, ERR_MACHINE_NOT_FOUND', '409': 'ERR_DEPLOY_IN_PROGRESS' },
      async handler({ params, principal }) {
        const app = (await getApp(ctx, params.app!)).value.name;
        const entry = await store.get('machines', machineKey(app, params.id!));
        if (!entry) throw new HttpError(404, 'ERR_MACHINE_NOT_FOUND', `app ${app} has no machine ${params.id!}: list them with starling machines list --app ${app}`);
        if (runner.active(app)) throw new HttpError(409, 'ERR_DEPLOY_IN_PROGRESS', `app ${app} has a deploy running; destroy machines when it ends`);
        const m = entry.value as MachineDoc;
        await store.transaction([{ op: 'delete', collection: 'machines', key: machineKey(app, m.id), expectRevision: entry.revision }]);
        ctx.logger.info('machine destroyed', { app, machine: m.id, host: m.host, by: who(principal) });
        return json(200, { ok: true, destroyed: m.id, host: m.host });
      },
    }),
    rawRoute({
      method: 'POST',
      path: '/v1/apps/{app}/machines/{id}/exec',
      access: 'deploy',
      summary: 'Run a command inside a machine (`?cmd=` a JSON array of strings, `&tty=1` for a terminal): the request body streams exec frames in, the answer streams them out (docs/control-api.md "Exec")',
      contentType: 'application/octet-stream',
      longLived: true,
      responses: { '200': 'exec frames until the exit frame', '400': 'ERR_BAD_REQUEST', '404': 'ERR_MACHINE_NOT_FOUND', '503': 'ERR_HOST_UNREACHABLE' },
      raw: (req, res, params, principal) => stream(req, res, params, principal, '/exec'),
    }),
    rawRoute({
      method: 'POST',
      path: '/v1/apps/{app}/machines/{id}/connect',
      access: 'deploy',
      summary: "Open a TCP connection to the machine's `?port=`: the request body carries the client's bytes in stdin frames, the answer's body the machine's in stdout frames",
      contentType: 'application/octet-stream',
      longLived: true,
      responses: { '200': 'the machine\'s bytes in stdout frames until either side closes', '400': 'ERR_BAD_REQUEST', '404': 'ERR_MACHINE_NOT_FOUND', '503': 'ERR_HOST_UNREACHABLE' },
      raw: (req, res, params, principal) => stream(req, res, params, principal, '/connect'),
    }),
  ];

  /** Relays one streamed call to the machine's agent: bytes both ways until either side ends. */
  async function stream(req: IncomingMessage, res: ServerResponse, params: Record<string, string>, principal: Principal, suffix: '/exec' | '/connect'): Promise<void> {
    let p: Placed;
    try {
      p = await placed(params.app!, params.id!);
    } catch (e) {
      req.resume();
      const status = e instanceof HttpError ? e.status : 500;
      const code = e instanceof HttpError ? e.code : 'ERR_INTERNAL';
      return void send(res, status, errorBody(code, e instanceof HttpError ? e.message : 'internal error; see the log of the server'));
    }
    const query = new URL(req.url ?? '/', 'http://control').search;
    const abort = new AbortController();
    res.once('close', () => abort.abort());
    let answer: Response;
    try {
      answer = await fetch(p.base + suffix + query, {
        method: 'POST',
        headers: { authorization: `Bearer ${p.secret}`, 'content-type': 'application/octet-stream', 'starling-caller': who(principal) },
        body: Readable.toWeb(req) as ReadableStream<Uint8Array>,
        duplex: 'half',
        signal: abort.signal,
      });
    } catch (e) {
      return void send(res, 503, errorBody('ERR_HOST_UNREACHABLE', `machine ${p.machine.id} is on host ${p.machine.host}, whose agent does not answer: ${describeError(e)}`));
    }
    res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/octet-stream', 'cache-control': 'no-store' });
    res.flushHeaders();
    try {
      for await (const chunk of answer.body ?? []) {
        if (!res.write(chunk as Uint8Array)) await new Promise((resolve) => res.once('drain', resolve).once('close', resolve));
        if (res.destroyed) break;
      }
      res.end();
    } catch {
      res.destroy();
    }
  }
}

/** Who asked, for the logs (the audit trail of exec is the agent's): never a token. */
export function who(p: Principal): string {
  switch (p.kind) {
    case 'user':
      return `token ${p.token} (org ${p.org}, ${p.scope})`;
    case 'host':
      return `host ${p.host}`;
    default:
      return p.kind;
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', connection: 'close' });
  res.end(JSON.stringify(body) + '\n');
}
