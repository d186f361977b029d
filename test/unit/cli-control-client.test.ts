/**
 * What the CLI makes of the control plane's answers (callControl on the HTTP kit's callJson), with
 * a fetch of the test's own, so no socket: an error envelope becomes the HttpError a person reads
 * (code, message, every detail on its own line, a hint by status or code), a connection that fails
 * says which control plane and what to check, a certificate that is not the pinned one is reported
 * as the TLS check said it, and the token goes in the Authorization header and nowhere else.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { callControl, controlAnswerError, type ControlTarget } from '../../src/cli/control-client.js';
import { StarlingError, UntrustedCertificateError, isStarlingError } from '../../src/shared/index.js';
import { HttpError } from '../../src/http/index.js';

const TOKEN = 'cli-token-that-must-not-show-0123456789';
const URL_ = 'http://127.0.0.1:9300';

interface Sent {
  url: string;
  method: string | undefined;
  headers: Record<string, string>;
  body: string | undefined;
}

/** A target whose fetch records the request and answers with `answer` (or throws what it throws). */
function target(answer: () => Response | Promise<Response>): { target: ControlTarget; sent: Sent[] } {
  const sent: Sent[] = [];
  const fetch = (async (input: string | URL, init?: RequestInit) => {
    sent.push({ url: String(input), method: init?.method, headers: Object.fromEntries(new Headers(init?.headers).entries()), body: init?.body as string | undefined });
    return answer();
  }) as typeof globalThis.fetch;
  return { target: { url: URL_, token: TOKEN, fetch, label: `the control plane at ${URL_}` }, sent };
}

const envelope = (status: number, error: Record<string, unknown>): Response => new Response(JSON.stringify({ error }), { status, headers: { 'content-type': 'application/json' } });

/** The error `p` rejects with. */
async function failure(p: Promise<unknown>): Promise<StarlingError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof StarlingError, `not a StarlingError: ${String(e)}`);
    return e;
  }
  assert.fail('expected a rejection');
}

/** The token appears in nothing a person or a log could see of the error. */
function assertNoToken(e: StarlingError): void {
  for (const text of [e.message, e.hint ?? '', String(e), JSON.stringify(e), e.stack ?? '']) assert.ok(!text.includes(TOKEN), `the token leaked: ${text.slice(0, 200)}`);
}

describe('callControl', () => {
  it('sends the token as a bearer token and the body as JSON, and resolves with the parsed answer', async () => {
    const t = target(() => new Response(JSON.stringify({ name: 'web' }), { status: 201 }));
    assert.deepEqual(await callControl(t.target, 'POST', '/v1/apps', { name: 'web' }), { name: 'web' });
    const [req] = t.sent;
    assert.equal(req?.url, `${URL_}/v1/apps`);
    assert.equal(req?.method, 'POST');
    assert.equal(req?.headers.authorization, `Bearer ${TOKEN}`);
    assert.equal(req?.headers['content-type'], 'application/json');
    assert.equal(req?.body, '{"name":"web"}');
  });

  it("turns an error envelope into the HttpError of its code, every detail on a line under the message", async () => {
    const t = target(() =>
      envelope(400, {
        code: 'ERR_VALIDATION',
        message: 'the request body is invalid',
        details: [
          { path: 'name', message: 'must be lower-case letters' },
          { path: '', message: 'unknown key "bogus"' },
        ],
      }),
    );
    const e = await failure(callControl(t.target, 'POST', '/v1/apps', { name: 'Bad' }));
    assert.ok(e instanceof HttpError);
    assert.equal(e.status, 400);
    assert.equal(e.code, 'ERR_VALIDATION');
    assert.equal(e.fault, 'user');
    assert.equal(e.message, 'the request body is invalid\n  name: must be lower-case letters\n  (body): unknown key "bogus"');
    assert.deepEqual(e.details, [
      { path: 'name', message: 'must be lower-case letters' },
      { path: '', message: 'unknown key "bogus"' },
    ]);
  });

  it("problems the answer's message lists inline are said once, each on its own line (the router's validation answers list theirs)", async () => {
    const t = target(() =>
      envelope(400, {
        code: 'ERR_BAD_REQUEST',
        message: 'invalid body: strategy: must be one of rolling, canary, bluegreen, immediate; max_unavailable: must be positive',
        details: [
          { path: 'strategy', message: 'must be one of rolling, canary, bluegreen, immediate' },
          { path: 'max_unavailable', message: 'must be positive' },
        ],
      }),
    );
    const e = await failure(callControl(t.target, 'POST', '/v1/apps/web/deploys', {}));
    assert.equal(e.message, 'invalid body:\n  strategy: must be one of rolling, canary, bluegreen, immediate\n  max_unavailable: must be positive');
  });

  it('says what to do next, by status or code', async () => {
    const cases: [number, string, RegExp | undefined][] = [
      [401, 'ERR_UNAUTHORIZED', /^the token is not one this control plane accepts/],
      [401, 'ERR_TOKEN_EXPIRED', /^ask an admin of your org for a new one/],
      [403, 'ERR_FORBIDDEN', /^the token may not do this: see its scope with starling tokens list/],
      [429, 'ERR_RATE_LIMITED', /^wait as long as the message says/],
      [404, 'ERR_APP_NOT_FOUND', /starling apps list/],
      [409, 'ERR_APP_EXISTS', /^pick another name/],
      [500, 'ERR_INTERNAL', /^the control plane's log says more/],
      [409, 'ERR_SOMETHING_ELSE', undefined],
    ];
    for (const [status, code, hint] of cases) {
      const e = await failure(callControl(target(() => envelope(status, { code, message: `refused with ${code}` })).target, 'GET', '/v1/apps'));
      assert.equal(e.code, code);
      assert.equal(e.message, `refused with ${code}`);
      assert.equal(e.fault, status < 500 ? 'user' : 'system', code);
      if (hint === undefined) assert.equal(e.hint, undefined, code);
      else assert.match(e.hint ?? '', hint, code);
      assertNoToken(e);
    }
  });

  it('names the control plane when an error answer has no envelope', async () => {
    const e = await failure(callControl(target(() => new Response('{}', { status: 502 })).target, 'GET', '/v1/apps'));
    assert.equal(e.code, 'ERR_HTTP_502');
    assert.match(e.message, /the control plane at http:\/\/127\.0\.0\.1:9300: HTTP 502/);
    assert.equal(e.fault, 'system');
  });

  it('an answer that is not JSON is ERR_CONTROL_API, asking whether --control is the control plane', async () => {
    const e = await failure(callControl(target(() => new Response('<html>a proxy</html>', { status: 200 })).target, 'GET', '/v1/apps'));
    assert.equal(e.code, 'ERR_CONTROL_API');
    assert.match(e.message, /the control plane at http:\/\/127\.0\.0\.1:9300: HTTP 200 with something that is not JSON: <html>a proxy/);
    assert.match(e.hint ?? '', /is --control the control plane/);
  });

  it('a connection that fails is ERR_CONTROL_UNREACHABLE: which control plane, why, and what to check', async () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9300'), { code: 'ECONNREFUSED' });
    const e = await failure(
      callControl(target(() => Promise.reject(new TypeError('fetch failed', { cause: refused }))).target, 'GET', '/v1/apps'),
    );
    assert.equal(e.code, 'ERR_CONTROL_UNREACHABLE');
    assert.equal(e.message, 'cannot reach the control plane at http://127.0.0.1:9300: ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:9300');
    assert.match(e.hint ?? '', /^is it running \(starling control run\) and is the URL right/);
    assert.equal(e.fault, 'system');
    assertNoToken(e);
  });

  it('a certificate that is not the pinned one is reported as the TLS check said it, not as unreachable', async () => {
    const untrusted = new UntrustedCertificateError('https://127.0.0.1:9300', 'a'.repeat(64), 'b'.repeat(64));
    const e = await failure(callControl(target(() => Promise.reject(new TypeError('fetch failed', { cause: untrusted }))).target, 'GET', '/v1/apps'));
    assert.equal(e, untrusted);
    assert.ok(isStarlingError(e, 'ERR_TLS_UNTRUSTED'));
    assert.match(e.message, /is not the pinned one/);
    assert.match(e.hint ?? '', /pin it/);
  });
});

describe('controlAnswerError (an image upload, read without callJson)', () => {
  it("keeps the envelope's code, says what failed, and hints as callControl does", () => {
    const e = controlAnswerError(401, JSON.stringify({ error: { code: 'ERR_UNAUTHORIZED', message: 'missing or wrong bearer token' } }), 'uploading the image');
    assert.equal(e.code, 'ERR_UNAUTHORIZED');
    assert.equal(e.message, 'uploading the image failed (401): missing or wrong bearer token');
    assert.match(e.hint ?? '', /^the token is not one/);
    const raw = controlAnswerError(502, 'Bad Gateway', 'uploading the image');
    assert.equal(raw.code, 'ERR_HTTP_502');
    assert.equal(raw.message, 'uploading the image failed (502): Bad Gateway');
  });
});
