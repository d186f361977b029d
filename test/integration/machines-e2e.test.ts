import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { machineControl, mergeMachineRoutes } from '../../src/agent/index.js';
import { MachineManager } from '../../src/runtime/index.js';
import { startStandalone, type RunningProxy } from '../../src/proxy/index.js';
import { SandboxDriver } from '../../src/runtime/index.js';
import { SystemClock, silentLogger } from '../../src/shared/index.js';
import { send } from '../helpers/origin.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Tier 4: real sandboxed machines (bubblewrap, a network namespace each) running a Node app, reached
 * through the real proxy, wired as the agent wires them: the routes file names the app, the
 * machine manager adds this host's machines, autostart goes back to the manager.
 */
const IMAGE = new URL('../../../test/fixtures/apps/hello', import.meta.url).pathname;
const HEALTH = { type: 'http' as const, path: '/healthz', grace_period_ms: 0, interval_ms: 200, timeout_ms: 500 };

describe('machines through the proxy', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'starling-machines-'));
  chmodSync(dir, 0o711); // machines run as unprivileged uids: they must pass through to their images
  const clock = new SystemClock();
  let driver: SandboxDriver;
  let manager: MachineManager;
  let proxy: RunningProxy;
  const ids: string[] = [];

  before(async () => {
    driver = new SandboxDriver({ stateDir: join(dir, 'sandbox'), bridge: { name: 'stt', cidr: '172.30.0.0/24' }, clock, logger: silentLogger });
    manager = new MachineManager({ driver, clock, logger: silentLogger, region: 'fra', dataDir: join(dir, 'data') });
    const routesPath = join(dir, 'routes.json');
    writeFileSync(routesPath, JSON.stringify({ apps: [{ name: 'hello', hostnames: ['hello.test'], machines: [] }] }));
    proxy = await startStandalone({
      routesPath,
      region: 'fra',
      listen: { host: '127.0.0.1', port: 0 },
      admin: undefined,
      accessLog: 'off',
      flyHeaders: true,
      logger: silentLogger,
      clock,
      mergeRoutes: (spec) => mergeMachineRoutes(manager, spec),
      machines: machineControl(manager),
    });
    manager.onChange(() => proxy.refreshRoutes());
  });

  after(async () => {
    await proxy?.stop();
    for (const id of ids) await manager.destroy('hello', id, { force: true }).catch(() => undefined);
    await driver?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const get = (path = '/') => send(proxy.address.port, 'hello.test', { path });

  it('a machine running a real Node app is reached through the proxy once its check passes', async () => {
    const m = await manager.create('hello', {
      config: { image: IMAGE, cmd: ['node', 'server.mjs'], internal_port: 8080, checks: { alive: HEALTH }, secrets: { API_KEY: 'sekret-value-123' } },
    });
    ids.push(m.id);
    await waitFor(() => manager.get('hello', m.id)?.checks.passing === true, 'the machine check to pass', 15_000);
    await waitFor(async () => (await get()).status === 200, 'the proxy to route to the machine', 5000);
    assert.equal(JSON.parse((await get()).body).machine, m.id);
    assert.ok(!JSON.stringify(manager.get('hello', m.id)).includes('sekret-value-123'), 'secrets never in the machine view');
  });

  it('a crashed machine is restarted by its policy and serves again', async () => {
    const id = ids[0]!;
    await get('/crash').catch(() => undefined);
    await waitFor(() => manager.get('hello', id)?.state !== 'started' || manager.get('hello', id)?.checks.passing === false, 'the crash to be seen', 5000);
    await waitFor(async () => (await get().catch(() => ({ status: 0 }))).status === 200, 'the restarted machine to serve', 20_000);
  });

  it('a machine whose check fails gets no traffic', async () => {
    const second = await manager.create('hello', { config: { image: IMAGE, cmd: ['node', 'server.mjs'], checks: { alive: HEALTH } } });
    ids.push(second.id);
    await waitFor(() => manager.get('hello', second.id)?.checks.passing === true, 'the second machine healthy', 15_000);
    const sickId = ids[0]!;
    // Make the first machine sick through its own address (not through the proxy's choice).
    const addr = manager.get('hello', sickId)!.private_ip!;
    await fetch(`http://${addr}:8080/sick`);
    await waitFor(() => manager.get('hello', sickId)?.checks.passing === false, 'the check to fail', 5000);
    for (let i = 0; i < 10; i++) assert.equal(JSON.parse((await get()).body).machine, second.id);
  });

  it('autostart: a request for an app whose machines are all stopped starts one and is answered', async () => {
    for (const id of ids) await manager.stop('hello', id);
    await waitFor(() => ids.every((id) => manager.get('hello', id)?.state === 'stopped'), 'all stopped', 10_000);
    const r = await get();
    assert.equal(r.status, 200, r.body);
    assert.ok(ids.includes(JSON.parse(r.body).machine));
  });
});
