/**
 * Cold starts, as bench:coldstart measures them (shared with bench:image): one host's machine
 * manager with the sandbox driver and a standalone proxy in this process; an app whose only
 * machine is stopped gets a request, and the time to its first response byte is the proxy's
 * autostart, the sandbox start, the app's own start-up and the first check. Then the machine is
 * started on its own and timed to healthy (and to its "listening" log line, the app's own share).
 * Needs root (namespaces).
 *
 * With `images`, the manager takes `oci:<digest>` images from that host image store and the driver
 * asks it for their root filesystems, as the agent wires them (src/agent/images.ts).
 */
import http from 'node:http';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { machineControl, mergeMachineRoutes } from '../../src/agent/index.js';
import type { HostImages } from '../../src/agent/images.js';
import { startStandalone } from '../../src/proxy/index.js';
import { DEFAULT_UID_BASE, MachineManager, makeDriver, type CreateMachineRequest, type MachineView, type SandboxDriver } from '../../src/runtime/index.js';
import { SystemClock, silentLogger } from '../../src/shared/index.js';

export function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

/** One request, Host `host`, on a new connection: ms to the first byte of a 200's body. */
export function firstByte(port: number, host: string): Promise<number> {
  const t = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/', headers: { host }, agent: false }, (res) => {
      res.once('data', () => resolve(performance.now() - t));
      res.on('error', reject);
      if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
    });
    req.on('error', reject);
    req.end();
  });
}

export interface ColdRig {
  manager: MachineManager;
  proxyPort: number;
  /** manager.create, refused once stop() began (stop waits for those under way, then destroys them). */
  create(app: string, req: CreateMachineRequest): Promise<MachineView>;
  stopped(): boolean;
  stop(): Promise<void>;
}

/** Manager, driver and proxy in `dir` (0711); each app is served at `<app>.test`. */
export async function startColdRig(o: { dir: string; apps: string[]; bridge: { name: string; cidr: string }; images?: HostImages }): Promise<ColdRig> {
  chmodSync(o.dir, 0o711); // machines run as unprivileged uids: they must pass through to their images
  const clock = new SystemClock();
  const images = o.images;
  const driver = makeDriver('sandbox', {
    dataDir: join(o.dir, 'sandbox'),
    bridge: o.bridge.name,
    network: o.bridge.cidr,
    publicPorts: [],
    uidBase: DEFAULT_UID_BASE,
    allowHostRoot: false,
    traversable: [],
    rootfs: images ? (image, uidShift) => images.rootfs(image.digest, uidShift) : undefined,
    clock,
    logger: silentLogger,
  }) as SandboxDriver;
  const manager = new MachineManager({ driver, clock, logger: silentLogger, region: 'fra', dataDir: join(o.dir, 'data'), images });
  writeFileSync(join(o.dir, 'routes.json'), JSON.stringify({ apps: o.apps.map((name) => ({ name, hostnames: [`${name}.test`], machines: [] })) }));
  const proxy = await startStandalone({
    routesPath: join(o.dir, 'routes.json'),
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
  let stopping = false;
  const creating = new Set<Promise<unknown>>();
  return {
    manager,
    proxyPort: proxy.address.port,
    create(app, req) {
      if (stopping) return Promise.reject(new Error('the cold-start rig is stopping'));
      const p = manager.create(app, req);
      creating.add(p);
      void p.catch(() => undefined).finally(() => creating.delete(p));
      return p;
    },
    stopped: () => stopping,
    async stop() {
      stopping = true;
      await Promise.allSettled([...creating]);
      await proxy.stop();
      for (const app of manager.apps()) {
        for (const m of manager.list(app)) await manager.destroy(app, m.id, { force: true }).catch(() => undefined);
      }
      await driver.close();
    },
  };
}

/** Why a cold start failed, with what the machine's events say. */
function machineError(rig: ColdRig, app: string, id: string, e: unknown): Error {
  const m = rig.manager.get(app, id);
  const events = (m?.events ?? []).slice(-3).map((ev) => `${ev.type}: ${ev.message}`).join('; ');
  return new Error(`the first request to ${app} failed (${e instanceof Error ? e.message : String(e)}); its machine is ${m?.state ?? 'gone'}${events ? `, last events: ${events}` : ''}`);
}

export interface ColdSamples {
  /** Request to a stopped machine → first byte. */
  cold: number[];
  /** manager.start → checks passing. */
  healthy: number[];
  /** manager.start → the app's "listening" log line (NaN when it logged none). */
  appStart: number[];
}

/** `runs` cold starts of the (stopped) machine `id` of `app`; `each` hears every run's figures. */
export async function measureColdStarts(rig: ColdRig, app: string, id: string, runs: number, each?: (i: number, cold: number, healthy: number) => void): Promise<ColdSamples> {
  const { manager } = rig;
  const out: ColdSamples = { cold: [], healthy: [], appStart: [] };
  for (let i = 0; i < runs; i++) {
    if (rig.stopped()) throw new Error('the cold-start rig is stopping');
    out.cold.push(await firstByte(rig.proxyPort, `${app}.test`).catch((e: unknown) => Promise.reject(machineError(rig, app, id, e))));
    await manager.stop(app, id);
    // Start → healthy, and the app's own share: spawn to its "listening" line.
    const t = performance.now();
    let listening = NaN;
    const off = manager.followLogs(app, id, (e) => {
      if (e.message.startsWith('listening')) listening = performance.now() - t;
    });
    await manager.start(app, id);
    await manager.waitFor(app, id, 'started', 10_000);
    while (manager.get(app, id)?.checks.passing !== true) await new Promise((r) => setTimeout(r, 1));
    out.healthy.push(performance.now() - t);
    off();
    out.appStart.push(listening);
    await manager.stop(app, id);
    each?.(i, out.cold.at(-1)!, out.healthy.at(-1)!);
  }
  return out;
}
