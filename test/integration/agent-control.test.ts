/**
 * Agents following a real control plane (in-process, SqliteStore in a temp dir): two agents with
 * real sandboxed machines (bubblewrap) and real BIRD (peers that never answer; the announcer is not
 * under test), a real image (.tar.gz of a Node app) uploaded to the control plane, and machine
 * placements written straight into the store, as the scheduler would.
 *
 * Both agents make their placed machines and report their states; A's proxy serves an app from its
 * own machine and forwards another app, whose only machine is on B, to B's proxy; a removed
 * placement destroys its machine; a machine that cannot be made is reported failed without holding
 * up the others; secrets reach the app's environment and nothing else; with the control plane
 * down, A serves from its cache, also after a restart, and reconciles once it is back. Last, a
 * deploy through the control plane's API (its deploy runner places the machines) end to end.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hostPort, parseAgentConfig, startAgent, type AgentConfig, type RunningAgent } from '../../src/agent/index.js';
import { SqliteStore, startControlPlane, type ControlPlane } from '../../src/control/index.js';
import { type MachineDoc, type MachineStateDoc, type ReleaseDoc } from '../../src/contract/index.js';
import { SandboxDriver } from '../../src/runtime/index.js';
import { Logger, SystemClock } from '../../src/shared/index.js';
import { closedPort, send } from '../helpers/origin.js';
import { writeJoinToken } from '../helpers/hosts.js';
import { waitFor } from '../helpers/wait.js';

const USER_TOKEN = 'user-token-0123456789abcdef0123';
const SECRET = 'sekret-Value-7f3a9c-never-logged';
const KEY = Buffer.alloc(32, 7);
const APP_DIR = new URL('../../../test/fixtures/apps/env-echo', import.meta.url).pathname;

const dir = mkdtempSync(join(tmpdir(), 'starling-agent-control-'));
chmodSync(dir, 0o711); // machines run as unprivileged uids: they must pass through to the data dirs
const clock = new SystemClock();
const lines: string[] = [];
const logger = new Logger(
  {
    write: (l: string) => {
      lines.push(l);
      if (process.env.AGENT_CONTROL_DEBUG) process.stderr.write(l);
    },
  },
  'debug',
);

let store: SqliteStore;
let cp: ControlPlane | undefined;
let cpPort = 0;
const drivers: SandboxDriver[] = [];
const agents = new Map<string, RunningAgent>();
const configs = new Map<string, AgentConfig>();

async function startCp(): Promise<void> {
  cp = await startControlPlane({
    listen: { host: '127.0.0.1', port: cpPort },
    store,
    tokens: [USER_TOKEN],
    imagesDir: join(dir, 'control', 'images'),
    secretsKey: KEY,
    clock,
    logger: logger.child({ component: 'control-plane' }),
  });
  cpPort = cp.address.port;
}

async function api(method: string, path: string, body?: unknown, raw?: Buffer): Promise<{ status: number; body: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const res = await fetch(`http://127.0.0.1:${cpPort}${path}`, {
    method,
    headers: { authorization: `Bearer ${USER_TOKEN}`, 'content-type': raw ? 'application/gzip' : 'application/json' },
    body: raw ?? (body === undefined ? null : JSON.stringify(body)),
  });
  return { status: res.status, body: await res.json() };
}

async function agentConfig(name: string, region: string, net: string): Promise<AgentConfig> {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'routes.json'), '{ "apps": [] }\n');
  const [proxy, admin, api] = [await closedPort(), await closedPort(), await closedPort()];
  const text = `
[agent]
region = "${region}"
state_dir = "${join(d, 'state')}"
admin_listen = "127.0.0.1:${api}"
[proxy]
listen = "127.0.0.1:${proxy}"
routes = "${join(d, 'routes.json')}"
admin = "127.0.0.1:${admin}"
[bgp]
asn = 65010
router_id = "192.0.2.1${name === 'a' ? 1 : 2}"
prefixes = ["198.51.100.0/24"]
[[bgp.peers]]
name = "up1"
address = "192.0.2.1"
asn = 65001
[runtime]
bridge = "stc${name}"
network = "${net}"
[control]
url = "http://127.0.0.1:${cpPort}"
join_token_file = "${join(dir, `${name}.join`)}"
host_id = "host-${name}"
`;
  return parseAgentConfig(text, `${name}/agent.toml`);
}

async function startHost(name: string): Promise<RunningAgent> {
  const config = configs.get(name)!;
  const driver = new SandboxDriver({
    stateDir: config.runtime.data_dir,
    bridge: { name: config.runtime.bridge, cidr: config.runtime.network },
    publicPorts: [hostPort(config.proxy.listen, 'proxy.listen').port],
    traversable: [config.agent.state_dir],
    clock,
    logger: logger.child({ component: 'sandbox', host: name }),
  });
  drivers.push(driver);
  const agent = await startAgent(config, { logger: logger.child({ host: name }), clock, driver, controlPollTimeoutS: 5 });
  agents.set(name, agent);
  return agent;
}

const agent = (name: string): RunningAgent => agents.get(name)!;
const proxyPort = (name: string): number => agent(name).proxy.address.port;
const get = (name: string, app: string, path = '/'): ReturnType<typeof send> =>
  send(proxyPort(name), `${app}.starling.test`, { path }).catch(() => ({ status: 0, body: '', headers: {} }));
const stateOf = async (app: string, id: string): Promise<MachineStateDoc | undefined> => (await store.get('machine_states', `${app}.${id}`))?.value as MachineStateDoc | undefined;
const healthy = async (app: string, id: string): Promise<boolean> => {
  const s = await stateOf(app, id);
  return s?.state === 'started' && s.healthy;
};

async function place(app: string, id: string, host: string, region: string, release = 1): Promise<void> {
  const doc: MachineDoc = { id, app, region, host, release, deploy: null, created_at: new Date().toISOString() };
  await store.put('machines', `${app}.${id}`, doc);
}

async function deployApp(name: string, config: Record<string, unknown>, digest: string): Promise<void> {
  assert.equal((await api('POST', '/v1/apps', { name, primary_region: 'fra' })).status, 201);
  const rel = await api('POST', `/v1/apps/${name}/releases`, { config, image: { ref: 'env-echo', digest } });
  assert.equal(rel.status, 201, JSON.stringify(rel.body));
  // What a successful deploy records (the deploy runner is not under test here).
  const app = await store.get('apps', name);
  await store.put('apps', name, { ...(app?.value as object), deployed_release: rel.body.version });
}

const appConfig = (name: string) => ({
  app: name,
  primary_region: 'fra',
  kill_signal: 'SIGTERM',
  kill_timeout: '2s',
  env: { GREETING: 'hello from the release' },
  experimental: { cmd: ['node', 'server.mjs'] },
  http_service: { internal_port: 8080, checks: [{ path: '/healthz', interval: '1s', timeout: '500ms', grace_period: '0s' }] },
});

before(async () => {
  mkdirSync(join(dir, 'control'), { recursive: true });
  store = new SqliteStore({ path: join(dir, 'control', 'state.db') });
  await startCp();
  const tarball = join(dir, 'app.tar.gz');
  execFileSync('tar', ['-czf', tarball, '-C', APP_DIR, '.']);
  const bytes = readFileSync(tarball);
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  assert.equal((await api('PUT', `/v1/images/${digest}`, undefined, bytes)).status, 201);

  await deployApp('alpha', appConfig('alpha'), digest);
  assert.equal((await api('PUT', '/v1/apps/alpha/secrets', { API_SECRET: SECRET })).status, 200);
  await deployApp('beta', appConfig('beta'), digest);
  // An image the control plane does not hold: its machine cannot be made.
  await deployApp('gamma', appConfig('gamma'), `sha256:${'0'.repeat(64)}`);

  configs.set('a', await agentConfig('a', 'fra', '172.28.10.0/24'));
  configs.set('b', await agentConfig('b', 'ams', '172.28.11.0/24'));
  // The operator adds each host; its agent joins with the token at its first start.
  for (const [name, region] of [['a', 'fra'], ['b', 'ams']] as const) await writeJoinToken(`http://127.0.0.1:${cpPort}`, USER_TOKEN, `host-${name}`, region, join(dir, `${name}.join`));
  await place('alpha', 'a1', 'host-a', 'fra');
  await place('beta', 'b1', 'host-b', 'ams');
  await Promise.all([startHost('a'), startHost('b')]);
});

after(async () => {
  for (const a of agents.values()) await a.stop().catch(() => undefined);
  for (const d of drivers) await d.close().catch(() => undefined);
  await cp?.close();
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('agents reconcile the control plane machines and route from its view', { timeout: 180_000 }, () => {
  it('both agents make their placed machines, with the control plane ids, and report them healthy', async () => {
    await waitFor(() => healthy('alpha', 'a1'), 'alpha/a1 reported healthy', 30_000, 50);
    await waitFor(() => healthy('beta', 'b1'), 'beta/b1 reported healthy', 30_000, 50);
    assert.equal(agent('a').machines?.get('alpha', 'a1')?.state, 'started');
    assert.equal(agent('b').machines?.get('beta', 'b1')?.state, 'started');
    assert.deepEqual(agent('a').machines?.apps(), ['alpha']);
    const s = await stateOf('alpha', 'a1');
    assert.deepEqual([s?.host, s?.region, s?.release], ['host-a', 'fra', 1]);
    const hosts = (await api('GET', '/v1/hosts')).body.hosts as { id: string; proxy?: string; agent_url: string }[];
    assert.deepEqual(hosts.map((h) => [h.id, h.proxy]).sort(), [
      ['host-a', `127.0.0.1:${proxyPort('a')}`],
      ['host-b', `127.0.0.1:${proxyPort('b')}`],
    ]);
    assert.equal(hosts.find((h) => h.id === 'host-a')?.agent_url, `http://127.0.0.1:${agent('a').adminAddress.port}`);
  });

  it("A's proxy serves an app from A's machine, and forwards an app whose only machine is on B to B's proxy", async () => {
    await waitFor(async () => (await get('a', 'alpha')).status === 200, 'alpha through A', 10_000);
    assert.deepEqual(JSON.parse((await get('a', 'alpha')).body), { machine: 'a1', region: 'fra', app: 'alpha' });
    await waitFor(async () => (await get('a', 'beta')).status === 200, 'beta through A', 10_000);
    const beta = await get('a', 'beta');
    assert.deepEqual(JSON.parse(beta.body), { machine: 'b1', region: 'ams', app: 'beta' });
    assert.equal(String(beta.headers.via).match(/starling/g)?.length, 2, `two proxies on the way: ${String(beta.headers.via)}`);
    assert.equal((await send(proxyPort('a'), 'nope.starling.test')).status, 404);
  });

  it("secrets reach the app's environment, and never the logs, the machine logs or the cache", async () => {
    assert.equal(JSON.parse((await get('a', 'alpha', '/env?name=API_SECRET')).body).value, SECRET);
    assert.equal(JSON.parse((await get('a', 'alpha', '/env?name=GREETING')).body).value, 'hello from the release');
    assert.equal(JSON.parse((await get('a', 'beta', '/env?name=API_SECRET')).body).value, null, "another app's secret");
    assert.ok(lines.length > 0);
    assert.ok(!lines.join('').includes(SECRET), 'a secret in the agent logs');
    const machineLogs = agent('a').machines!.logs('alpha', 'a1', {}).entries.map((e) => e.message).join('\n');
    assert.match(machineLogs, /listening on 8080/);
    assert.ok(!machineLogs.includes(SECRET));
    for (const n of ['a', 'b']) assert.ok(!readFileSync(configs.get(n)!.control!.cache_file, 'utf8').includes(SECRET), `secret in ${n}'s cache`);
  });

  it('a removed placement destroys its machine; a machine that cannot be made is reported failed and blocks nothing; local machines are left alone', async () => {
    const local = await agent('a').machines!.create('localapp', { config: { image: APP_DIR, cmd: ['node', 'server.mjs'] } });
    await place('gamma', 'g1', 'host-a', 'fra');
    await place('alpha', 'a2', 'host-a', 'fra');
    await waitFor(async () => (await stateOf('gamma', 'g1'))?.state === 'failed', 'gamma/g1 reported failed', 15_000, 50);
    await waitFor(() => healthy('alpha', 'a2'), 'alpha/a2 healthy despite gamma', 30_000, 50);
    assert.match(lines.filter((l) => l.includes('"g1"')).join(''), /ERR_IMAGE_NOT_FOUND/);
    assert.equal(agent('a').machines?.get('gamma', 'g1'), undefined);

    await store.delete('machines', 'alpha.a2');
    await store.delete('machines', 'gamma.g1');
    await waitFor(() => agent('a').machines?.get('alpha', 'a2') === undefined, 'alpha/a2 destroyed', 15_000, 50);
    await waitFor(async () => (await stateOf('alpha', 'a2')) === undefined && (await stateOf('gamma', 'g1')) === undefined, 'their states removed', 10_000, 50);
    assert.ok(lines.some((l) => l.includes('"stopping machine"') && l.includes('"SIGTERM"')), "stopped with the release's kill_signal");
    assert.equal(agent('a').machines?.get('localapp', local.id)?.state, 'started', 'the local machine was left alone');
    await agent('a').machines!.destroy('localapp', local.id, { force: true });
    for (let i = 0; i < 5; i++) assert.equal(JSON.parse((await get('a', 'alpha')).body).machine, 'a1');
  });

  it("with the control plane down, A's proxy serves both apps from its cached view", async () => {
    await cp!.close();
    cp = undefined;
    await waitFor(() => !agent('a').control!.sync.status().connected, 'A to notice', 15_000, 50);
    for (let i = 0; i < 3; i++) {
      assert.equal(JSON.parse((await get('a', 'alpha')).body).machine, 'a1');
      assert.equal(JSON.parse((await get('a', 'beta')).body).machine, 'b1');
    }
  });

  it('A restarted while the control plane is down serves from its cache at once, and reconciles once it is back', async () => {
    await agent('a').stop();
    await drivers.find((d) => (d as unknown as { opts: { stateDir: string } }).opts.stateDir === configs.get('a')!.runtime.data_dir)?.close();
    const restarted = await startHost('a');
    assert.equal(restarted.control!.sync.status().connected, false);
    // beta's machine is on B: served from the cached view at once.
    const beta = await get('a', 'beta');
    assert.equal(beta.status, 200, beta.body);
    assert.equal(JSON.parse(beta.body).machine, 'b1');
    // alpha's machine needs its secrets from the control plane: it waits for it.
    await waitFor(() => restarted.control!.reconciler!.placed().some((p) => p.lastError?.code === 'ERR_CONTROL_UNREACHABLE'), 'a1 waiting for the control plane', 10_000, 50);
    assert.equal(restarted.machines?.get('alpha', 'a1'), undefined);

    await startCp();
    await waitFor(() => restarted.machines?.get('alpha', 'a1')?.checks.passing === true, 'a1 made again', 30_000, 50);
    await waitFor(async () => (await get('a', 'alpha')).status === 200, 'alpha through A again', 10_000);
    assert.equal(JSON.parse((await get('a', 'alpha')).body).machine, 'a1');
    assert.equal(JSON.parse((await get('a', 'alpha', '/env?name=API_SECRET')).body).value, SECRET);
    await waitFor(() => healthy('alpha', 'a1'), 'a1 reported healthy again', 15_000, 50);
    const downloads = lines.filter((l) => l.includes('"image downloaded"') && l.includes('"host":"a"'));
    assert.equal(downloads.length, 1, 'the restarted agent reused the image it had downloaded');
    assert.ok(!lines.join('').includes(SECRET), 'a secret in the agent logs');
  });

  it("a deploy through the control plane's API: the agents run what it places, it succeeds on their reports, B forwards to A", async () => {
    const digest = ((await store.get('releases', 'alpha.00000001'))?.value as ReleaseDoc).image.digest;
    const deploy = async (greeting: string): Promise<void> => {
      assert.equal((await api('POST', '/v1/apps/delta/releases', { config: { ...appConfig('delta'), env: { GREETING: greeting } }, image: { ref: 'env-echo', digest } })).status, 201);
      const started = await api('POST', '/v1/apps/delta/deploys', {});
      assert.equal(started.status, 201, JSON.stringify(started.body));
      const state = async (): Promise<string> => ((await api('GET', '/v1/apps/delta/deploys')).body.deploys as { id: string; state: string }[]).find((d) => d.id === started.body.id)!.state;
      await waitFor(async () => (await state()) !== 'running', `the deploy of ${greeting}`, 60_000, 100);
      assert.equal(await state(), 'succeeded');
    };
    assert.equal((await api('POST', '/v1/apps', { name: 'delta', primary_region: 'fra' })).status, 201);
    await deploy('v1');
    const placed = (await api('GET', '/v1/apps/delta/machines')).body.machines as MachineDoc[];
    assert.deepEqual(placed.map((m) => m.host), ['host-a'], 'the only host in fra');
    await waitFor(async () => (await get('b', 'delta')).status === 200, 'delta through B', 10_000);
    assert.equal(JSON.parse((await get('b', 'delta')).body).machine, placed[0]!.id);
    await deploy('v2');
    await waitFor(async () => JSON.parse((await get('b', 'delta', '/env?name=GREETING')).body || '{}').value === 'v2', 'release 2 through B', 10_000);
    await waitFor(() => agent('a').machines!.list('delta').length === 1, 'the release 1 machine destroyed', 10_000);
  });
});
