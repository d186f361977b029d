/**
 * The HTTP kit's router without a socket: what every API of the platform answers for a thrown error
 * (one mapping, from the error-code registry), a bad body or query, a path no route has, and a caller
 * without a token — the behaviour the control plane, the agent and the CLI's error messages rely on.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { StarlingError, silentLogger } from '../../src/shared/index.js';
import { HttpError, Router, answerError, json, route, statusFor, type HttpRequest, type HttpResponse } from '../../src/http/index.js';

type Caller = 'anonymous' | 'user';

function request(method: string, path: string, o: { body?: string; query?: string; token?: string } = {}): HttpRequest {
  return {
    method,
    path,
    headers: o.token === undefined ? {} : { authorization: `Bearer ${o.token}` },
    body: o.body ?? '',
    query: new URLSearchParams(o.query ?? ''),
    signal: new AbortController().signal,
  };
}

function thrower(path: string, error: Error) {
  return route<Caller>({
    method: 'GET',
    path,
    summary: path,
    access: 'user',
    responses: {},
    handler: () => Promise.reject(error),
  });
}

const routes = [
  thrower('/registered', new StarlingError('ERR_APP_NOT_FOUND', 'no app "web"')),
  thrower('/conflict', new StarlingError('ERR_STORE_CONFLICT', 'revision moved on', { hint: 'read it again' })),
  thrower('/user-fault', new StarlingError('ERR_USAGE', 'wrong flag', { fault: 'user' })),
  thrower('/system-fault', new StarlingError('ERR_STORE_IO', 'disk full at /var/lib/secret-path')),
  thrower('/plain', new Error('boom')),
  thrower('/http', new HttpError(422, 'ERR_BAD_REQUEST', 'nope', [{ path: 'a', message: 'bad' }])),
  route<Caller, z.ZodObject<{ n: z.ZodNumber }>>({
    method: 'POST',
    path: '/items',
    summary: 'add',
    access: 'user',
    responses: {},
    requestSchema: z.strictObject({ n: z.number().int() }),
    handler: ({ body }) => Promise.resolve(json(201, { n: body.n })),
  }),
  route<Caller>({ method: 'GET', path: '/items/{id}', summary: 'one', access: 'user', responses: {}, handler: ({ params }) => Promise.resolve(json(200, { id: params.id })) }),
  route<Caller>({ method: 'GET', path: '/items/all', summary: 'all', access: 'user', responses: {}, handler: () => Promise.resolve(json(200, { all: true })) }),
  route<Caller>({ method: 'GET', path: '/health', summary: 'up', access: 'public', responses: {}, handler: () => Promise.resolve(json(200, { ok: true })) }),
];

const router = new Router<Caller>(routes, {
  anonymous: 'anonymous',
  logger: silentLogger,
  authenticate: (headers) =>
    Promise.resolve(headers.authorization === 'Bearer good' ? { ok: true, principal: 'user' as const } : { ok: false, response: json(401, { error: { code: 'ERR_UNAUTHORIZED', message: 'token' } }) }),
});

const call = (req: HttpRequest): Promise<HttpResponse> => router.handle(req);
const errorOf = (r: HttpResponse): { code: string; message: string; details?: unknown } => (r.json as { error: { code: string; message: string } }).error;

describe('the HTTP router answers a thrown error with one mapping', () => {
  it('a registered code answers its registered status, with its code and message', async () => {
    const r = await call(request('GET', '/registered', { token: 'good' }));
    assert.equal(r.status, 404);
    assert.deepEqual(errorOf(r), { code: 'ERR_APP_NOT_FOUND', message: 'no app "web"' });
  });

  it('a hint goes with the message', async () => {
    const r = await call(request('GET', '/conflict', { token: 'good' }));
    assert.equal(r.status, 409);
    assert.deepEqual(errorOf(r), { code: 'ERR_STORE_CONFLICT', message: 'revision moved on (read it again)' });
  });

  it("a caller's fault without a registered status is a 400", async () => {
    const r = await call(request('GET', '/user-fault', { token: 'good' }));
    assert.equal(r.status, 400);
    assert.equal(errorOf(r).code, 'ERR_USAGE');
  });

  it('a system fault is a 500 that keeps its code and hides its message', async () => {
    const r = await call(request('GET', '/system-fault', { token: 'good' }));
    assert.equal(r.status, 500);
    assert.equal(errorOf(r).code, 'ERR_STORE_IO');
    assert.doesNotMatch(errorOf(r).message, /secret-path/);
  });

  it('anything else is a 500 ERR_INTERNAL', async () => {
    const r = await call(request('GET', '/plain', { token: 'good' }));
    assert.equal(r.status, 500);
    assert.equal(errorOf(r).code, 'ERR_INTERNAL');
  });

  it('an HttpError keeps its status and details', async () => {
    const r = await call(request('GET', '/http', { token: 'good' }));
    assert.equal(r.status, 422);
    assert.deepEqual(errorOf(r), { code: 'ERR_BAD_REQUEST', message: 'nope', details: [{ path: 'a', message: 'bad' }] });
  });

  it('statusFor is the same mapping', () => {
    assert.equal(statusFor(new StarlingError('ERR_MACHINE_RUNNING', 'x')), 409);
    assert.equal(statusFor(new StarlingError('ERR_USAGE', 'x', { fault: 'user' })), 400);
    assert.equal(statusFor(new StarlingError('ERR_STORE_IO', 'x')), undefined);
    assert.equal(statusFor(new Error('x')), undefined);
  });
});

describe('the HTTP router checks requests before handlers run', () => {
  it('every problem of a body is listed, each with where it is', async () => {
    const r = await call(request('POST', '/items', { token: 'good', body: '{"n":1.5,"extra":true}' }));
    assert.equal(r.status, 400);
    const e = errorOf(r) as { code: string; details: { path: string }[] };
    assert.equal(e.code, 'ERR_BAD_REQUEST');
    assert.deepEqual(
      e.details.map((d) => d.path),
      ['n', '(top level)'],
      'the wrong number and the unknown key, both',
    );
    assert.match(JSON.stringify(e.details), /unknown key \\"extra\\"/);
  });

  it('a good body reaches the handler; bad JSON and unknown query parameters are refused', async () => {
    assert.equal((await call(request('POST', '/items', { token: 'good', body: '{"n":2}' }))).status, 201);
    assert.equal((await call(request('POST', '/items', { token: 'good', body: '{"n":' }))).status, 400);
    const q = await call(request('GET', '/items/7', { token: 'good', query: 'verbose=1' }));
    assert.equal(q.status, 400);
    assert.match(errorOf(q).message, /unknown query parameter verbose/);
  });

  it('exact paths win over templates', async () => {
    assert.deepEqual((await call(request('GET', '/items/all', { token: 'good' }))).json, { all: true });
    assert.deepEqual((await call(request('GET', '/items/x%2Fy', { token: 'good' }))).json, { id: 'x/y' });
  });

  it('without a good token nobody learns whether a path exists; with one, 404 and 405 say what is wrong', async () => {
    assert.equal((await call(request('GET', '/nowhere'))).status, 401);
    assert.equal((await call(request('DELETE', '/items/all'))).status, 401);
    assert.equal((await call(request('GET', '/nowhere', { token: 'good' }))).status, 404);
    const r = await call(request('DELETE', '/items/all', { token: 'good' }));
    assert.equal(r.status, 405);
    assert.equal(r.headers?.allow, 'GET');
    assert.equal((await call(request('GET', '/health'))).status, 200, 'a public route needs no token');
  });
});

describe('an error answer read as text becomes the same HttpError a JSON call throws', () => {
  it('the envelope gives the code, the message and the details', () => {
    const e = answerError(409, '{"error":{"code":"ERR_STORE_CONFLICT","message":"moved on","details":[{"path":"a","message":"b"}]}}', (m) => `PUT /x: ${m ?? '?'}`);
    assert.ok(e instanceof HttpError);
    assert.deepEqual([e.status, e.code, e.message, e.details], [409, 'ERR_STORE_CONFLICT', 'PUT /x: moved on', [{ path: 'a', message: 'b' }]]);
  });

  it('without an envelope, or not JSON, the code is ERR_HTTP_<status> and the message is the caller\'s', () => {
    for (const text of ['', '<html>bad gateway</html>', '{"error":"flat"}']) {
      const e = answerError(502, text, (m) => m ?? 'no message');
      assert.deepEqual([e.code, e.message, e.fault], ['ERR_HTTP_502', 'no message', 'system'], text);
    }
  });
});
