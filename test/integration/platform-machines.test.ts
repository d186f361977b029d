/**
 * The platform Machines API (issue 17, item 8) on a real control plane and two real agents (fra,
 * ams) with sandboxed machines, through the real proxies: create, list and get answer fly's
 * machine objects; a stop through the API is carried out by the machine's host, no proxy routes to
 * the machine, it stays stopped across an agent restart, and a start routes to it again; a
 * cordoned machine keeps running and no proxy (its own host's or another's) routes to it; wait
 * answers when the state is reached and 408 when it is not; a lease makes every change without its
 * nonce a 409; metadata round-trips; another org's token sees and touches nothing. The
 * `starling machines` commands reach it by default.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { send } from '../helpers/origin.js';
import { startPlatform, type Platform } from '../helpers/platform.js';
import { waitFor } from '../helpers/wait.js';

const FIXTURE = new URL('../../../test/fixtures/apps/env-echo/server.mjs', import.meta.url).pathname;
const M = '/v1/apps/web/machines';
let p: Platform;
let fra = '';
let ams = '';

interface Reply {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** A call with the operator's token (or `token`) and, if given, a lease nonce; an empty body is null. */
async function call(method: string, path: string, o: { body?: unknown; token?: string; nonce?: string } = {}): Promise<Reply> {
  const token = o.token ?? readFileSync(p.cliEnv.STARLING_TOKEN_FILE!, 'utf8').trim();
  const res = await p.fetch(p.controlUrl + path, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...(o.nonce ? { 'fly-machine-lease-nonce': o.nonce } : {}) },
    body: o.body === undefined ? null : JSON.stringify(o.body),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? null : JSON.parse(text) };
}

/** The machines that answer `n` requests at a host's proxy (with the request headers given). */
async function answering(host: string, headers: Record<string, string> = {}, n = 8): Promise<Set<string>> {
  const port = p.agents.get(host)!.proxy.address.port;
  const ids = new Set<string>();
  for (let i = 0; i < n; i++) {
    const r = await send(port, 'web.starling.test', { headers }).catch(() => ({ status: 0, body: '' }));
    ids.add(r.status === 200 ? (JSON.parse(r.body) as { machine: string }).machine : `status ${r.status}`);
  }
  return ids;
}
const only = (ids: Set<string>): string => (ids.size === 1 ? [...ids][0]! : [...ids].join(','));
const out = (r: { stdout: string; stderr: string }): string => r.stdout + r.stderr;
const reported = async (id: string): Promise<string> => (await call('GET', `${M}/${id}`)).body.state as string;

before(async () => {
  p = await startPlatform([
    { name: 'a', region: 'fra' },
    { name: 'b', region: 'ams' },
  ], { prefix: 'platform-machines' });
  const appDir = join(p.dir, 'app');
  mkdirSync(appDir);
  copyFileSync(FIXTURE, join(appDir, 'server.mjs'));
  writeFileSync(
    join(appDir, 'starling.toml'),
    `app = "web"\nprimary_region = "fra"\nkill_signal = "SIGTERM"\nkill_timeout = "2s"\n[experimental]\ncmd = ["node", "server.mjs"]\n[env]\nMODE = "release"\n` +
      `[http_service]\ninternal_port = 8080\n[[http_service.checks]]\npath = "/healthz"\ninterval = "1s"\ntimeout = "500ms"\ngrace_period = "0s"\n`,
  );
  assert.equal((await p.cli(['apps', 'create', 'web', '--primary-region', 'fra'])).code, 0);
  const d = await p.cli(['deploy', '--config', join(appDir, 'starling.toml'), '--image', appDir], 180_000);
  assert.equal(d.code, 0, out(d));
  const s = await p.cli(['scale', 'count', '1', '--region', 'fra,ams', '--app', 'web']);
  assert.equal(s.code, 0, out(s));
  await waitFor(async () => ((await call('GET', M)).body.machines as { healthy: boolean }[]).filter((m) => m.healthy).length === 2, 'a healthy machine in each region', 60_000, 100);
  const machines = (await call('GET', M)).body.machines as { id: string; region: string }[];
  fra = machines.find((m) => m.region === 'fra')!.id;
  ams = machines.find((m) => m.region === 'ams')!.id;
  await waitFor(async () => only(await answering('b')) === ams, "host b's proxy routing to its own machine", 20_000, 100);
});

after(async () => {
  await p?.stop();
});

describe('the platform Machines API', { timeout: 600_000 }, () => {
  it("create places a machine of the deployed release by region; list and get answer fly's machine objects; unknown keys are refused by name", async () => {
    const created = await call('POST', M, { body: { region: 'ams', config: { env: { MODE: 'extra' }, guest: { memory_mb: 128 }, metadata: { team: 'core' } } } });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const m = created.body;
    assert.equal(m.region, 'ams');
    assert.equal(m.host, 'host-b', 'the scheduler placed it on the only host in ams');
    assert.equal(m.release, 1);
    assert.equal(m.config.env.MODE, 'extra', 'its env over the release');
    assert.equal(m.config.guest.memory_mb, 128);
    assert.deepEqual(m.config.metadata, { team: 'core' });
    assert.equal(m.desired_state, 'started');
    assert.equal(m.cordoned, false);
    assert.deepEqual(m.config.cmd, ['node', 'server.mjs']);
    // wait: answers once its host has made and started it.
    const w = await call('GET', `${M}/${m.id}/wait?state=started&timeout=60`);
    assert.equal(w.status, 200, JSON.stringify(w.body));
    assert.deepEqual(w.body, { ok: true, state: 'started' });
    assert.equal(p.agents.get('b')!.machines!.get('web', m.id)?.config.env.MODE, 'extra', 'the host runs it with the override');
    const got = (await call('GET', `${M}/${m.id}`)).body;
    for (const key of ['id', 'app', 'region', 'state', 'private_ip', 'image_ref', 'created_at', 'updated_at', 'checks', 'config']) assert.ok(key in got, `fly's ${key}`);
    assert.equal(got.state, 'started');
    const listed = (await call('GET', M)).body.machines as { id: string; config: unknown; host: string }[];
    assert.deepEqual(listed.map((x) => x.id).sort(), [fra, ams, m.id].sort());
    assert.ok(listed.every((x) => typeof x.config === 'object' && x.host.startsWith('host-')));

    const bad = await call('POST', M, { body: { name: 'x', config: { services: [], env: { A: '1' } } } });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error.message, /unknown key "name"/);
    assert.match(bad.body.error.message, /config: unknown key "services"/);
    const image = await call('POST', M, { body: { config: { image: 'docker.io/library/nginx:1' } } });
    assert.equal(image.status, 400);
    assert.equal(image.body.error.code, 'ERR_MACHINE_CONFIG');
    assert.match(image.body.error.message, /config\.image/);
    assert.equal((await call('POST', M, { body: { region: 'nowhere' } })).status, 400);
    assert.equal((await call('POST', M, { body: { region: 'sin' } })).body.error?.code, 'ERR_NO_CAPACITY');
    const moved = await call('POST', `${M}/${m.id}`, { body: { region: 'fra' } });
    assert.equal(moved.status, 400);
    assert.match(moved.body.error.message, /does not move/);

    // Update: its host makes it again with the new config (same id).
    const updated = await call('POST', `${M}/${m.id}`, { body: { config: { env: { MODE: 'updated' } } } });
    assert.equal(updated.status, 200, JSON.stringify(updated.body));
    assert.deepEqual(updated.body.config.metadata, { team: 'core' }, 'metadata kept when the body has none');
    await waitFor(() => p.agents.get('b')!.machines!.get('web', m.id)?.config.env.MODE === 'updated', 'host b to make it again with the new env', 30_000, 100);

    // Destroy, and wait for it to be gone.
    assert.equal((await call('DELETE', `${M}/${m.id}?force=true`)).status, 200);
    const gone = await call('GET', `${M}/${m.id}/wait?state=destroyed&timeout=60`);
    assert.equal(gone.status, 200, JSON.stringify(gone.body));
    assert.equal(p.agents.get('b')!.machines!.get('web', m.id), undefined);
  });

  it('stop: its host stops it and no proxy routes to it, also after its agent restarts; start routes to it again', async () => {
    const stop = await call('POST', `${M}/${ams}/stop`, { body: { signal: 'SIGINT', timeout: '5s' } });
    assert.equal(stop.status, 200, JSON.stringify(stop.body));
    assert.equal(stop.body.previous_state, 'started');
    assert.equal(stop.body.host, 'host-b');
    assert.equal(stop.body.machine.desired_state, 'stopped');
    assert.equal((await call('GET', `${M}/${ams}/wait?state=stopped&timeout=30`)).status, 200);
    assert.equal(p.agents.get('b')!.machines!.get('web', ams)?.state, 'stopped');
    await waitFor(async () => only(await answering('b')) === fra, "host b's proxy to route to fra only", 10_000, 100);
    assert.equal(only(await answering('a', { 'fly-prefer-instance-id': ams })), fra, 'nor does host a route to it');

    // The agent restarts: the machine is made again, stopped, and nobody routes to it.
    const b = await p.restartAgent('b');
    await waitFor(() => b.machines!.get('web', ams) !== undefined, 'the restarted agent to make its placed machine', 30_000, 100);
    await waitFor(async () => only(await answering('b')) === fra, "the restarted host b's proxy serving from fra", 20_000, 100);
    assert.notEqual(b.machines!.get('web', ams)?.state, 'started', 'made again, not started');
    assert.equal(await reported(ams), 'stopped');
    assert.equal(only(await answering('b')), fra);

    const start = await call('POST', `${M}/${ams}/start`);
    assert.equal(start.status, 200, JSON.stringify(start.body));
    assert.equal(start.body.previous_state, 'stopped');
    assert.equal((await call('GET', `${M}/${ams}/wait?state=started&timeout=30`)).status, 200);
    await waitFor(async () => only(await answering('b')) === ams, "host b's proxy to route to its machine again", 20_000, 100);
    await waitFor(async () => only(await answering('a', { 'fly-prefer-instance-id': ams })) === ams, 'host a too', 20_000, 100);
    assert.equal((await call('POST', `${M}/${ams}/start`, { body: { signal: 'SIGTERM' } })).status, 400, 'start takes no stop options');
  });

  it("cordon: the machine keeps running and no proxy routes to it, its own host's nor another's; uncordon routes to it again", async () => {
    const c = await call('POST', `${M}/${ams}/cordon`);
    assert.equal(c.status, 200, JSON.stringify(c.body));
    assert.equal(c.body.cordoned, true);
    await waitFor(async () => only(await answering('b')) === fra, "host b's proxy to leave its own machine out", 10_000, 100);
    await waitFor(async () => only(await answering('a', { 'fly-prefer-instance-id': ams })) === fra, "host a's proxy to leave it out", 10_000, 100);
    assert.equal(p.agents.get('b')!.machines!.get('web', ams)?.state, 'started', 'it keeps running');
    const shown = (await call('GET', `${M}/${ams}`)).body;
    assert.equal(shown.state, 'started');
    assert.equal(shown.cordoned, true);
    const u = await call('POST', `${M}/${ams}/uncordon`);
    assert.equal(u.status, 200);
    assert.equal(u.body.cordoned, false);
    await waitFor(async () => only(await answering('b')) === ams, "host b's proxy to route to it again", 10_000, 100);
    await waitFor(async () => only(await answering('a', { 'fly-prefer-instance-id': ams })) === ams, 'host a too', 10_000, 100);
  });

  it('wait answers as soon as the state is reached, and 408 with a clear error when it is not within the timeout', async () => {
    const now = await call('GET', `${M}/${fra}/wait?state=started&timeout=5`);
    assert.deepEqual([now.status, now.body], [200, { ok: true, state: 'started' }]);
    const late = await call('GET', `${M}/${fra}/wait?state=stopped&timeout=1`);
    assert.equal(late.status, 408);
    assert.equal(late.body.error.code, 'ERR_WAIT_TIMEOUT');
    assert.equal(late.body.error.message, `machine ${fra} did not reach state stopped within 1 s (it is started)`);
    for (const q of ['state=bogus', 'timeout=0', 'timeout=61', 'colour=red']) assert.equal((await call('GET', `${M}/${fra}/wait?${q}`)).status, 400, q);
    assert.equal((await call('GET', `${M}/nosuchmachine/wait`)).body.error.code, 'ERR_MACHINE_NOT_FOUND');
  });

  it("a lease: every change without its nonce is 409, with it goes through; it is extended and released with its nonce", async () => {
    const taken = await call('POST', `${M}/${fra}/lease`, { body: { ttl: 120, description: 'maintenance' } });
    assert.equal(taken.status, 200, JSON.stringify(taken.body));
    const { nonce } = taken.body as { nonce: string };
    assert.match(nonce, /^[0-9a-f]{32}$/);
    assert.equal(taken.body.owner, 'platform');
    assert.equal(taken.body.description, 'maintenance');
    const seen = await call('GET', `${M}/${fra}/lease`);
    assert.deepEqual([seen.body.nonce, seen.body.description], [null, 'maintenance'], 'others never see the nonce');
    const changes: [string, string, unknown?][] = [
      ['POST', `${M}/${fra}/stop`],
      ['POST', `${M}/${fra}/suspend`],
      ['POST', `${M}/${fra}/start`],
      ['POST', `${M}/${fra}/cordon`],
      ['POST', `${M}/${fra}`, {}],
      ['POST', `${M}/${fra}/metadata/k`, { value: 'v' }],
      ['DELETE', `${M}/${fra}/metadata/k`],
      ['DELETE', `${M}/${fra}`],
      ['POST', `${M}/${fra}/lease`],
      ['DELETE', `${M}/${fra}/lease`],
    ];
    for (const [method, path, body] of changes) {
      const r = await call(method, path, { body });
      assert.equal(r.status, 409, `${method} ${path}`);
      assert.equal(r.body.error.code, 'ERR_LEASE_HELD');
      assert.match(r.body.error.message, /leased \("maintenance"\) until .*fly-machine-lease-nonce/);
      assert.equal((await call(method, path, { body, nonce: 'wrong' })).status, 409, `${method} ${path} with another nonce`);
    }
    assert.equal((await call('POST', `${M}/${fra}/cordon`, { nonce })).status, 200);
    assert.equal((await call('POST', `${M}/${fra}/uncordon`, { nonce })).status, 200);
    const extended = await call('POST', `${M}/${fra}/lease`, { body: { ttl: 600 }, nonce });
    assert.equal(extended.body.nonce, nonce);
    assert.ok(extended.body.expires_at > taken.body.expires_at);

    // Through the CLI: the hint names --lease-nonce, which works.
    const refused = await p.cli(['machines', 'cordon', fra, '--app', 'web']);
    assert.equal(refused.code, 2, out(refused));
    assert.match(refused.stderr, /ERR_LEASE_HELD|leased/);
    assert.match(refused.stderr, /--lease-nonce/);
    const shown = await p.cli(['machines', 'lease', 'show', fra, '--app', 'web']);
    assert.match(shown.stdout, new RegExp(`machine ${fra} is leased until .* by platform \\("maintenance"\\)`));
    assert.ok(!shown.stdout.includes(nonce));
    const released = await p.cli(['machines', 'lease', 'release', fra, '--app', 'web', '--lease-nonce', nonce]);
    assert.equal(released.code, 0, out(released));
    assert.equal((await call('GET', `${M}/${fra}/lease`)).body.error.code, 'ERR_LEASE_NOT_FOUND');
    const acquired = await p.cli(['machines', 'lease', 'acquire', fra, '--app', 'web', '--ttl', '60', '--json']);
    assert.equal(acquired.code, 0, out(acquired));
    const again = JSON.parse(acquired.stdout) as { nonce: string };
    assert.equal((await p.cli(['machines', 'cordon', fra, '--app', 'web', '--lease-nonce', again.nonce])).code, 0);
    assert.equal((await p.cli(['machines', 'uncordon', fra, '--app', 'web', '--lease-nonce', again.nonce])).code, 0);
    assert.equal((await call('DELETE', `${M}/${fra}/lease`, { nonce: again.nonce })).status, 200);
  });

  it('metadata: set, read (also in the machine object) and delete one key at a time', async () => {
    const set = await call('POST', `${M}/${fra}/metadata/owner`, { body: { value: 'ops' } });
    assert.deepEqual([set.status, set.body], [204, null]);
    assert.equal((await call('POST', `${M}/${fra}/metadata/tier`, { body: { value: 'gold' } })).status, 204);
    assert.deepEqual((await call('GET', `${M}/${fra}/metadata`)).body, { owner: 'ops', tier: 'gold' });
    assert.deepEqual((await call('GET', `${M}/${fra}`)).body.config.metadata, { owner: 'ops', tier: 'gold' });
    assert.equal((await call('DELETE', `${M}/${fra}/metadata/owner`)).status, 204);
    assert.equal((await call('DELETE', `${M}/${fra}/metadata/owner`)).status, 204, 'a key that is not there: 204 as well');
    assert.deepEqual((await call('GET', `${M}/${fra}/metadata`)).body, { tier: 'gold' });
    assert.equal((await call('POST', `${M}/${fra}/metadata/bad!key`, { body: { value: 'x' } })).status, 400);
    assert.equal((await call('POST', `${M}/${fra}/metadata/k`, { body: { value: 3 } })).status, 400);
    assert.equal((await call('POST', `${M}/${fra}/metadata/k`, { body: { value: 'x', extra: 1 } })).status, 400);
  });

  it("another org's token sees and touches none of the machines (404 as for no app); a read token may look, not change (403)", async () => {
    assert.equal((await call('POST', '/v1/orgs', { body: { name: 'rival' } })).status, 201);
    const token = async (org: string, scope: string): Promise<string> => (await call('POST', '/v1/tokens', { body: { org, scope } })).body.token as string;
    const rival = await token('rival', 'admin');
    const probes: [string, string, unknown?][] = [
      ['GET', M],
      ['POST', M, {}],
      ['GET', `${M}/${fra}`],
      ['POST', `${M}/${fra}`, {}],
      ['DELETE', `${M}/${fra}`],
      ['POST', `${M}/${fra}/stop`],
      ['POST', `${M}/${fra}/cordon`],
      ['GET', `${M}/${fra}/wait?state=started&timeout=1`],
      ['POST', `${M}/${fra}/lease`, {}],
      ['GET', `${M}/${fra}/lease`],
      ['GET', `${M}/${fra}/metadata`],
      ['POST', `${M}/${fra}/metadata/k`, { value: 'v' }],
    ];
    for (const [method, path, body] of probes) {
      const r = await call(method, path, { body, token: rival });
      assert.equal(r.status, 404, `${method} ${path}`);
      assert.equal(r.body.error.code, 'ERR_APP_NOT_FOUND');
    }
    const reader = await token('personal', 'read');
    assert.equal((await call('GET', `${M}/${fra}`, { token: reader })).status, 200);
    assert.equal((await call('GET', `${M}/${fra}/wait?state=started&timeout=1`, { token: reader })).status, 200);
    for (const [method, path, body] of probes.filter(([m]) => m !== 'GET')) {
      const r = await call(method, path, { body, token: reader });
      assert.equal(r.status, 403, `${method} ${path} with a read token`);
    }
    assert.equal(p.agents.get('a')!.machines!.get('web', fra)?.state, 'started', 'nothing happened to it');
  });

  it('the machines commands reach the control plane by default: show, suspend, start, wait, list', async () => {
    const show = await p.cli(['machines', 'show', ams, '--app', 'web', '--json']);
    assert.equal(show.code, 0, out(show));
    const m = JSON.parse(show.stdout) as { id: string; host: string; config: { env: Record<string, string> } };
    assert.deepEqual([m.id, m.host, m.config.env.MODE], [ams, 'host-b', 'release']);
    const text = await p.cli(['machines', 'show', ams, '--app', 'web']);
    assert.match(text.stdout, /desired\s+started/);
    assert.match(text.stdout, /host\s+host-b/);

    const suspend = await p.cli(['machines', 'suspend', ams, '--app', 'web']);
    assert.equal(suspend.code, 0, out(suspend));
    assert.match(suspend.stdout, new RegExp(`machine ${ams} on host-b: suspended \\(was started\\)`));
    assert.equal(p.agents.get('b')!.machines!.get('web', ams)?.state, 'stopped', 'a suspend is a stop here');
    const late = await p.cli(['machines', 'wait', ams, '--app', 'web', '--state', 'started', '--timeout', '1']);
    assert.equal(late.code, 1, out(late));
    assert.match(late.stderr, /did not reach state started within 1 s \(it is stopped\)/);

    const start = await p.cli(['machines', 'start', ams, '--app', 'web']);
    assert.equal(start.code, 0, out(start));
    assert.match(start.stdout, new RegExp(`machine ${ams} on host-b: started \\(was stopped\\)`));
    const wait = await p.cli(['machines', 'wait', ams, '--app', 'web', '--state', 'started']);
    assert.equal(wait.code, 0, out(wait));
    assert.equal(wait.stdout.trim(), `machine ${ams} is started`);
    assert.equal((await p.cli(['machines', 'cordon', ams, '--app', 'web'])).code, 0);
    const list = await p.cli(['machines', 'list', '--app', 'web']);
    assert.match(list.stdout, new RegExp(`${ams}\\s+app\\s+ams\\s+host-b\\s+v1\\s+started \\(cordoned\\)`));
    assert.equal((await p.cli(['machines', 'uncordon', ams, '--app', 'web'])).code, 0);
    const bad = await p.cli(['machines', 'suspend', ams, '--app', 'web', '--local']);
    assert.equal(bad.code, 2, 'suspend has no --local');
  });
});
