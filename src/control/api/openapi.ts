/**
 * The route table and the OpenAPI 3.1 document generated from it: the router serves exactly the
 * routes listed here and the document describes exactly them, so the two cannot drift.
 */
import { openApiDocument as kitOpenApi } from '../../http/index.js';
import { agentRoutes } from './agents.js';
import { appRoutes } from './apps.js';
import { DeployRunner } from '../deploy/index.js';
import { deployRoutes } from './deploys.js';
import { logRoutes } from './logs.js';
import { metricsRoutes } from './metrics.js';
import { machineRoutes } from './machines.js';
import { machineOpRoutes } from './machine-ops.js';
import { machineCreateRoutes } from './machine-create.js';
import { machineStateRoutes } from './machine-state.js';
import { leaseRoutes } from './machine-leases.js';
import { machineMetadataRoutes } from './machine-metadata.js';
import { feedRoutes } from './feed.js';
import { hostRoutes } from './hosts.js';
import { orgRoutes } from './orgs.js';
import { wireguardRoutes } from './wireguard.js';
import { privateIpRoutes } from './private-ips.js';
import { volumeRoutes } from './volumes.js';
import { snapshotRoutes } from './snapshots.js';
import { imageRoutes } from './images.js';
import { json, route, type Route } from './http.js';
import type { ApiContext } from './schemas.js';
import { secretRoutes } from './secrets.js';
import { imageImportRoutes } from './image-import.js';
import { certificateRoutes } from './certificates.js';
import { DEFAULT_MAX_IMAGE_BYTES } from '../../contract/index.js';
import { RegistryStorage, registryRoutes, type RegistryAuth } from '../registry/index.js';

export const API_VERSION = '0.1.0';

/**
 * Every route of the control plane's API, /openapi.json and /healthz included, and the platform
 * registry's at /v2/ (which checks credentials itself, with `registryAuth`: without it, it answers 401).
 */
export function controlRoutes(given: ApiContext & { registryAuth?: RegistryAuth | undefined }): Route[] {
  // One registry storage for /v2/, image imports, deploy checks and app removal.
  const registry = given.registry ?? new RegistryStorage({ imagesDir: given.imagesDir, maxBytes: given.maxImageBytes ?? DEFAULT_MAX_IMAGE_BYTES, clock: given.clock });
  const ctx = { ...given, registry };
  const runner = ctx.deploys ?? new DeployRunner(ctx);
  const routes: Route[] = [
    route({
      method: 'GET',
      path: '/healthz',
      summary: 'Liveness: answers without a token',
      access: 'public',
      responses: { '200': '{ ok: true }' },
      async handler() {
        return json(200, { ok: true });
      },
    }),
    ...appRoutes(ctx),
    ...machineRoutes(ctx, runner),
    ...machineOpRoutes(ctx, runner),
    ...machineCreateRoutes(ctx, runner),
    ...machineStateRoutes(ctx),
    ...leaseRoutes(ctx),
    ...machineMetadataRoutes(ctx),
    ...deployRoutes(ctx, runner),
    ...logRoutes(ctx),
    ...secretRoutes(ctx, runner),
    ...certificateRoutes(ctx),
    ...orgRoutes(ctx),
    ...wireguardRoutes(ctx),
    ...privateIpRoutes(ctx),
    ...volumeRoutes(ctx),
    ...snapshotRoutes(ctx),
    ...hostRoutes(ctx),
    ...agentRoutes(ctx),
    ...imageRoutes(ctx),
    ...imageImportRoutes(ctx, registry),
    ...feedRoutes(ctx),
    ...metricsRoutes(ctx),
    ...registryRoutes({
      storage: registry,
      store: ctx.store,
      auth: ctx.registryAuth,
      logger: ctx.logger.child({ component: 'registry' }),
    }),
  ];
  // Built on first request, from the finished table (which includes this route).
  let doc: unknown;
  routes.push(openApiRoute(() => (doc ??= openApiDocument(routes))));
  return routes;
}

function openApiRoute(doc: () => unknown): Route {
  return route({
    method: 'GET',
    path: '/openapi.json',
    access: 'any',
    summary: 'This API, as an OpenAPI 3.1 document',
    responses: { '200': 'the OpenAPI document' },
    async handler() {
      return json(200, doc());
    },
  });
}

/** This API as an OpenAPI 3.1 document (http/openapi.ts builds it from the table). */
export function openApiDocument(routes: readonly Route[]): Record<string, unknown> {
  return kitOpenApi(routes, { title: 'Starling control plane', version: API_VERSION, description: 'See docs/control-api.md' });
}
