/**
 * An app's private service address (fly's Flycast; docs/private-network.md, "Private services"):
 * one IPv6 per app in its org's network, on host number 0 so it belongs to every host at once.
 * The address follows from the platform prefix, the org and the app (mesh/addressing.ts
 * serviceAddress), so releasing and allocating again gives the same one back. Stored under
 * `private_ips/<app>.v6`, which the feed takes to every agent.
 */
import { DEFAULT_ORG, privateIpKey, type PrivateIpDoc } from '../../contract/index.js';
import { DEFAULT_PRIVATE_PREFIX, serviceAddress } from '../../mesh/index.js';
import { isStarlingError } from '../../shared/index.js';
import { getApp } from './apps.js';
import { HttpError, json, route, type Route } from './http.js';
import type { ApiContext } from './schemas.js';

export const PRIVATE_IPS = 'private_ips';

export function privateIpRoutes(ctx: ApiContext): Route[] {
  const { store } = ctx;
  const current = async (app: string): Promise<PrivateIpDoc | undefined> => (await store.get(PRIVATE_IPS, privateIpKey(app)))?.value as PrivateIpDoc | undefined;
  return [
    route({
      method: 'POST',
      path: '/v1/apps/{app}/ips/private',
      access: 'deploy',
      summary: "Give the app a private service address (Flycast): <app>.flycast inside its org, through every host's proxy",
      responses: { '201': '{ app, org, type: private_v6, address, created_at }', '404': 'ERR_APP_NOT_FOUND', '409': 'ERR_PRIVATE_IP_EXISTS' },
      async handler({ params }) {
        const app = (await getApp(ctx, params.app!)).value;
        const had = await current(app.name);
        if (had) throw new HttpError(409, 'ERR_PRIVATE_IP_EXISTS', `app ${app.name} has the private address ${had.address} already (starling ips list --app ${app.name})`);
        const org = app.org ?? DEFAULT_ORG;
        const doc: PrivateIpDoc = { app: app.name, org, type: 'private_v6', address: serviceAddress(ctx.privatePrefix ?? DEFAULT_PRIVATE_PREFIX, org, app.name), created_at: new Date(ctx.clock.now()).toISOString() };
        try {
          await store.put(PRIVATE_IPS, privateIpKey(app.name), doc, { expectRevision: 0 });
        } catch (e) {
          if (isStarlingError(e, 'ERR_STORE_CONFLICT')) throw new HttpError(409, 'ERR_PRIVATE_IP_EXISTS', `app ${app.name} has a private address already`);
          throw e;
        }
        ctx.logger.info('private address allocated', { app: app.name, address: doc.address });
        return json(201, doc);
      },
    }),
    route({
      method: 'GET',
      path: '/v1/apps/{app}/ips',
      access: 'read',
      summary: "The app's addresses: its private service address when it has one (public traffic reaches every app at the platform's anycast addresses)",
      responses: { '200': '{ ips: [{ app, org, type, address, created_at }] }', '404': 'ERR_APP_NOT_FOUND' },
      async handler({ params }) {
        const app = (await getApp(ctx, params.app!)).value;
        const doc = await current(app.name);
        return json(200, { ips: doc ? [doc] : [] });
      },
    }),
    route({
      method: 'DELETE',
      path: '/v1/apps/{app}/ips/private',
      access: 'deploy',
      summary: 'Release the private service address: every host stops answering it',
      responses: { '200': '{ released: address }', '404': 'ERR_APP_NOT_FOUND, ERR_PRIVATE_IP_NOT_FOUND' },
      async handler({ params }) {
        const app = (await getApp(ctx, params.app!)).value;
        const doc = await current(app.name);
        if (!doc) throw new HttpError(404, 'ERR_PRIVATE_IP_NOT_FOUND', `app ${app.name} has no private address`);
        await store.delete(PRIVATE_IPS, privateIpKey(app.name));
        ctx.logger.info('private address released', { app: app.name, address: doc.address });
        return json(200, { released: doc.address });
      },
    }),
  ];
}
