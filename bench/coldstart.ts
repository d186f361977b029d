/**
 * npm run bench:coldstart — a request for an app whose only machine is stopped: time to the first
 * response byte (the proxy's autostart, the sandbox start, the app's own start-up, the first check),
 * median and p90 over 20 runs; and machine start → healthy on its own. Needs root (namespaces).
 *
 * The app is test/fixtures/apps/hello (plain node:http). Its own start-up — spawn to "listening" in
 * its log — is reported separately, as the issue asks: most of a Node cold start is Node itself.
 */
import http from 'node:http';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { machineControl, mergeMachineRoutes } from '../src/agent/index.js';
import { MachineManager } from '../src/runtime/index.js';
import { startStandalone } from '../src/proxy/index.js';
import { SandboxDriver } from '../src/runtime/index.js';
import { SystemClock, silentLogger } from '../src/shared/index.js';

const IMAGE = new URL('../../test/fixtures/apps/hello', import.meta.url).pathname;
const runs = (() => {
  const i = process.argv.indexOf('--runs');
  return i >= 0 ? Number(process.argv[i + 1]) : 20;
})();
const json = process.argv.includes('--json');

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

function firstByte(port: number): Promise<number> {
  const t = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/', headers: { host: 'hello.test' }, agent: false }, (res) => {
      res.once('data', () => resolve(performance.now() - t));
      res.on('error', reject);
      if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
    });
    req.on('error', reject);
    req.end();
  });
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'starling-coldstart-'));
  chmodSync(dir, 0o711); // machines run as unprivileged uids: they must pass through to their images
  const clock = new SystemClock();
  const driver = new SandboxDriver({ stateDir: join(dir, 'sandbox'), bridge: { name: 'scb', cidr: '172.27.0.0/24' }, clock, logger: silentLogger });
  const manager = new MachineManager({ driver, clock, logger: silentLogger, region: 'fra', dataDir: join(dir, 'data') });
  writeFileSync(join(dir, 'routes.json'), JSON.stringify({ apps: [{ name: 'hello', hostnames: ['hello.test'], machines: [] }] }));
  const proxy = await startStandalone({
    routesPath: join(dir, 'routes.json'),
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
  const m = await manager.create('hello', { config: { image: IMAGE, cmd: ['node', 'server.mjs'] }, skip_start: true });
  const cold: number[] = [];
  const healthy: number[] = [];
  const appStart: number[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      cold.push(await firstByte(proxy.address.port));
      await manager.stop('hello', m.id);
      // Start → healthy, and the app's own share: spawn to its "listening" line.
      const t = performance.now();
      let listening = NaN;
      const off = manager.followLogs('hello', m.id, (e) => {
        if (e.message.startsWith('listening')) listening = performance.now() - t;
      });
      await manager.start('hello', m.id);
      await manager.waitFor('hello', m.id, 'started', 10_000);
      while (manager.get('hello', m.id)?.checks.passing !== true) await new Promise((r) => setTimeout(r, 1));
      healthy.push(performance.now() - t);
      off();
      appStart.push(listening);
      await manager.stop('hello', m.id);
      if (!json) process.stderr.write(`run ${i + 1}/${runs}: first byte ${cold.at(-1)!.toFixed(1)} ms, start→healthy ${healthy.at(-1)!.toFixed(1)} ms\n`);
    }
    const out = {
      runs,
      cold_first_byte_ms: { median: pct(cold, 50), p90: pct(cold, 90) },
      start_to_healthy_ms: { median: pct(healthy, 50), p90: pct(healthy, 90) },
      app_startup_ms: { median: pct(appStart.filter(Number.isFinite), 50), p90: pct(appStart.filter(Number.isFinite), 90) },
      aim_ms: 100,
    };
    if (json) console.log(JSON.stringify(out));
    else {
      console.log(`\ncold start through the proxy, ${runs} runs (sandbox driver, Node app)`);
      console.log(`request → first byte:  median ${out.cold_first_byte_ms.median.toFixed(1)} ms, p90 ${out.cold_first_byte_ms.p90.toFixed(1)} ms (aim ≤ 100 ms median)`);
      console.log(`machine start → healthy: median ${out.start_to_healthy_ms.median.toFixed(1)} ms, p90 ${out.start_to_healthy_ms.p90.toFixed(1)} ms`);
      console.log(`of which the app's own start-up (spawn → "listening"): median ${out.app_startup_ms.median.toFixed(1)} ms`);
    }
  } finally {
    await proxy.stop();
    await manager.destroy('hello', m.id, { force: true }).catch(() => undefined);
    await driver.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(`bench:coldstart failed: ${(e as Error).message}`);
  process.exit(1);
});
