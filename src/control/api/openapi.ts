/**
 * The route table and the OpenAPI 3.1 document generated from it: the router serves exactly the
 * routes listed here and the document describes exactly them, so the two cannot drift.
 */
import { z } from 'zod';
import { agentRoutes } from './agents.js';
import { appRoutes } from './apps.js';
import { DeployRunner } from '../deploy/index.js';
import { deployRoutes } from './deploys.js';
import { logRoutes } from './logs.js';
import { machineRoutes } from './machines.js';
import { feedRoutes } from './feed.js';
import { hostRoutes } from './hosts.js';
import { orgRoutes } from './orgs.js';
import { imageRoutes } from './images.js';
import { json, route, type Route } from './http.js';
import type { ApiContext } from './schemas.js';
import { secretRoutes } from './secrets.js';

export const API_VERSION = '0.1.0';

/** Every route of the control plane's API, /openapi.json and /healthz included. */
export function controlRoutes(ctx: ApiContext): Route[] {
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
    ...deployRoutes(ctx, runner),
    ...logRoutes(ctx),
    ...secretRoutes(ctx, runner),
    ...orgRoutes(ctx),
    ...hostRoutes(ctx),
    ...agentRoutes(ctx),
    ...imageRoutes(ctx),
    ...feedRoutes(ctx),
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

const ERROR_SCHEMA = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', description: 'stable, e.g. ERR_APP_NOT_FOUND' },
        message: { type: 'string' },
        details: { type: 'array', items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } } } },
      },
    },
  },
};

function jsonSchema(schema: z.ZodType): unknown {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

export function openApiDocument(routes: readonly Route[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const parameters: unknown[] = [];
    for (const m of r.path.matchAll(/\{(\w+)\}/g)) parameters.push({ name: m[1], in: 'path', required: true, schema: { type: 'string' } });
    if (r.querySchema) {
      for (const [name, s] of Object.entries(r.querySchema.shape)) {
        parameters.push({ name, in: 'query', required: !(s as z.ZodType).safeParse(undefined).success, schema: jsonSchema(s as z.ZodType) });
      }
    }
    const responses: Record<string, unknown> = {};
    for (const [status, description] of Object.entries(r.responses)) {
      const schema = Number(status) >= 400 ? { $ref: '#/components/schemas/Error' } : {};
      const type = Number(status) < 400 && r.contentType ? r.contentType : 'application/json';
      responses[status] = { description, content: { [type]: { schema } } };
    }
    if (r.access !== 'public') {
      const error = { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } };
      responses['401'] = { description: 'ERR_UNAUTHORIZED or ERR_TOKEN_EXPIRED', content: error };
      responses['403'] ??= { description: 'ERR_FORBIDDEN: the caller may not use this endpoint', content: error };
      responses['429'] = { description: 'ERR_RATE_LIMITED (Retry-After)', content: error };
    }
    const op: Record<string, unknown> = {
      operationId: `${r.method.toLowerCase()}${r.path.replace(/[{}]/g, '').replace(/[/.](\w)/g, (_m, c: string) => c.toUpperCase())}`,
      summary: r.summary,
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(r.requestSchema ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(r.requestSchema) } } } } : {}),
      ...(r.raw && r.method === 'PUT' && r.contentType ? { requestBody: { required: true, content: { [r.contentType]: { schema: { type: 'string', format: 'binary' } } } } } : {}),
      responses,
      security: r.access === 'public' ? [] : [{ bearer: [] }],
      // Who may call it: a scope (read, deploy, admin), platform, host, feed, join, any or public.
      'x-starling-access': r.access,
    };
    (paths[r.path] ??= {})[r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Starling control plane', version: API_VERSION, description: 'See docs/control-api.md' },
    security: [{ bearer: [] }],
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } }, schemas: { Error: ERROR_SCHEMA } },
    paths,
  };
}
