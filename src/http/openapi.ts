/**
 * An OpenAPI 3.1 document from a route table: the router serves exactly the routes listed and the
 * document describes exactly them, so the two cannot drift. Each operation carries its access rule
 * as `x-starling-access`.
 */
// A type import only: the schemas carry their own toJSONSchema, so loading the kit (the CLI does,
// through shared) does not load zod.
import type { z } from 'zod';
import type { Route } from './router.js';

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
  const { $schema: _, ...rest } = schema.toJSONSchema({ io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

export function openApiDocument<P>(routes: readonly Route<P>[], info: { title: string; version: string; description: string }): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const error = { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } };
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
      responses['401'] = { description: 'ERR_UNAUTHORIZED or ERR_TOKEN_EXPIRED', content: error };
      responses['403'] ??= { description: 'ERR_FORBIDDEN: the caller may not use this endpoint', content: error };
      responses['429'] = { description: 'ERR_RATE_LIMITED (Retry-After)', content: error };
    }
    const op: Record<string, unknown> = {
      operationId: `${r.method.toLowerCase()}${r.path.replace(/[{}]/g, '').replace(/[/.](\w)/g, (_m, c: string) => c.toUpperCase())}`,
      summary: r.summary,
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(r.requestSchema ? { requestBody: { required: !r.requestSchema.safeParse(undefined).success, content: { 'application/json': { schema: jsonSchema(r.requestSchema) } } } } : {}),
      ...(r.raw && r.method === 'PUT' && r.contentType ? { requestBody: { required: true, content: { [r.contentType]: { schema: { type: 'string', format: 'binary' } } } } } : {}),
      responses,
      security: r.access === 'public' ? [] : [{ bearer: [] }],
      'x-starling-access': r.access,
    };
    (paths[r.path] ??= {})[r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info,
    security: [{ bearer: [] }],
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } }, schemas: { Error: ERROR_SCHEMA } },
    paths,
  };
}
