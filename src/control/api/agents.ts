/**
 * What only agents (hosts, with the agent token) may do: report their machines' actual states, and
 * fetch the secret values of a machine placed on them — the one place secret values leave the
 * control plane, and only to the host that will inject them at machine start.
 */
import { decryptSecret } from '../secrets/index.js';
import { ApiError, json, route, type Route } from './http.js';
import { MACHINE_ID_RE, ReportMachineState, machineKey, type ApiContext, type MachineDoc, type MachineStateDoc, type SecretDoc } from './schemas.js';

export function agentRoutes(ctx: ApiContext): Route[] {
  const { store } = ctx;

  /** The machine doc, only if it is placed on `host`: a host learns nothing about other hosts' machines. */
  async function placed(host: string, app: string, id: string): Promise<MachineDoc> {
    const found = MACHINE_ID_RE.test(id) ? await store.get('machines', machineKey(app, id)).catch(() => undefined) : undefined;
    const doc = found?.value as MachineDoc | undefined;
    if (!doc || doc.host !== host) throw new ApiError(404, 'ERR_MACHINE_NOT_FOUND', `no machine ${id} of app ${app} is placed on host ${host}`);
    return doc;
  }

  return [
    route({
      method: 'PUT',
      path: '/v1/hosts/{host}/apps/{app}/machines/{id}/state',
      summary: "An agent reports one of its machines' actual state (destroyed: the report is removed)",
      auth: 'agent',
      requestSchema: ReportMachineState,
      responses: { '200': 'the stored report, or { deleted }', '400': 'invalid body or names' },
      async handler({ params, body }) {
        const { host, app, id } = params as { host: string; app: string; id: string };
        if (!MACHINE_ID_RE.test(id)) throw new ApiError(400, 'ERR_BAD_REQUEST', `machine id ${JSON.stringify(id.slice(0, 40))} is not one the control plane issues`);
        ctx.hostHealth?.seen(host);
        const key = machineKey(app, id);
        if (body.state === 'destroyed') {
          await store.delete('machine_states', key);
          return json(200, { deleted: id });
        }
        // The region comes from the placement; a report for a machine no longer wanted keeps the
        // last known region until its agent reports it destroyed.
        const wanted = (await store.get('machines', key))?.value as MachineDoc | undefined;
        const before = (await store.get('machine_states', key))?.value as MachineStateDoc | undefined;
        const doc: MachineStateDoc = {
          id,
          app,
          host,
          region: wanted?.region ?? before?.region ?? 'unknown',
          release: body.release,
          state: body.state,
          healthy: body.healthy && body.state === 'started',
          updated_at: new Date(ctx.clock.now()).toISOString(),
        };
        await store.put('machine_states', key, doc);
        if (before?.state !== doc.state || before.healthy !== doc.healthy) {
          ctx.logger.info('machine state reported', { app, machine: id, host, state: doc.state, healthy: doc.healthy });
        }
        return json(200, doc);
      },
    }),
    route({
      method: 'GET',
      path: '/v1/hosts/{host}/apps/{app}/machines/{id}/secrets',
      summary: "The secret values a machine placed on this host starts with (agents only; never shown to users)",
      auth: 'agent',
      responses: { '200': '{ secrets: { NAME: value }, secrets_version }', '404': 'ERR_MACHINE_NOT_FOUND' },
      async handler({ params }) {
        const { host, app, id } = params as { host: string; app: string; id: string };
        await placed(host, app, id);
        const appDoc = (await store.get('apps', app))?.value as { secrets_version: number } | undefined;
        const secrets: Record<string, string> = {};
        for (const e of await store.list('secrets', { prefix: `${app}.` })) {
          const s = e.value as SecretDoc;
          secrets[s.name] = decryptSecret(ctx.secretsKey, { app, name: s.name }, s.encrypted);
        }
        return json(200, { secrets, secrets_version: appDoc?.secrets_version ?? 0 });
      },
    }),
  ];
}
