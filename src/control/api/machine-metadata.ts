/**
 * fly's machine metadata on the control plane: `GET …/{id}/metadata` (the whole map), `POST
 * …/{id}/metadata/{key}` with `{ "value": "…" }` and `DELETE …/{id}/metadata/{key}`, both 204
 * as fly answers them (a delete of a key that is not there too). Kept in the machine's placement
 * (`metadata`), so create and update can set it too (config.metadata) and the machine object
 * shows it as config.metadata. Bounded: MAX_METADATA_KEYS keys of at most 64 characters, values
 * of at most 1024. A change needs the lease nonce while the machine is leased.
 */
import { z } from 'zod';
import { getApp } from './apps.js';
import { MAX_METADATA_KEYS, METADATA_KEY, METADATA_KEY_RULE, metadataValue } from './machine-create.js';
import { changePlacement } from './machine-leases.js';
import { placementOf } from './machine-object.js';
import { HttpError, json, route, type Route } from './http.js';
import type { ApiContext } from './schemas.js';

const SetMetadata = z.strictObject({ value: metadataValue });
const NO_CONTENT = { status: 204, text: '' };

function keyOf(params: Record<string, string>): string {
  const key = params.key ?? '';
  if (!METADATA_KEY.test(key)) throw new HttpError(400, 'ERR_BAD_REQUEST', `metadata key ${JSON.stringify(key.slice(0, 80))} ${METADATA_KEY_RULE}`, [{ path: 'key', message: METADATA_KEY_RULE }]);
  return key;
}

export function machineMetadataRoutes(ctx: ApiContext): Route[] {
  const base = '/v1/apps/{app}/machines/{id}/metadata';
  return [
    route({
      method: 'GET',
      path: base,
      access: 'read',
      summary: "A machine's metadata: `{ key: value, … }`",
      responses: { '200': '{ key: value, … }', '404': 'ERR_APP_NOT_FOUND, ERR_MACHINE_NOT_FOUND' },
      async handler({ params }) {
        const app = (await getApp(ctx, params.app!)).value.name;
        return json(200, (await placementOf(ctx, app, params.id!)).doc.metadata ?? {});
      },
    }),
    route({
      method: 'POST',
      path: `${base}/{key}`,
      access: 'deploy',
      summary: 'Set one metadata key of a machine: `{ "value": "…" }`',
      requestSchema: SetMetadata,
      responses: { '204': 'set', '400': 'a bad key or value, or too many keys', '404': 'ERR_MACHINE_NOT_FOUND', '409': 'ERR_LEASE_HELD' },
      async handler({ params, body, headers }) {
        const key = keyOf(params);
        await changePlacement(ctx, params.app!, params.id!, headers, (doc) => {
          const metadata = { ...doc.metadata, [key]: body.value };
          if (Object.keys(metadata).length > MAX_METADATA_KEYS) throw new HttpError(400, 'ERR_BAD_REQUEST', `machine ${doc.id} has ${MAX_METADATA_KEYS} metadata keys already, the most it may have: delete one first`);
          return doc.metadata?.[key] === body.value ? undefined : { ...doc, metadata };
        });
        return NO_CONTENT;
      },
    }),
    route({
      method: 'DELETE',
      path: `${base}/{key}`,
      access: 'deploy',
      summary: 'Delete one metadata key of a machine (204 also when it was not set)',
      responses: { '204': 'deleted', '400': 'a bad key', '404': 'ERR_MACHINE_NOT_FOUND', '409': 'ERR_LEASE_HELD' },
      async handler({ params, headers }) {
        const key = keyOf(params);
        await changePlacement(ctx, params.app!, params.id!, headers, (doc) => {
          if (doc.metadata?.[key] === undefined) return undefined;
          const { [key]: _gone, ...metadata } = doc.metadata;
          return { ...doc, metadata };
        });
        return NO_CONTENT;
      },
    }),
  ];
}
