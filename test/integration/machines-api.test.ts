import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdminApi, loadOrCreateToken, machinesRoutes, type AnnouncerControl } from '../../src/agent/index.js';
import { parseCreateMachineRequest } from '../../src/agent/index.js';
import type { CreateMachineRequest, LogEntry, MachineView, MachinesPort } from '../../src/runtime/index.js';
import type { MachineState } from '../../src/runtime/types.js';
import { Logger, ManualClock, StarlingError, silentLogger } from '../../src/shared/index.js';
import { killAllCli, startCli } from '../helpers/cli.js';

const TOKEN = 't'.repeat(64);
const SECRET = 'hunter2-do-not-show';
const dirs: string[] = [];
after(() => {
  killAllCli();
  dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
});

/** Resolves the next time `signal()` is called. */
class Signal {
  private waiters: (() => void)[] = [];
  next(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }
  signal(): void {
    this.waiters.splice(0).forEach((w) => w());
  }
}

type Stored = MachineView & { config: MachineView['config'] & { secrets?: Record<string, string> | undefined } };

/**
 * An in-memory port. Its views carry `config.secrets` on purpose, as a careless port might: the API
 * must still never answer a secret value. App "ghost" is unknown to it.
 */
class FakeMachines implements MachinesPort {
  readonly machines = new Map<string, Stored>();
  readonly requests: CreateMachineRequest[] = [];
  readonly calls: string[] = [];
  readonly logs_ = new Map<string, LogEntry[]>();
  readonly followers = new Set<(e: LogEntry) => void>();
  readonly waiting = new Signal();
  readonly unfollowed = new Signal();
  private waiters: { id: string; state: MachineState; done: (ok: boolean) => void }[] = [];
  private n = 0;
  constructor(private readonly clock: ManualClock) {}

  list(app: string): MachineView[] {
    if (app === 'ghost') throw new StarlingError('ERR_APP_NOT_FOUND', 'no machines of app "ghost" on this host', { fault: 'user' });
    return [...this.machines.values()].filter((m) => m.app === app);
  }
  get(app: string, id: string): MachineView | undefined {
    const m = this.machines.get(id);
    return m?.app === app ? m : undefined;
  }
  async create(app: string, req: CreateMachineRequest): Promise<MachineView> {
    this.requests.push(req);
    const id = (++this.n).toString(16).padStart(14, '0');
    const now = new Date(this.clock.now()).toISOString();
    const c = req.config;
    const m: Stored = {
      id, app, region: req.region ?? 'fra', state: req.skip_start ? 'created' : c.image === 'slow' ? 'starting' : 'started',
      private_ip: '172.31.0.2', image_ref: c.image, created_at: now, updated_at: now,
      checks: { passing: true, checks: [{ name: 'web', status: 'passing', output: '200 OK', last: now }] },
      config: {
        image: c.image, cmd: c.cmd ?? ['node', 'server.js'], env: c.env ?? {}, internal_port: c.internal_port ?? 8080,
        guest: { memory_mb: 256, cpus: 1, pids: 256, ...c.guest }, restart: { policy: 'on-failure', max_retries: 3 },
        checks: c.checks ?? {}, secret_names: Object.keys(c.secrets ?? {}).sort(), volumes: (c.mounts ?? []).map((m) => m.volume), secrets: c.secrets,
      },
    };
    this.machines.set(id, m);
    this.logs_.set(id, [1, 2, 3].map((i) => ({ time: now, stream: 'stdout' as const, message: `line ${i}` })));
    return m;
  }
  async start(app: string, id: string): Promise<MachineView> {
    this.calls.push(`start ${id}`);
    return this.setState(id, 'started');
  }
  async stop(app: string, id: string, opts: { signal?: NodeJS.Signals; timeout_ms?: number }): Promise<MachineView> {
    this.calls.push(`stop ${id} ${opts.signal ?? '-'} ${opts.timeout_ms ?? '-'}`);
    return this.setState(id, 'stopped');
  }
  async destroy(app: string, id: string, opts: { force?: boolean }): Promise<void> {
    const m = this.machines.get(id)!;
    if (m.state === 'started' && !opts.force) throw new StarlingError('ERR_MACHINE_RUNNING', `machine ${id} is started: stop it first, or destroy with force`, { fault: 'user' });
    this.calls.push(`destroy ${id}`);
    this.machines.delete(id);
  }
  waitFor(app: string, id: string, state: MachineState, timeoutMs: number): Promise<boolean> {
    if (this.machines.get(id)?.state === state) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = this.clock.setTimeout(() => resolve(false), timeoutMs);
      this.waiters.push({ id, state, done: (ok) => (timer.cancel(), resolve(ok)) });
      this.waiting.signal();
    });
  }
  logs(app: string, id: string, opts: { tail?: number }): { entries: LogEntry[] } {
    const all = this.logs_.get(id) ?? [];
    return { entries: opts.tail === undefined ? all : all.slice(-opts.tail) };
  }
  followLogs(app: string, id: string, cb: (e: LogEntry) => void): () => void {
    this.followers.add(cb);
    return () => {
      this.followers.delete(cb);
      this.unfollowed.signal();
    };
  }
  emit(message: string): void {
    const e: LogEntry = { time: new Date(this.clock.now()).toISOString(), stream: 'stderr', message };
    this.followers.forEach((cb) => cb(e));
  }
  setState(id: string, state: MachineState): MachineView {
    const m = this.machines.get(id)!;
    m.state = state;
    for (const w of this.waiters.filter((x) => x.id === id && x.state === state)) w.done(true);
    this.waiters = this.waiters.filter((x) => !(x.id === id && x.state === state));
    return m;
  }
}

const announcer: AnnouncerControl = {
  drain() {},
  undrain() {},
  drainState: 'serving',
  status: () => Promise.reject(new Error('unused')),
  metricsText: async () => '',
};

function setup(token = TOKEN, controlToken?: string) {
  const clock = new ManualClock();
  const fake = new FakeMachines(clock);
  const lines: string[] = [];
  const logger = new Logger({ write: (l: string) => lines.push(l) }, 'debug');
  const api = new AdminApi({ announcer, token, controlToken, drain: { prepend: 0, delay_ms: 0 }, logger: silentLogger });
  api.add(...machinesRoutes({ machines: fake, clock, logger }));
  return { clock, fake, api, log: () => lines.join('') };
}

type Reply = { status: number; body: string; json: () => Record<string, unknown> & { error?: { code: string; message: string } } };

async function call(port: number, method: string, path: string, o: { body?: unknown; raw?: string; headers?: Record<string, string>; token?: string | null } = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...o.headers };
  if (o.token !== null) headers.authorization = `Bearer ${o.token ?? TOKEN}`;
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { method, headers, body: o.raw ?? (o.body === undefined ? null : JSON.stringify(o.body)) });
  const body = await res.text();
  return { status: res.status, body, json: () => JSON.parse(body) as ReturnType<Reply['json']> };
}

const M = '/v1/apps/web/machines';
const ENDPOINTS: [string, string][] = [
  ['GET', M], ['POST', M], ['GET', `${M}/x`], ['DELETE', `${M}/x`], ['POST', `${M}/x/start`], ['POST', `${M}/x/stop`],
  ['GET', `${M}/x/wait`], ['POST', `${M}/x/lease`], ['GET', `${M}/x/lease`], ['DELETE', `${M}/x/lease`], ['GET', `${M}/x/logs`],
];

describe('the Machines API without a socket', () => {
  const { api } = setup();
  it('answers 401 on every endpoint without the token, before looking at the body', async () => {
    for (const [method, path] of ENDPOINTS) {
      for (const authorization of [undefined, `Bearer ${TOKEN}x`]) {
        const r = await api.handle({ method, path, authorization, body: '{"config":{}}' });
        assert.equal(r.status, 401, `${method} ${path}`);
        assert.match(JSON.stringify(r.json), /ERR_UNAUTHORIZED/);
      }
    }
  });

  it("takes the control plane's secret on the logs route only (start and stop are the placement's, not a relay's)", async () => {
    const CONTROL = 'c'.repeat(64);
    const { api: withControl, fake } = setup(TOKEN, CONTROL);
    const parsed = parseCreateMachineRequest({ config: { image: '/srv/app' } });
    assert.ok('request' in parsed);
    const m = await fake.create('web', parsed.request);
    const as = (method: string, path: string) => withControl.handle({ method, path, authorization: `Bearer ${CONTROL}` });
    assert.equal((await as('GET', `${M}/${m.id}/logs?tail=1`)).status, 200);
    for (const [method, path] of [...ENDPOINTS.filter(([, p]) => !/\/logs$/.test(p)), ['POST', '/v1/drain'], ['GET', '/metrics'], ['GET', '/nope']] as const) {
      assert.equal((await as(method, path)).status, 401, `${method} ${path} with the control secret`);
    }
    assert.equal((await api.handle({ method: 'GET', path: `${M}/${m.id}/logs`, authorization: `Bearer ${CONTROL}` })).status, 401, 'an agent without a control plane takes no control secret');
  });

  it('describes itself: every route, the Machines API included, in its OpenAPI document', async () => {
    const doc = (await api.handle({ method: 'GET', path: '/openapi.json', authorization: `Bearer ${TOKEN}` })).json as { paths: Record<string, Record<string, unknown>> };
    const listed = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    for (const [method, path] of ENDPOINTS) assert.ok(listed.includes(`${method} ${path.replace('/x', '/{id}').replace('/web/', '/{app}/')}`), `${method} ${path} missing from ${listed.join(', ')}`);
    for (const own of ['POST /v1/drain', 'GET /v1/bgp/status', 'GET /metrics']) assert.ok(listed.includes(own), own);
  });

  it('routes path parameters, percent-decoded, and keeps 404/405 for the rest', async () => {
    const ask = (method: string, path: string) => api.handle({ method, path, authorization: `Bearer ${TOKEN}` });
    assert.equal((await ask('GET', '/v1/apps/web/machines/no%20such')).status, 404);
    assert.match(JSON.stringify((await ask('GET', '/v1/apps/web/machines/nope')).json), /ERR_MACHINE_NOT_FOUND/);
    assert.match(JSON.stringify((await ask('GET', '/v1/apps/Bad_App/machines')).json), /ERR_APP_NAME/);
    assert.match(JSON.stringify((await ask('GET', '/v1/apps/%E0%A4%A/machines')).json), /ERR_NOT_FOUND/);
    const put = await ask('PUT', `${M}/x/start`);
    assert.equal(put.status, 405);
    assert.equal(put.headers?.allow, 'POST');
  });

  it('parses a create request: fly durations, "no" restart, check defaults', () => {
    const r = parseCreateMachineRequest({
      config: { image: '/srv/app', restart: { policy: 'no' }, checks: { web: { type: 'http', interval: '1m30s', timeout: 2.5 } }, mounts: [{ volume: 'data', path: '/data' }] },
    });
    assert.ok('request' in r);
    assert.deepEqual(r.request.config.restart, { policy: 'never' });
    assert.deepEqual(r.request.config.checks?.web, { type: 'http', port: undefined, method: 'GET', path: '/', grace_period_ms: 1000, interval_ms: 90_000, timeout_ms: 2500 });
  });
});

describe('the Machines API over HTTP', () => {
  const { clock, fake, api, log } = setup();
  let port: number;
  before(async () => (port = (await api.listen('127.0.0.1', 0)).port));
  after(() => api.close());
  const create = async (config: Record<string, unknown> = {}) => {
    const r = await call(port, 'POST', M, { body: { config: { image: '/srv/app', ...config } } });
    assert.equal(r.status, 200, r.body);
    return r.json() as unknown as MachineView;
  };

  it('creates, lists, gets, starts, stops and destroys; secrets are write-only everywhere', async () => {
    const bodies: string[] = [];
    const keep = (r: Reply) => (bodies.push(r.body), r);
    const m = await create({ env: { MODE: 'prod' }, secrets: { DB_PASSWORD: SECRET }, cmd: ['node', 'server.js'] });
    assert.equal(m.state, 'started');
    assert.deepEqual(m.config.secret_names, ['DB_PASSWORD']);
    assert.ok(!('secrets' in m.config));
    assert.equal(fake.requests[0]?.config.secrets?.DB_PASSWORD, SECRET, 'the port got the value');
    const list = keep(await call(port, 'GET', M));
    assert.deepEqual((JSON.parse(list.body) as MachineView[]).map((x) => x.id), [m.id]);
    keep(await call(port, 'GET', `${M}/${m.id}`));
    const stop = keep(await call(port, 'POST', `${M}/${m.id}/stop`, { body: { signal: 'SIGTERM', timeout: '10s' } }));
    assert.deepEqual({ ...stop.json(), machine: undefined }, { ok: true, previous_state: 'started', machine: undefined });
    assert.equal((stop.json().machine as MachineView).state, 'stopped');
    keep(await call(port, 'POST', `${M}/${m.id}/start`));
    const refused = keep(await call(port, 'DELETE', `${M}/${m.id}`));
    assert.equal(refused.status, 409);
    assert.equal(refused.json().error?.code, 'ERR_MACHINE_RUNNING');
    const gone = keep(await call(port, 'DELETE', `${M}/${m.id}?force=true`));
    assert.deepEqual(gone.json(), { ok: true, previous_state: 'started', machine: null });
    assert.deepEqual(fake.calls, [`stop ${m.id} SIGTERM 10000`, `start ${m.id}`, `destroy ${m.id}`]);
    assert.equal((await call(port, 'GET', `${M}/${m.id}`)).status, 404);
    const bad = keep(await call(port, 'POST', M, { body: { config: { image: 'x', secrets: { '1BAD': SECRET } } } }));
    assert.equal(bad.status, 400);
    for (const b of [...bodies, log()]) assert.ok(!b.includes(SECRET), `a secret value leaked: ${b.slice(0, 200)}`);
  });

  it('refuses a bad config listing every problem, bad JSON, and an oversized body', async () => {
    const r = await call(port, 'POST', M, {
      body: { regionx: 1, region: 'xyz', config: { image: '', cmd: 'node', env: { '1X': 'a' }, internal_port: 70000, bogus: true, checks: { web: { type: 'udp' } }, restart: { policy: 'sometimes' } } },
    });
    assert.equal(r.status, 400);
    assert.equal(r.json().error?.code, 'ERR_MACHINE_CONFIG');
    const msg = r.json().error!.message;
    for (const want of ['unknown key "regionx"', 'unknown key "bogus"', 'region: unknown region "xyz"', 'config.image:', 'config.cmd:', 'config.env.1X:', 'config.internal_port:', 'config.checks.web.type:', 'config.restart.policy:']) {
      assert.ok(msg.includes(want), `"${want}" missing from: ${msg}`);
    }
    const notJson = await call(port, 'POST', M, { raw: '{"config":' });
    assert.equal(notJson.json().error?.code, 'ERR_BAD_REQUEST');
    const stop = await call(port, 'POST', `${M}/${(await create()).id}/stop`, { body: { signal: 'SIGFOO', after: 1 } });
    for (const want of ['unknown key "after"', 'signal: must be one of']) assert.ok(stop.json().error!.message.includes(want), stop.json().error!.message);
    const big = await call(port, 'POST', M, { raw: 'x'.repeat((1 << 20) + 1) });
    assert.equal(big.status, 413);
    assert.equal((await call(port, 'POST', M, { raw: 'x'.repeat((1 << 20) + 1), token: null })).status, 401);
    assert.equal((await call(port, 'GET', '/v1/apps/ghost/machines')).json().error?.code, 'ERR_APP_NOT_FOUND');
  });

  it('wait answers 200 when the state is reached and 408 when the clock runs out', async () => {
    const m = await create();
    assert.deepEqual((await call(port, 'GET', `${M}/${m.id}/wait?state=started`)).json(), { ok: true });
    let registered = fake.waiting.next();
    const reached = call(port, 'GET', `${M}/${m.id}/wait?state=stopped&timeout=5`);
    await registered;
    fake.setState(m.id, 'stopped');
    assert.equal((await reached).status, 200);
    registered = fake.waiting.next();
    const late = call(port, 'GET', `${M}/${m.id}/wait?state=started&timeout=5`);
    await registered;
    clock.advance(5000);
    const r = await late;
    assert.equal(r.status, 408);
    assert.equal(r.json().error?.code, 'ERR_WAIT_TIMEOUT');
    assert.match(r.json().error!.message, /within 5 s \(it is stopped\)/);
    assert.equal((await call(port, 'GET', `${M}/${m.id}/wait?state=sleeping`)).status, 400);
    assert.equal((await call(port, 'GET', `${M}/${m.id}/wait?timeout=61`)).status, 400);
  });

  it('a held lease blocks changes without its nonce, allows them with it, and expires on the clock', async () => {
    const m = await create();
    const lease = await call(port, 'POST', `${M}/${m.id}/lease`, { body: { ttl: 30, description: 'deploy' } });
    const { nonce, expires_at, owner, description } = lease.json();
    assert.match(String(nonce), /^[0-9a-f]{32}$/);
    assert.deepEqual({ expires_at, owner, description }, { expires_at: clock.now() / 1000 + 30, owner: null, description: 'deploy' });
    const blocked = await call(port, 'POST', `${M}/${m.id}/stop`);
    assert.equal(blocked.status, 409);
    assert.equal(blocked.json().error?.code, 'ERR_LEASE_HELD');
    assert.ok(!blocked.body.includes(String(nonce)));
    assert.equal((await call(port, 'DELETE', `${M}/${m.id}?force=1`, { headers: { 'fly-machine-lease-nonce': 'wrong' } })).status, 409);
    assert.equal((await call(port, 'POST', `${M}/${m.id}/stop`, { headers: { 'fly-machine-lease-nonce': String(nonce) } })).status, 200);
    assert.equal((await call(port, 'POST', `${M}/${m.id}/start`, { headers: { 'starling-machine-lease-nonce': String(nonce) } })).status, 200);
    assert.equal((await call(port, 'GET', `${M}/${m.id}/lease`)).json().nonce, null, 'only the holder knows the nonce');
    assert.equal((await call(port, 'POST', `${M}/${m.id}/lease`, { body: { ttl: 5 } })).status, 409);
    clock.advance(20_000);
    const extended = await call(port, 'POST', `${M}/${m.id}/lease`, { body: { ttl: 30 }, headers: { 'fly-machine-lease-nonce': String(nonce) } });
    assert.deepEqual([extended.json().nonce, extended.json().expires_at], [nonce, clock.now() / 1000 + 30]);
    clock.advance(29_000);
    assert.equal((await call(port, 'POST', `${M}/${m.id}/stop`)).status, 409);
    clock.advance(1_000);
    assert.equal((await call(port, 'POST', `${M}/${m.id}/stop`)).status, 200, 'the lease expired');
    assert.equal((await call(port, 'GET', `${M}/${m.id}/lease`)).json().error?.code, 'ERR_LEASE_NOT_FOUND');
    const again = (await call(port, 'POST', `${M}/${m.id}/lease`)).json().nonce as string;
    assert.equal((await call(port, 'DELETE', `${M}/${m.id}/lease`)).status, 409);
    assert.equal((await call(port, 'DELETE', `${M}/${m.id}/lease`, { headers: { 'fly-machine-lease-nonce': again } })).status, 200);
    assert.equal((await call(port, 'POST', `${M}/${m.id}/start`)).status, 200);
    assert.equal((await call(port, 'POST', `${M}/${m.id}/lease`, { body: { ttl: 0, colour: 1 } })).status, 400);
  });

  it('logs: the tail as JSON; followed as NDJSON until the client goes', async () => {
    const m = await create();
    assert.deepEqual(((await call(port, 'GET', `${M}/${m.id}/logs?tail=2`)).json().entries as LogEntry[]).map((e) => e.message), ['line 2', 'line 3']);
    assert.equal((await call(port, 'GET', `${M}/${m.id}/logs?tail=0`)).status, 400);
    const abort = new AbortController();
    const res = await fetch(`http://127.0.0.1:${port}${M}/${m.id}/logs?follow=1&tail=1`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: abort.signal });
    assert.equal(res.headers.get('content-type'), 'application/x-ndjson');
    const lines = ndjsonLines(res);
    assert.equal((await lines.next()).message, 'line 3');
    fake.emit('live one');
    assert.deepEqual(await lines.next(), { time: new Date(clock.now()).toISOString(), stream: 'stderr', message: 'live one' });
    const unfollowed = fake.unfollowed.next();
    abort.abort();
    await unfollowed;
    assert.equal(fake.followers.size, 0);
  });
});

/** Reads a streamed NDJSON body one parsed line at a time. */
function ndjsonLines(res: Response): { next(): Promise<LogEntry> } {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  return {
    async next() {
      while (!buf.includes('\n')) {
        const { value, done } = await reader.read();
        if (done) throw new Error('stream ended');
        buf += value;
      }
      const i = buf.indexOf('\n');
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      return JSON.parse(line) as LogEntry;
    },
  };
}

const cli = (args: string[], env: Record<string, string> = {}) => startCli(args, { env });
const run = async (args: string[], env?: Record<string, string>) => cli(args, env).done;

describe('the starling machines commands against the API', () => {
  let s: ReturnType<typeof setup>;
  let config: string;
  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'starling-machines-'));
    dirs.push(dir);
    const tokenFile = join(dir, 'admin.token');
    s = setup(await loadOrCreateToken(tokenFile, silentLogger));
    const port = (await s.api.listen('127.0.0.1', 0)).port;
    writeFileSync(join(dir, 'routes.json'), '{ "apps": [] }\n');
    config = join(dir, 'agent.toml');
    writeFileSync(
      config,
      [
        '[agent]', 'region = "fra"', `state_dir = "${join(dir, 'state')}"`, `admin_listen = "127.0.0.1:${port}"`, `token_file = "${tokenFile}"`,
        '[proxy]', `routes = "${join(dir, 'routes.json')}"`, 'listen = "127.0.0.1:1"', 'admin = "127.0.0.1:2"',
        '[bgp]', 'asn = 65010', 'router_id = "192.0.2.10"', 'prefixes = ["198.51.100.0/24"]',
        '[[bgp.peers]]', 'name = "up1"', 'address = "192.0.2.1"', 'asn = 65001', '',
      ].join('\n'),
    );
  });
  after(() => s.api.close());
  const app = ['--app', 'web'];

  it('run sends env, secrets (from a flag or the environment), port and command; --json is the machine', async () => {
    const r = await run(
      ['machines', 'run', '/srv/app', ...app, '--config', config, '--env', 'A=1', '--env', 'B=x=y', '--secret', `S=${SECRET}`, '--secret', 'FROM_ENV', '--port', '3000', '--cmd', `node 'my server.js'`, '--json'],
      { FROM_ENV: 'env-secret-value' },
    );
    assert.equal(r.code, 0, r.stderr);
    const m = JSON.parse(r.stdout) as MachineView;
    assert.deepEqual(m.config.env, { A: '1', B: 'x=y' });
    assert.deepEqual(m.config.secret_names, ['FROM_ENV', 'S']);
    assert.deepEqual(m.config.cmd, ['node', 'my server.js']);
    assert.equal(m.config.internal_port, 3000);
    assert.deepEqual(s.fake.requests.at(-1)?.config.secrets, { S: SECRET, FROM_ENV: 'env-secret-value' });
    assert.ok(!r.stdout.includes(SECRET) && !r.stdout.includes('env-secret-value'));
  });

  it('run waits for the machine to start; a machine that never starts is exit 1 with a hint', async () => {
    let waiting = s.fake.waiting.next();
    const ok = cli(['machines', 'run', 'slow', ...app, '--config', config]);
    await waiting;
    const id = [...s.fake.machines.keys()].at(-1)!;
    s.fake.setState(id, 'started');
    const out = await ok.done;
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, new RegExp(`^machine ${id} started`));
    waiting = s.fake.waiting.next();
    const stuck = cli(['machines', 'run', 'slow', ...app, '--config', config]);
    await waiting;
    s.clock.advance(60_000);
    const failed = await stuck.done;
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /did not start within 60 s/);
    assert.match(failed.stderr, /hint: see why: starling machines logs \w+ --app web/);
  });

  it('list, start, stop and destroy print what happened; refusals are exit 2 with a hint', async () => {
    const m = await s.fake.create('web', { config: { image: '/srv/other' } });
    const text = await run(['machines', 'list', ...app, '--config', config]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`^${m.id}\\s+started\\s+fra\\s+/srv/other\\s+172\\.31\\.0\\.2\\s+1/1 passing`, 'm'));
    const json = await run(['machines', 'ls', ...app, '--config', config, '--json']);
    assert.ok((JSON.parse(json.stdout) as MachineView[]).some((x) => x.id === m.id));
    assert.match((await run(['machines', 'list', '--app', 'empty', '--config', config])).stdout, /no machines here/);
    const stop = await run(['machines', 'stop', m.id, ...app, '--config', config, '--signal', 'term', '--timeout', '3']);
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal(stop.stdout.trim(), `machine ${m.id}: stopped (was started)`);
    assert.equal(s.fake.calls.at(-1), `stop ${m.id} SIGTERM 3000`);
    assert.match((await run(['machines', 'start', m.id, ...app, '--config', config])).stdout, /started \(was stopped\)/);
    const refused = await run(['machines', 'destroy', m.id, ...app, '--config', config]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /409/);
    assert.match(refused.stderr, /--force/);
    const gone = await run(['machines', 'destroy', m.id, ...app, '--config', config, '--force']);
    assert.equal(gone.code, 0, gone.stderr);
    const missing = await run(['machines', 'start', m.id, ...app, '--config', config]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /ERR_MACHINE_NOT_FOUND|has no machine/);
    assert.match(missing.stderr, /^error: the agent answered 404: /m);
    // The hint is chosen by the API's code (ERR_MACHINE_NOT_FOUND): the code reached the CLI.
    assert.match(missing.stderr, /^hint: list the app's machines: starling machines list --app web$/m);
    const noApp = await run(['machines', 'list', '--config', config]);
    assert.equal(noApp.code, 2);
    assert.match(noApp.stderr, /--app APP is required/);
  });

  it('logs prints the tail; --follow prints new lines until interrupted', async () => {
    const m = await s.fake.create('web', { config: { image: '/srv/app' } });
    const tail = await run(['machines', 'logs', m.id, ...app, '--config', config, '--tail', '1']);
    assert.equal(tail.code, 0, tail.stderr);
    assert.match(tail.stdout, /^\S+ stdout line 3\n$/);
    const f = cli(['machines', 'logs', m.id, ...app, '--config', config, '--follow']);
    await f.until(/line 3\n/);
    s.fake.emit('fresh');
    await f.until(/stderr fresh\n/);
    const unfollowed = s.fake.unfollowed.next();
    f.child.kill('SIGINT');
    await unfollowed;
    assert.equal((await f.done).signal, 'SIGINT');
  });
});
