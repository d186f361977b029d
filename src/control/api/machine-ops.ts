/**
 * What a user does to one machine of an app through the control plane, whichever host runs it:
 * destroy it (its placement is removed; the host's reconciler stops and removes the machine), and
 * the two streamed relays `starling ssh console` and `starling proxy` use: exec a command inside
 * it, and open a TCP connection to one of its ports. The relays call the agent at the agent_url
 * its host registered, with the secret that host chose (as logs.ts does), so a host learns nothing
 * of the others. Each is one long POST: the request body carries the client's bytes to the agent,
 * the answer's body the agent's bytes back (docs/control-api.md). Start, stop and the rest of the
 * platform Machines API are in machine-state.ts: recorded in the placement, carried out by the host.
 *
 * Scope: `deploy`. A deploy-scoped token can already run any code in the app (by deploying it)
 * and set its secrets, so exec and connect give it nothing it could not take; read-only tokens
 * may not (docs/threat-model.md).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { z } from 'zod';
import { describeError } from '../../shared/index.js';
import { errorBody } from '../../http/index.js';
import type { Principal } from '../auth/index.js';
import type { DeployRunner } from '../deploy/index.js';
import { agentMachineUrl, agentSecret } from './hosts.js';
import { getApp } from './apps.js';
import { LEASES, changePlacement } from './machine-leases.js';
import { HttpError, json, rawRoute, route, type Route } from './http.js';
import { machineKey, type ApiContext, type HostDoc, type MachineDoc } from './schemas.js';

/** fly's `?force=true`: taken, and the same as without (a destroyed machine is always stopped first). */
const DestroyQuery = z.strictObject({ force: z.enum(['true', 'false', '1', '0'], { error: 'must be true or false' }).optional() });

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

  return [
    route({
      method: 'DELETE',
      path: '/v1/apps/{app}/machines/{id}',
      access: 'deploy',
      summary: "Destroy a machine: its placement (and lease) is removed and its host stops and removes it (the app runs one machine fewer until scaled or deployed again); `?force=true` is taken, as fly's",
      querySchema: DestroyQuery,
      responses: { '200': '{ ok, destroyed, host }', '404': 'ERR_APP_NOT_FOUND, ERR_MACHINE_NOT_FOUND', '409': 'ERR_DEPLOY_IN_PROGRESS, ERR_LEASE_HELD' },
      async handler({ params, headers, principal }) {
        const app = (await getApp(ctx, params.app!)).value.name;
        if (!(await store.get('machines', machineKey(app, params.id!)))) throw new HttpError(404, 'ERR_MACHINE_NOT_FOUND', `app ${app} has no machine ${params.id!}: list them with starling machines list --app ${app}`);
        if (runner.active(app)) throw new HttpError(409, 'ERR_DEPLOY_IN_PROGRESS', `app ${app} has a deploy running; destroy machines when it ends`);
        // The lease check, and the placement and its lease gone in one transaction.
        const { before: m } = await changePlacement(ctx, app, params.id!, headers, () => undefined, (doc, revision) => [
          { op: 'delete', collection: 'machines', key: machineKey(app, doc.id), expectRevision: revision },
          { op: 'delete', collection: LEASES, key: machineKey(app, doc.id) },
        ]);
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
