/**
 * Organisations and scoped tokens on a real control plane (loopback, SQLite): one org's token sees
 * nothing of another org — every app route answers 404 for the other org's app, exactly as for an
 * app that does not exist — scopes hold (read < deploy < admin), an app token reaches its app
 * only, revoked and expired tokens stop working at once, and tokens are kept only as hashes.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SqliteStore, controlRoutes, startControlPlane, type ControlPlane } from '../../src/control/index.js';
import { ManualClock, silentLogger } from '../../src/shared/index.js';

const OPERATOR = 'operator-token-0123456789abcdef';
const KEY = Buffer.alloc(32, 5);
const dir = mkdtempSync(join(tmpdir(), 'starling-tenancy-'));
const clock = new ManualClock(Date.UTC(2026, 0, 1));
let store: SqliteStore;
let cp: ControlPlane;
let base = '';

interface Reply {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

async function call(token: string, method: string, path: string, body?: unknown): Promise<Reply> {
  const res = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? null : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

async function token(org: string, scope: string, extra: Record<string, unknown> = {}): Promise<string> {
  const r = await call(OPERATOR, 'POST', '/v1/tokens', { org, scope, ...extra });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.token as string;
}

const tokens: Record<string, string> = {};

before(async () => {
  store = new SqliteStore({ path: join(dir, 'state.db') });
  cp = await startControlPlane({ listen: { host: '127.0.0.1', port: 0 }, store, tokens: [OPERATOR], imagesDir: join(dir, 'images'), secretsKey: KEY, clock, logger: silentLogger });
  base = `http://127.0.0.1:${cp.address.port}`;
  for (const org of ['acme', 'globex']) assert.equal((await call(OPERATOR, 'POST', '/v1/orgs', { name: org })).status, 201);
  tokens.acmeAdmin = await token('acme', 'admin');
  tokens.acmeDeploy = await token('acme', 'deploy');
  tokens.acmeRead = await token('acme', 'read');
  tokens.globexAdmin = await token('globex', 'admin');
  assert.equal((await call(tokens.acmeDeploy, 'POST', '/v1/apps', { name: 'shop', primary_region: 'fra' })).status, 201);
  assert.equal((await call(tokens.acmeDeploy, 'POST', '/v1/apps', { name: 'blog', primary_region: 'fra' })).status, 201);
  assert.equal((await call(tokens.globexAdmin, 'POST', '/v1/apps', { name: 'rival', primary_region: 'ams' })).status, 201);
  tokens.shopOnly = await token('acme', 'admin', { app: 'shop' });
});
after(async () => {
  await cp.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('organisations and scoped tokens', () => {
  it('a token of another org gets 404 — as for an app that does not exist — on every app route', async () => {
    const routes = controlRoutes({ store, secretsKey: KEY, imagesDir: join(dir, 'images'), clock, logger: silentLogger }).filter((r) => r.path.includes('{app}') && ['read', 'deploy', 'admin'].includes(r.access));
    assert.ok(routes.length >= 15, `${routes.length} app routes`);
    for (const r of routes) {
      const path = r.path.replace('{app}', 'shop').replace(/\{\w+\}/g, 'x');
      for (const [who, t] of [['globex admin', tokens.globexAdmin!], ['acme app token of shop on blog', tokens.shopOnly!]] as const) {
        const p = who.includes('blog') ? path.replace('/shop', '/blog') : path;
        const res = await call(t, r.method, p, r.requestSchema ? {} : undefined);
        assert.equal(res.status, 404, `${who}: ${r.method} ${p}`);
        assert.equal(res.body.error.code, 'ERR_APP_NOT_FOUND');
        const none = await call(t, r.method, p.replace(/\/(shop|blog)/, '/nosuchapp'), r.requestSchema ? {} : undefined);
        assert.deepEqual(none.body.error.message.replace('nosuchapp', 'X'), res.body.error.message.replace(/shop|blog/, 'X'), 'the same answer as for no app');
      }
    }
  });

  it('lists only what a token may see', async () => {
    const names = async (t: string): Promise<string[]> => ((await call(t, 'GET', '/v1/apps')).body.apps as { name: string }[]).map((a) => a.name).sort();
    assert.deepEqual(await names(tokens.acmeRead!), ['blog', 'shop']);
    assert.deepEqual(await names(tokens.globexAdmin!), ['rival']);
    assert.deepEqual(await names(tokens.shopOnly!), ['shop']);
    assert.deepEqual(await names(OPERATOR), ['blog', 'rival', 'shop']);
    assert.deepEqual(((await call(tokens.globexAdmin!, 'GET', '/v1/orgs')).body.orgs as { name: string }[]).map((o) => o.name), ['globex']);
    assert.equal((await call(tokens.acmeRead!, 'GET', '/v1/apps/shop')).body.org, 'acme');
  });

  it('holds scopes: read looks, deploy changes, admin destroys and manages tokens', async () => {
    const scale = { count: 1 };
    assert.equal((await call(tokens.acmeRead!, 'GET', '/v1/apps/shop/releases')).status, 200);
    const denied = await call(tokens.acmeRead!, 'POST', '/v1/apps/shop/scale', scale);
    assert.equal(denied.status, 403);
    assert.equal(denied.body.error.code, 'ERR_FORBIDDEN');
    assert.match(denied.body.error.message, /scope is read; this endpoint needs deploy/);
    assert.equal((await call(tokens.acmeRead!, 'PUT', '/v1/apps/shop/secrets', { A: 'b' })).status, 403, 'read cannot set secrets');
    // Past the access check, the app itself answers (it has no deployed release yet).
    assert.equal((await call(tokens.acmeDeploy!, 'POST', '/v1/apps/shop/scale', scale)).body.error.code, 'ERR_NOT_DEPLOYED');
    assert.equal((await call(tokens.acmeDeploy!, 'DELETE', '/v1/apps/blog')).status, 403, 'deploy cannot destroy');
    assert.equal((await call(tokens.acmeDeploy!, 'POST', '/v1/tokens', { org: 'acme', scope: 'read' })).status, 403, 'deploy cannot make tokens');
    assert.equal((await call(tokens.acmeAdmin!, 'POST', '/v1/apps', { name: 'tmp', primary_region: 'fra' })).status, 201);
    assert.equal((await call(tokens.acmeAdmin!, 'DELETE', '/v1/apps/tmp')).status, 200);
    // Nobody but the operator makes orgs or hosts.
    assert.equal((await call(tokens.acmeAdmin!, 'POST', '/v1/orgs', { name: 'mine' })).status, 403);
    assert.equal((await call(tokens.acmeAdmin!, 'POST', '/v1/hosts', { id: 'h9', region: 'fra' })).status, 403);
    assert.equal((await call(tokens.acmeAdmin!, 'GET', '/v1/hosts')).status, 403);
    assert.equal((await call(tokens.acmeAdmin!, 'GET', '/v1/watch?timeout=0')).status, 403, 'the feed (every org) is not for org tokens');
  });

  it("an org's admin manages its own tokens only; an app token stays in its app", async () => {
    assert.equal((await call(tokens.acmeAdmin!, 'POST', '/v1/tokens', { org: 'globex', scope: 'read' })).status, 404, 'another org is not there');
    assert.equal((await call(tokens.acmeAdmin!, 'POST', '/v1/tokens', { org: 'acme', app: 'rival', scope: 'read' })).status, 404, "another org's app is not there");
    assert.equal((await call(tokens.shopOnly!, 'POST', '/v1/apps', { name: 'sneaky', primary_region: 'fra' })).status, 403, 'an app token makes no apps');
    assert.equal((await call(tokens.shopOnly!, 'POST', '/v1/tokens', { org: 'acme', scope: 'read' })).status, 403, 'nor org-wide tokens');
    assert.equal((await call(tokens.shopOnly!, 'POST', '/v1/tokens', { org: 'acme', app: 'shop', scope: 'read' })).status, 201);
    const globexTokens = (await call(tokens.globexAdmin!, 'GET', '/v1/tokens')).body.tokens as { org: string; id: string }[];
    assert.deepEqual([...new Set(globexTokens.map((t) => t.org))], ['globex']);
    assert.equal((await call(tokens.acmeAdmin!, 'DELETE', `/v1/tokens/${globexTokens[0]!.id}`)).status, 404, "cannot revoke another org's token");
    assert.equal((await call(tokens.globexAdmin!, 'GET', '/v1/tokens?org=acme')).status, 404);
  });

  it('keeps tokens only as hashes, and shows them once', async () => {
    const made = await call(OPERATOR, 'POST', '/v1/tokens', { org: 'acme', scope: 'read', name: 'ci' });
    const doc = (await store.get('tokens', made.body.id))?.value as Record<string, unknown>;
    assert.equal(doc.hash, createHash('sha256').update(made.body.token).digest('hex'));
    const listed = JSON.stringify((await call(OPERATOR, 'GET', '/v1/tokens')).body);
    assert.ok(!listed.includes(made.body.token) && !listed.includes(String(doc.hash)), 'neither the token nor its hash is listed');
    assert.ok(!readFileSync(join(dir, 'state.db')).includes(Buffer.from(made.body.token)), 'the token is not in the database');
  });

  it('a revoked token stops at once; an expired one is refused with its own code', async () => {
    const t = await call(OPERATOR, 'POST', '/v1/tokens', { org: 'acme', scope: 'read' });
    assert.equal((await call(t.body.token, 'GET', '/v1/apps')).status, 200);
    assert.equal((await call(tokens.acmeAdmin!, 'DELETE', `/v1/tokens/${t.body.id}`)).status, 200);
    const revoked = await call(t.body.token, 'GET', '/v1/apps');
    assert.equal(revoked.status, 401);
    assert.equal(revoked.body.error.code, 'ERR_UNAUTHORIZED');

    const short = await call(OPERATOR, 'POST', '/v1/tokens', { org: 'acme', scope: 'read', expires_in_s: 3600 });
    assert.equal((await call(short.body.token, 'GET', '/v1/apps')).status, 200);
    clock.advance(3_600_001);
    const expired = await call(short.body.token, 'GET', '/v1/apps');
    assert.equal(expired.status, 401);
    assert.equal(expired.body.error.code, 'ERR_TOKEN_EXPIRED');
    assert.match(expired.body.error.message, /expired at 2026-01-01T01:00:00.000Z/);
  });

  it("destroying an app takes its app tokens with it: a new app of that name does not inherit them", async () => {
    assert.equal((await call(tokens.acmeAdmin!, 'POST', '/v1/apps', { name: 'short', primary_region: 'fra' })).status, 201);
    const t = await call(tokens.acmeAdmin!, 'POST', '/v1/tokens', { org: 'acme', app: 'short', scope: 'admin' });
    assert.equal((await call(tokens.acmeAdmin!, 'DELETE', '/v1/apps/short')).status, 200);
    assert.equal((await call(tokens.acmeAdmin!, 'POST', '/v1/apps', { name: 'short', primary_region: 'fra' })).status, 201);
    assert.equal((await call(t.body.token, 'GET', '/v1/apps/short')).status, 401);
  });

  it("refuses an org whose private network would be an existing org's (their names hash alike), naming both", async () => {
    // Two names whose first 32 bits of SHA-256 agree, found by trying (a birthday search, ~2^16 names).
    const seen = new Map<number, string>();
    let pair: [string, string] | undefined;
    for (let i = 0; !pair; i++) {
      const name = `org-${i}`;
      const bits = createHash('sha256').update(name).digest().readUInt32BE(0);
      const before = seen.get(bits);
      if (before) pair = [before, name];
      else seen.set(bits, name);
    }
    assert.equal((await call(OPERATOR, 'POST', '/v1/orgs', { name: pair[0] })).status, 201);
    const r = await call(OPERATOR, 'POST', '/v1/orgs', { name: pair[1] });
    assert.equal(r.status, 409);
    assert.equal(r.body.error.code, 'ERR_ORG_NETWORK_TAKEN');
    assert.match(r.body.error.message, new RegExp(`org ${pair[1]} would share its private network with org ${pair[0]}`));
    assert.equal((await call(OPERATOR, 'GET', '/v1/orgs')).body.orgs.some((o: { name: string }) => o.name === pair[1]), false);
  });
});
