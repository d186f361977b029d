/**
 * fly's machine leases on the control plane: `POST|GET|DELETE /v1/apps/{app}/machines/{id}/lease`.
 * A lease (`{ ttl, description }`, at most LEASE_TTL_MAX_S) gives its holder the machine: while it
 * is held, every call that changes the machine — update, start, stop, suspend, cordon, uncordon,
 * metadata, destroy — must carry its nonce in `fly-machine-lease-nonce` (or
 * `starling-machine-lease-nonce`), else 409 ERR_LEASE_HELD (checked as the change is made). Leases live in `machine_leases`
 * (`<app>.<id>`; never on the agents' feed) so they hold across control-plane restarts and
 * replicas; one expires at its time on the control plane's clock (no timer: a look-up after it
 * finds none). The shapes are the agent's local API's (contract/machines-api.ts); these leases and
 * an agent's local ones are separate, as the two APIs are.
 */
import { randomBytes } from 'node:crypto';
import { isStarlingError } from '../../shared/index.js';
import { LEASE_TTL_DEFAULT_S, LeaseBody, leaseHeldMessage, leaseNonceOf, leaseView, machineKey, type Lease, type MachineDoc } from '../../contract/index.js';
import type { Principal } from '../auth/index.js';
import type { Headers } from '../../http/index.js';
import type { Op } from '../store/index.js';
import { getApp } from './apps.js';
import { placementOf } from './machine-object.js';
import { HttpError, json, route, type Route } from './http.js';
import type { ApiContext } from './schemas.js';

export const LEASES = 'machine_leases';
const RETRIES = 20;

interface LeaseDoc extends Lease {
  app: string;
  id: string;
}

/** The machine's lease if one is held now, with the revision it was read at. */
async function liveLease(ctx: ApiContext, app: string, id: string): Promise<{ lease: LeaseDoc | undefined; revision: number }> {
  const entry = await ctx.store.get(LEASES, machineKey(app, id));
  const lease = entry?.value as LeaseDoc | undefined;
  return { lease: lease && lease.expiresAt > ctx.clock.now() ? lease : undefined, revision: entry?.revision ?? 0 };
}

function refuse(id: string, lease: LeaseDoc | undefined, nonce: string | undefined): void {
  if (lease && nonce !== lease.nonce) throw new HttpError(409, 'ERR_LEASE_HELD', leaseHeldMessage(id, lease));
}

/** Who holds it, for others to read: the token (never its secret) or the operator. */
function owner(p: Principal): string | null {
  return p.kind === 'user' ? `token ${p.token} (org ${p.org})` : p.kind === 'platform' ? 'platform' : null;
}

/**
 * Every change to a placement: the lease check, then `change` on the document as stored, written
 * only if nobody wrote it meanwhile (else read again and retried). `change` returns the new
 * document, or undefined to write nothing; `extra` ops join the same transaction.
 */
export async function changePlacement(
  ctx: ApiContext,
  appParam: string,
  id: string,
  headers: Headers,
  change: (doc: MachineDoc) => MachineDoc | undefined,
  extra: (doc: MachineDoc, revision: number) => Op[] = () => [],
): Promise<{ before: MachineDoc; after: MachineDoc | undefined }> {
  const app = (await getApp(ctx, appParam)).value.name;
  for (let i = 0; ; i++) {
    const { doc, revision } = await placementOf(ctx, app, id);
    refuse(id, (await liveLease(ctx, app, id)).lease, leaseNonceOf(headers));
    const after = change(doc);
    const ops: Op[] = [
      ...(after ? [{ op: 'put', collection: 'machines', key: machineKey(app, id), value: after, expectRevision: revision } as Op] : []),
      ...extra(doc, revision),
    ];
    if (ops.length === 0) return { before: doc, after };
    try {
      await ctx.store.transaction(ops);
      return { before: doc, after };
    } catch (e) {
      if (!isStarlingError(e, 'ERR_STORE_CONFLICT') || i >= RETRIES) throw e;
    }
  }
}

export function leaseRoutes(ctx: ApiContext): Route[] {
  const { store } = ctx;
  const path = '/v1/apps/{app}/machines/{id}/lease';
  const target = async (params: Record<string, string>): Promise<{ app: string; id: string }> => {
    const app = (await getApp(ctx, params.app!)).value.name;
    const { doc } = await placementOf(ctx, app, params.id!);
    return { app, id: doc.id };
  };
  return [
    route({
      method: 'POST',
      path,
      access: 'deploy',
      summary: 'Take a lease on a machine (`{ ttl, description }`), or extend the held one with its nonce in fly-machine-lease-nonce',
      requestSchema: LeaseBody,
      responses: { '200': '{ nonce, expires_at, owner, description }', '404': 'ERR_MACHINE_NOT_FOUND', '409': 'ERR_LEASE_HELD' },
      async handler({ params, body, headers, principal }) {
        const { app, id } = await target(params);
        for (let i = 0; ; i++) {
          const { lease: held, revision } = await liveLease(ctx, app, id);
          refuse(id, held, leaseNonceOf(headers));
          const lease: LeaseDoc = {
            app,
            id,
            nonce: held?.nonce ?? randomBytes(16).toString('hex'),
            expiresAt: ctx.clock.now() + (body?.ttl ?? LEASE_TTL_DEFAULT_S) * 1000,
            description: body?.description ?? held?.description ?? '',
            owner: held?.owner ?? owner(principal),
          };
          try {
            // Two clients taking a free lease at once: one write wins, the other finds it held.
            await store.put(LEASES, machineKey(app, id), lease, { expectRevision: revision });
            ctx.logger.info(held ? 'machine lease extended' : 'machine leased', { app, machine: id, owner: lease.owner, expires_at: new Date(lease.expiresAt).toISOString() });
            return json(200, leaseView(lease));
          } catch (e) {
            if (!isStarlingError(e, 'ERR_STORE_CONFLICT') || i >= RETRIES) throw e;
          }
        }
      },
    }),
    route({
      method: 'GET',
      path,
      access: 'read',
      summary: "A machine's lease; its nonce is null (only its holder knows it)",
      responses: { '200': '{ nonce: null, expires_at, owner, description }', '404': 'ERR_MACHINE_NOT_FOUND, ERR_LEASE_NOT_FOUND' },
      async handler({ params }) {
        const { app, id } = await target(params);
        const { lease } = await liveLease(ctx, app, id);
        if (!lease) throw new HttpError(404, 'ERR_LEASE_NOT_FOUND', `machine ${id} holds no lease`);
        return json(200, { ...leaseView(lease), nonce: null });
      },
    }),
    route({
      method: 'DELETE',
      path,
      access: 'deploy',
      summary: "Release a machine's lease (with its nonce in fly-machine-lease-nonce)",
      responses: { '200': '{ ok: true }', '404': 'ERR_MACHINE_NOT_FOUND, ERR_LEASE_NOT_FOUND', '409': 'ERR_LEASE_HELD (no or another nonce)' },
      async handler({ params, headers }) {
        const { app, id } = await target(params);
        const { lease, revision } = await liveLease(ctx, app, id);
        if (!lease) throw new HttpError(404, 'ERR_LEASE_NOT_FOUND', `machine ${id} holds no lease`);
        refuse(id, lease, leaseNonceOf(headers));
        await store.delete(LEASES, machineKey(app, id), { expectRevision: revision });
        ctx.logger.info('machine lease released', { app, machine: id });
        return json(200, { ok: true });
      },
    }),
  ];
}
