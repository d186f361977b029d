/**
 * What only hosts (with their own credential) may do: report their machines' actual states, and
 * fetch the secret values of a machine placed on them — the one place secret values leave the
 * control plane, and only to the host that will inject them at machine start. A host acts only as
 * itself ({host} must be the credential's) and only on machines placed on it: anything else is 403.
 */
import type { Principal } from '../auth/index.js';
import { decryptSecret } from '../secrets/index.js';
import { HttpError, json, route, type Route } from './http.js';
import { getDetails, pruneGone, reportOps } from './machine-details.js';
import { MACHINE_ID_RE, ReportMachineState, machineKey, type ApiContext, type MachineDoc, type MachineStateDoc, type SecretDoc } from './schemas.js';

/** The host the credential belongs to, which must be the one the path names. */
export function asHost(principal: Principal, host: string): { host: string; region: string } {
  if (principal.kind !== 'host' || principal.host !== host) {
    throw new HttpError(403, 'ERR_FORBIDDEN', `this credential is not host ${host}'s: a host acts only for itself`);
  }
  return principal;
}

export function agentRoutes(ctx: ApiContext): Route[] {
  const { store } = ctx;

  /** The machine doc, only if it is placed on `host`: a host learns nothing about other hosts' machines. */
  async function placed(host: string, app: string, id: string): Promise<MachineDoc> {
    const found = MACHINE_ID_RE.test(id) ? await store.get('machines', machineKey(app, id)).catch(() => undefined) : undefined;
    const doc = found?.value as MachineDoc | undefined;
    if (!doc || doc.host !== host) throw new HttpError(403, 'ERR_FORBIDDEN', `no machine ${id} of app ${app} is placed on host ${host}`);
    return doc;
  }

  return [
    route({
      method: 'PUT',
      path: '/v1/hosts/{host}/apps/{app}/machines/{id}/state',
      summary: "An agent reports one of its machines' actual state, with its last exit, checks, events and log tail (destroyed: the state is removed, the details kept)",
      access: 'host',
      requestSchema: ReportMachineState,
      responses: { '200': 'the stored report, or { deleted }', '400': 'invalid body or names', '403': 'another host, or a machine not placed on this one' },
      async handler({ params, body, principal }) {
        const { app, id } = params as { host: string; app: string; id: string };
        const { host } = asHost(principal, params.host!);
        if (!MACHINE_ID_RE.test(id)) throw new HttpError(400, 'ERR_BAD_REQUEST', `machine id ${JSON.stringify(id.slice(0, 40))} is not one the control plane issues`);
        ctx.hostHealth?.seen(host);
        const key = machineKey(app, id);
        // The region comes from the placement; a report for a machine no longer wanted keeps the
        // last known region until its agent reports it destroyed. A host reports only machines
        // placed on it, or (once the placement is gone) the ones it reported before.
        const wanted = (await store.get('machines', key))?.value as MachineDoc | undefined;
        const before = (await store.get('machine_states', key))?.value as MachineStateDoc | undefined;
        const role = wanted?.role ?? before?.role;
        if (wanted?.host !== host && before?.host !== host) {
          throw new HttpError(403, 'ERR_FORBIDDEN', `machine ${id} of app ${app} is not placed on host ${host}: it may report only its own machines`);
        }
        const doc: MachineStateDoc = {
          id,
          app,
          host,
          region: wanted?.region ?? before?.region ?? 'unknown',
          release: body.release,
          state: body.state,
          // A deploy's release command machine is never healthy: no proxy routes to it (its role says so too).
          healthy: body.healthy && body.state === 'started' && role === undefined,
          updated_at: new Date(ctx.clock.now()).toISOString(),
          ...(role ? { role } : {}),
        };
        // The state and why it is so, in one transaction: the deploy runner reads both.
        await store.transaction(reportOps(doc, body, before, await getDetails(ctx, app, id)));
        if (body.state === 'destroyed') {
          await pruneGone(ctx, app);
          return json(200, { deleted: id });
        }
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
      access: 'host',
      responses: { '200': '{ secrets: { NAME: value }, secrets_version }', '403': 'another host, or a machine not placed on this one' },
      async handler({ params, principal }) {
        const { app, id } = params as { host: string; app: string; id: string };
        const { host } = asHost(principal, params.host!);
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
