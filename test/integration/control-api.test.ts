/**
 * The control plane's HTTP API on loopback over a real SqliteStore: auth, apps, releases under
 * concurrency, secrets that never leave, the long-poll feed, the OpenAPI document against the route
 * table, and `starling control run` as a child process.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SqliteStore, controlRoutes, startControlPlane, type ControlPlane } from '../../src/control/index.js';
import { Logger, SystemClock, certFingerprint, formatFingerprint, silentLogger, trustingFetch } from '../../src/shared/index.js';
import { AGENT_SECRET, joinHost } from '../helpers/hosts.js';
import { waitFor } from '../helpers/wait.js';

const TOKEN = 'test-token-0123456789abcdef';
/** Host h1's credential (fra), from joining in before(). */
let AGENT = '';
const KEY = Buffer.alloc(32, 7);
const dir = mkdtempSync(join(tmpdir(), 'starling-control-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let store: SqliteStore;
let cp: ControlPlane;
let base: string;
let logText = '';
const logger = new Logger({ write: (l: string) => (logText += l) }, 'debug');

before(async () => {
  store = new SqliteStore({ path: join(dir, 'state.db') });
  cp = await startControlPlane({ listen: { host: '127.0.0.1', port: 0 }, store, tokens: [TOKEN, 'second-token-abcdefghijkl'], imagesDir: join(dir, 'images'), secretsKey: KEY, clock: new SystemClock(), logger,
    // This file tries every route without a token: not a password guesser (control-limits.test.ts tests that limit).
    limits: { failedAuthBurst: 100_000 },
  });
  base = `http://127.0.0.1:${cp.address.port}`;
  AGENT = await joinHost(base, TOKEN, 'h1', 'fra');
});
after(async () => {
  await cp.close();
  await store.close();
});

interface Reply {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  text: string;
}

async function call(method: string, path: string, body?: unknown, token: string | null = TOKEN): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(base + path, { method, headers, body: body === undefined ? null : typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text), text };
}

const IMAGE = { ref: 'registry.test/web:1', digest: `sha256:${'a'.repeat(64)}` };

describe('control API', () => {
  it('needs a token on every endpoint but /healthz', async () => {
    assert.equal((await call('GET', '/healthz', undefined, null)).status, 200);
    const routes = controlRoutes({ store, secretsKey: KEY, imagesDir: join(dir, 'images'), clock: new SystemClock(), logger: silentLogger });
    for (const r of routes.filter((x) => x.access !== 'public')) {
      const path = r.path.replace(/\{\w+\}/g, 'x');
      for (const token of [null, 'wrong-token-0123456789']) {
        const res = await call(r.method, path, undefined, token);
        assert.equal(res.status, 401, `${r.method} ${r.path} without a good token`);
        assert.equal(res.body.error.code, 'ERR_UNAUTHORIZED');
      }
    }
    assert.equal((await call('GET', '/v1/nowhere', undefined, null)).status, 401, 'unknown paths are hidden too');
    assert.equal((await call('GET', '/v1/apps', undefined, 'second-token-abcdefghijkl')).status, 200, 'any configured token works');
    // Roles: a host credential cannot act on apps; the operator cannot act as a host.
    assert.equal((await call('GET', '/v1/apps', undefined, AGENT)).status, 403, 'host credential on an app endpoint');
    assert.equal((await call('PUT', '/v1/hosts/h1/apps/a/machines/m1/state', { state: 'started', healthy: true, release: 1 })).status, 403, 'operator token on a host endpoint');
    assert.equal((await call('GET', '/v1/hosts/h1/apps/a/machines/m1/secrets')).status, 403, 'the operator cannot read secret values');
    assert.equal((await call('GET', '/v1/watch?timeout=0', undefined, AGENT)).status, 200, 'the feed takes a host');
    assert.equal((await call('GET', '/v1/watch?timeout=0')).status, 200, 'and the operator');
  });

  it('creates, lists, shows and destroys apps; a duplicate is 409', async () => {
    const created = await call('POST', '/v1/apps', { name: 'web', primary_region: 'fra' });
    assert.equal(created.status, 201);
    assert.equal(created.body.name, 'web');
    const dup = await call('POST', '/v1/apps', { name: 'web', primary_region: 'iad' });
    assert.equal(dup.status, 409);
    assert.equal(dup.body.error.code, 'ERR_APP_EXISTS');
    assert.deepEqual((await call('GET', '/v1/apps')).body.apps.map((a: { name: string }) => a.name), ['web']);
    assert.equal((await call('GET', '/v1/apps/web')).body.primary_region, 'fra');
    assert.equal((await call('POST', '/v1/apps', { name: 'tmp', primary_region: 'sin' })).status, 201);
    assert.equal((await call('DELETE', '/v1/apps/tmp')).status, 200);
    const gone = await call('GET', '/v1/apps/tmp');
    assert.equal(gone.status, 404);
    assert.equal(gone.body.error.code, 'ERR_APP_NOT_FOUND');
  });

  it('answers bad input with 400 listing every issue, never 500', async () => {
    const bad = await call('POST', '/v1/apps', { name: 'Bad Name', primary_region: 'xyz', colour: 'red' });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'ERR_BAD_REQUEST');
    const paths = bad.body.error.details.map((d: { path: string }) => d.path).sort();
    assert.deepEqual(paths, ['(top level)', 'name', 'primary_region']);
    assert.match(bad.body.error.message, /unknown key "colour"/);
    const rel = await call('POST', '/v1/apps/web/releases', { config: 'nope', image: { ref: '', digest: 'md5:1' } });
    assert.equal(rel.status, 400);
    assert.equal(rel.body.error.details.length, 3);
    for (const body of ['{not json', '[]', 'null', '"x"']) {
      assert.equal((await call('POST', '/v1/apps', body)).status, 400, body);
    }
    assert.equal((await call('GET', '/v1/watch?since=abc&colour=1')).status, 400);
    assert.equal((await call('GET', '/v1/apps?x=1')).status, 400);
    assert.equal((await call('GET', '/v1/apps/web/releases/0')).status, 404);
    assert.equal((await call('GET', '/v1/apps/%zz')).status, 404);
    assert.equal((await call('PATCH', '/v1/apps')).status, 405);
    assert.equal((await call('PUT', '/v1/hosts/h1', { region: 'fra', capacity: { machines: -1 }, agent_url: 'ftp://x' }, AGENT)).body.error.details.length, 3);
  });

  it('gives concurrent release creates distinct consecutive versions', async () => {
    const replies = await Promise.all(Array.from({ length: 12 }, (_, i) => call('POST', '/v1/apps/web/releases', { config: { app: 'web', env: { N: i } }, image: IMAGE })));
    assert.ok(replies.every((r) => r.status === 201), replies.map((r) => r.text).join());
    const versions = replies.map((r) => r.body.version as number).sort((a, b) => a - b);
    assert.deepEqual(versions, Array.from({ length: 12 }, (_, i) => i + 1));
    const list = await call('GET', '/v1/apps/web/releases');
    assert.deepEqual(list.body.releases.map((r: { version: number }) => r.version), versions);
    const one = await call('GET', '/v1/apps/web/releases/3');
    assert.deepEqual(Object.keys(one.body).sort(), ['config', 'created_at', 'image', 'secrets_version', 'version']);
  });

  it('stores secrets encrypted and never returns or logs their values', async () => {
    const value = 'hunter2-very-secret-value';
    const set = await call('PUT', '/v1/apps/web/secrets', { DATABASE_URL: value, API_KEY: `${value}-2` });
    assert.equal(set.status, 200);
    assert.equal(set.body.secrets_version, 1);
    const list = await call('GET', '/v1/apps/web/secrets');
    assert.deepEqual(list.body.secrets.map((s: { name: string }) => s.name), ['API_KEY', 'DATABASE_URL']);
    assert.match(list.body.secrets[0].digest, /^[0-9a-f]{16}$/);
    const stored = await store.get('secrets', 'web.DATABASE_URL');
    assert.ok(stored && !JSON.stringify(stored.value).includes(value), 'encrypted at rest');
    const rel = await call('POST', '/v1/apps/web/releases', { config: { app: 'web' }, image: IMAGE });
    assert.equal(rel.body.secrets_version, 1);
    // Malformed bodies must not echo the value either (JSON.parse quotes the input in its message).
    const broken = await call('PUT', '/v1/apps/web/secrets', `{"A": "${value}`);
    const wrongType = await call('PUT', '/v1/apps/web/secrets', { 'bad name': value, OK: 5 });
    assert.equal(broken.status, 400);
    assert.equal(wrongType.status, 400);
    const unset = await call('DELETE', '/v1/apps/web/secrets/API_KEY');
    assert.equal(unset.body.secrets_version, 2);
    assert.equal((await call('DELETE', '/v1/apps/web/secrets/API_KEY')).status, 404);
    const everything = [set, list, rel, broken, wrongType, unset, await call('GET', '/v1/snapshot'), await call('GET', '/v1/watch?since=0&timeout=0')];
    for (const r of everything) assert.ok(!r.text.includes(value), `a response leaked the value: ${r.text}`);
    assert.ok(logText.length > 0, 'the logger was used');
    assert.ok(!logText.includes(value), 'the log leaked the value');
    assert.equal((await call('GET', '/v1/watch?collections=apps,secrets')).status, 400);
  });

  it('registers hosts (upsert) and lists regions with coordinates', async () => {
    const fra = await joinHost(base, TOKEN, 'fra-1', 'fra');
    const iad = await joinHost(base, TOKEN, 'iad-1', 'iad');
    const host = { region: 'fra', capacity: { machines: 10 }, agent_url: 'http://10.0.0.1:9090', agent_secret: AGENT_SECRET };
    assert.equal((await call('PUT', '/v1/hosts/fra-1', host, fra)).status, 201);
    assert.equal((await call('PUT', '/v1/hosts/fra-1', { ...host, capacity: { machines: 20 } }, fra)).status, 200);
    assert.equal((await call('PUT', '/v1/hosts/iad-1', { ...host, region: 'iad' }, iad)).status, 201);
    const hosts = await call('GET', '/v1/hosts');
    assert.deepEqual(hosts.body.hosts.map((h: { id: string }) => h.id), ['fra-1', 'iad-1']);
    assert.ok(!JSON.stringify(hosts.body).includes(AGENT_SECRET), 'the agent secret is not shown');
    const regions = (await call('GET', '/v1/regions')).body.regions;
    assert.deepEqual(regions.map((r: { code: string }) => r.code), ['fra', 'iad']);
    assert.equal(regions[0].capacity.machines, 20);
    assert.equal(typeof regions[0].lat, 'number');
  });

  it('long-polls: a watch returns a change made after the call started', async () => {
    const head = (await call('GET', '/v1/watch?timeout=0&since=0')).body.revision as number;
    const empty = await call('GET', `/v1/watch?since=${head}&timeout=1`);
    assert.deepEqual(empty.body, { revision: head, changes: [] });
    // Know when the server is really waiting: its long poll subscribes to the store's feed.
    const watch = store.watch.bind(store);
    let subscribed = 0;
    store.watch = (...args: Parameters<typeof watch>) => (subscribed++, watch(...args));
    const pending = call('GET', `/v1/watch?since=${head}&collections=apps&timeout=30`);
    await waitFor(() => subscribed > 0, 'the long poll to wait on the feed');
    store.watch = watch;
    await call('PUT', '/v1/hosts/h1', { region: 'fra', capacity: { machines: 1 }, agent_url: 'http://10.0.0.3:9090', agent_secret: AGENT_SECRET }, AGENT); // filtered out
    await call('POST', '/v1/apps', { name: 'api', primary_region: 'sin' });
    const got = await pending;
    assert.equal(got.status, 200);
    assert.equal(got.body.changes.length, 1);
    assert.deepEqual({ ...got.body.changes[0], value: undefined, revision: undefined }, { collection: 'apps', key: 'api', op: 'put', value: undefined, revision: undefined });
    assert.equal(got.body.revision, got.body.changes[0].revision);
  });

  it('resyncs from a snapshot when the history was compacted (410)', async () => {
    const snap = await call('GET', '/v1/snapshot?collections=apps,hosts');
    assert.equal(snap.status, 200);
    assert.ok(snap.body.documents.some((d: { collection: string; key: string }) => d.collection === 'apps' && d.key === 'api'));
    assert.ok(snap.body.documents.every((d: { collection: string }) => ['apps', 'hosts'].includes(d.collection)));
    await store.compact(snap.body.revision);
    const old = await call('GET', '/v1/watch?since=1&timeout=0');
    assert.equal(old.status, 410);
    assert.equal(old.body.error.code, 'ERR_STORE_COMPACTED');
    const pending = call('GET', `/v1/watch?since=${snap.body.revision}&timeout=30`);
    await call('DELETE', '/v1/apps/api');
    const got = await pending;
    assert.equal(got.status, 200);
    assert.deepEqual(got.body.changes.map((c: { op: string; key: string; value: unknown }) => [c.op, c.key, c.value]), [['delete', 'api', null]]);
    assert.equal((await call('GET', '/v1/watch?since=999999&timeout=0')).status, 410);
  });

  it('takes an image upload only when the bytes hash to its digest, and serves it back to agents', async () => {
    const bytes = Buffer.from('not really a tarball, but bytes all the same');
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const put = (d: string, body: Buffer, token = TOKEN): Promise<Response> =>
      fetch(`${base}/v1/images/${d}`, { method: 'PUT', headers: { authorization: `Bearer ${token}` }, body });
    const wrong = await put(`sha256:${'0'.repeat(64)}`, bytes);
    assert.equal(wrong.status, 400);
    assert.equal(((await wrong.json()) as { error: { code: string } }).error.code, 'ERR_IMAGE_DIGEST');
    assert.equal((await put(digest, bytes, AGENT)).status, 403, 'hosts cannot upload');
    assert.equal((await put(digest, bytes)).status, 201);
    assert.equal((await put(digest, bytes)).status, 200, 'a second upload of the same image is a no-op');
    const got = await fetch(`${base}/v1/images/${digest}`, { headers: { authorization: `Bearer ${AGENT}` } });
    assert.equal(got.status, 200);
    assert.deepEqual(Buffer.from(await got.arrayBuffer()), bytes);
    assert.equal((await fetch(`${base}/v1/images/${digest}`)).status, 401);
    assert.equal((await call('GET', `/v1/images/sha256:${'1'.repeat(64)}`)).body.error.code, 'ERR_IMAGE_NOT_FOUND');
  });

  it('refuses deploys and scaling it cannot carry out, with 4xx saying why', async () => {
    await call('POST', '/v1/apps', { name: 'shop', primary_region: 'ams' });
    assert.equal((await call('POST', '/v1/apps/shop/deploys', {})).body.error.code, 'ERR_NO_RELEASE');
    assert.equal((await call('POST', '/v1/apps/shop/scale', { count: 2 })).body.error.code, 'ERR_NOT_DEPLOYED');
    const bad = await call('POST', '/v1/apps/shop/scale', { count: -1, regions: ['zzz'], colour: 'red' });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.details.length, 3, bad.text);
    const rel = await call('POST', '/v1/apps/shop/releases', { config: { app: 'shop', experimental: { cmd: [] }, colour: 1 }, image: IMAGE });
    assert.equal(rel.status, 400);
    assert.deepEqual(rel.body.error.details.map((d: { path: string }) => d.path).sort(), ['config.colour', 'config.experimental.cmd']);
    assert.equal((await call('POST', '/v1/apps/shop/releases', { config: { app: 'web' }, image: IMAGE })).body.error.details[0].path, 'config.app');
    assert.equal((await call('POST', '/v1/apps/shop/releases', { config: { app: 'shop' }, image: IMAGE })).status, 201);
    const missing = await call('POST', '/v1/apps/shop/deploys', { strategy: 'sideways' });
    assert.equal(missing.status, 400);
    assert.equal((await call('POST', '/v1/apps/shop/deploys', {})).body.error.code, 'ERR_IMAGE_NOT_FOUND');
    assert.equal((await call('GET', '/v1/apps/shop/deploys/nope')).status, 404);
    assert.equal((await call('POST', '/v1/apps/shop/deploys/nope/resume')).status, 404);
    const state = await call('PUT', '/v1/hosts/h1/apps/shop/machines/Bad.Id/state', { state: 'started', healthy: true, release: 1 }, AGENT);
    assert.equal(state.status, 400);
    assert.equal((await call('GET', '/v1/hosts/h1/apps/shop/machines/abc/secrets', undefined, AGENT)).body.error.code, 'ERR_FORBIDDEN');
  });

  it("refuses (409) a deploy whose public TCP port is another app's or the platform's, before anything else", async () => {
    const tcp = (name: string, port: string) => ({ app: name, services: [{ internal_port: 5432, protocol: 'tcp', ports: [Object.fromEntries(port.split('-').length === 2 ? [['start_port', Number(port.split('-')[0])], ['end_port', Number(port.split('-')[1])]] : [['port', Number(port)]])] }] });
    await call('POST', '/v1/apps', { name: 'pgdb', primary_region: 'ams' });
    assert.equal((await call('POST', '/v1/apps/pgdb/releases', { config: tcp('pgdb', '5432'), image: IMAGE })).status, 201);
    // As a deploy that succeeded leaves it (no agents here to run one).
    const pgdb = (await store.get('apps', 'pgdb'))!;
    await store.put('apps', 'pgdb', { ...(pgdb.value as object), deployed_release: 1 });
    await call('POST', '/v1/apps', { name: 'rival', primary_region: 'ams' });
    assert.equal((await call('POST', '/v1/apps/rival/releases', { config: tcp('rival', '5430-5440'), image: IMAGE })).status, 201);
    const taken = await call('POST', '/v1/apps/rival/deploys', {});
    assert.equal(taken.status, 409, taken.text);
    assert.equal(taken.body.error.code, 'ERR_PORT_TAKEN');
    assert.match(taken.body.error.message, /services\[0\]\.ports\[0\]: ports 5430-5440 \(tcp\) is already taken by app pgdb \(port 5432\)/);
    assert.equal((await call('POST', '/v1/apps/rival/releases', { config: tcp('rival', '179'), image: IMAGE })).status, 201);
    const bgp = await call('POST', '/v1/apps/rival/deploys', {});
    assert.equal(bgp.body.error.code, 'ERR_PORT_TAKEN');
    assert.match(bgp.body.error.message, /port 179 is BGP/);
    // A free port goes on to the next check (the image).
    assert.equal((await call('POST', '/v1/apps/rival/releases', { config: tcp('rival', '6000'), image: IMAGE })).status, 201);
    assert.equal((await call('POST', '/v1/apps/rival/deploys', {})).body.error.code, 'ERR_IMAGE_NOT_FOUND');
    // The app that holds the port deploys again without clashing with itself.
    assert.equal((await call('POST', '/v1/apps/pgdb/deploys', {})).body.error.code, 'ERR_IMAGE_NOT_FOUND');
  });

  it('serves an OpenAPI document with exactly the routes of the route table', async () => {
    const doc = (await call('GET', '/openapi.json')).body;
    assert.equal(doc.openapi, '3.1.0');
    const routes = controlRoutes({ store, secretsKey: KEY, imagesDir: join(dir, 'images'), clock: new SystemClock(), logger: silentLogger });
    const fromTable = routes.map((r) => `${r.method} ${r.path}`).sort();
    const fromDoc = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    assert.deepEqual(fromDoc, fromTable);
    for (const needed of ['POST /v1/apps', 'GET /v1/watch', 'PUT /v1/apps/{app}/secrets', 'GET /healthz', 'GET /openapi.json']) assert.ok(fromTable.includes(needed), needed);
    assert.deepEqual(doc.paths['/v1/apps'].post.requestBody.content['application/json'].schema.required.sort(), ['name', 'primary_region']);
    assert.deepEqual(doc.paths['/healthz'].get.security, []);
  });
});

describe('starling control run', () => {
  it('creates its token, key, certificate and state 0600, serves HTTPS with the logged certificate, and exits 0 on SIGTERM', async () => {
    const d = mkdtempSync(join(dir, 'cli-'));
    // A state.db an earlier release left world-readable in an existing directory is made private.
    mkdirSync(join(d, 'state'), { mode: 0o755 });
    writeFileSync(join(d, 'state', 'state.db'), '', { mode: 0o644 });
    const config = join(d, 'control.toml');
    // Port 0 would hide the port: pick a free one first.
    const probe = await startControlPlane({ listen: { host: '127.0.0.1', port: 0 }, store, tokens: [TOKEN], imagesDir: join(dir, 'images'), secretsKey: KEY, clock: new SystemClock(), logger: silentLogger });
    const port = probe.address.port;
    await probe.close();
    writeFileSync(config, `listen = "127.0.0.1:${port}"\nstate = "${join(d, 'state', 'state.db')}"\n`);
    const cli = new URL('../../src/cli/main.js', import.meta.url).pathname;
    const child = spawn(process.execPath, [cli, 'control', 'run', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await waitFor(() => existsSync(join(d, 'state', 'tls.crt')) && out.includes('serving HTTPS'), 'the certificate', 10_000);
      const fp = certFingerprint(readFileSync(join(d, 'state', 'tls.crt'), 'utf8'));
      assert.ok(out.includes(formatFingerprint(fp)), 'the fingerprint clients pin is logged');
      const pinned = trustingFetch({ fingerprint: fp });
      await waitFor(async () => (await pinned(`https://127.0.0.1:${port}/healthz`).catch(() => undefined))?.status === 200, 'healthz over https', 10_000);
      await assert.rejects(fetch(`http://127.0.0.1:${port}/healthz`), 'no plain HTTP on the TLS port');
      await assert.rejects(trustingFetch({ fingerprint: 'ab'.repeat(32) })(`https://127.0.0.1:${port}/healthz`), (e: Error) => (e.cause as { code?: string }).code === 'ERR_TLS_UNTRUSTED', 'another pin is refused');
      const token = readFileSync(join(d, 'state', 'api.token'), 'utf8').trim();
      for (const f of ['api.token', 'secrets.key', 'tls.key', 'state.db', 'state.db-wal']) assert.equal(statSync(join(d, 'state', f)).mode & 0o777, 0o600, f);
      const res = await pinned(`https://127.0.0.1:${port}/v1/apps`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 200);
      assert.ok(!out.includes(token), 'the token is not logged');
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exit, 0, out);
  });

  it('reports every problem of a bad control.toml at once', async () => {
    const config = join(dir, 'bad.toml');
    writeFileSync(config, 'listen = "nope"\nstate = ""\ncolour = 1\nagent_token_file = "/etc/starling/agent.token"\n');
    const cli = new URL('../../src/cli/main.js', import.meta.url).pathname;
    const child = spawn(process.execPath, [cli, 'control', 'run', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    assert.notEqual(code, 0);
    assert.match(out, /listen/);
    assert.match(out, /state/);
    assert.match(out, /colour/);
    assert.match(out, /agent_token_file: is no longer used: each host joins with its own credential/);
  });
});
