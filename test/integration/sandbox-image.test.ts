/**
 * SandboxDriver with image-base machines (the image is the machine's own `/`): the shared
 * image-base conformance suite, plus what only this driver has — root inside is the app's first
 * host uid (never host 0), the rootfs option is asked with that uid as the shift, its overlay is a
 * mount below the machine's state dir that destroy and orphan cleanup remove, and a driver without
 * an image store refuses such machines. Needs root, bubblewrap, overlayfs, iproute2 and nftables.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SandboxDriver, type DriverMachine, type MachineSpec, type RuntimeDriver, type SandboxTraces } from '../../src/runtime/index.js';
import { mountsBelow } from '../../src/runtime/drivers/sandbox-rootfs.js';
import { processesInNetns } from '../../src/runtime/drivers/sandbox-proc.js';
import { isStarlingError, Logger, SystemClock } from '../../src/shared/index.js';
import { imageDriverConformance } from '../conformance/runtime-driver-image.js';
import { busyboxRootfs, HTTPD_CMD, runIn } from '../helpers/busybox-rootfs.js';
import { ip } from '../helpers/netns.js';
import { waitFor } from '../helpers/wait.js';

if (process.getuid?.() !== 0) throw new Error('sandbox image tests: run as root (they mount overlayfs and make namespaces)');

const LINK_PREFIX = 'stim';
const cidr = (): string => `172.31.${10 + Math.floor(Math.random() * 240)}.0/24`;

/** What a machine still has on the host: netns, link, mounts and state dir. */
function leftoversOf(t: SandboxTraces): string[] {
  const left: string[] = [];
  if (ip('netns', 'list').split('\n').some((l) => l.split(' ')[0] === t.netns)) left.push(`netns ${t.netns}`);
  if (ip('-o', 'link', 'show').includes(`${t.hostIf}@`)) left.push(`link ${t.hostIf}`);
  left.push(...mountsBelow(t.stateDir).map((m) => `mount ${m}`));
  for (const d of t.cgroupDirs) if (existsSync(d)) left.push(`cgroup ${d}`);
  if (existsSync(t.stateDir)) left.push(`state ${t.stateDir}`);
  return left;
}

imageDriverConformance('SandboxDriver', async ({ logger, clock, workDir, rootfs }) => {
  const stateDir = join(workDir, 'state');
  const driver = new SandboxDriver({ stateDir, rootfs, bridge: { name: LINK_PREFIX, cidr: cidr() }, clock, logger });
  const seen = new Map<string, SandboxTraces>();
  const recording: RuntimeDriver = {
    name: driver.name,
    prepare: async (s) => {
      const m = await driver.prepare(s);
      const t = driver.traces(m);
      if (t) seen.set(m.id, t);
      return m;
    },
    start: (m, s, io) => driver.start(m, s, io),
    stop: (m, signal, ms) => driver.stop(m, signal, ms),
    destroy: (m) => driver.destroy(m),
    exec: (m, s, req) => driver.exec(m, s, req),
  };
  return {
    driver: recording,
    stateDirs: [stateDir],
    leftovers: (m) => {
      const t = seen.get(m.id);
      return Promise.resolve(t ? leftoversOf(t) : []);
    },
    cleanup: () => driver.close(),
  };
});

describe('SandboxDriver image base on this host', () => {
  const clock = new SystemClock();
  const logger = new Logger({ write: () => true }, 'error');
  const workDir = mkdtempSync(join(tmpdir(), 'starling-sandbox-image-'));
  chmodSync(workDir, 0o711);
  const store = busyboxRootfs(join(workDir, 'rootfs'));
  const drivers: SandboxDriver[] = [];
  let seq = 0;
  const newDriver = (stateDir: string, withStore = true): SandboxDriver => {
    const d = new SandboxDriver({ stateDir, rootfs: withStore ? store.rootfs : undefined, bridge: { name: LINK_PREFIX, cidr: cidr() }, clock, logger });
    drivers.push(d);
    return d;
  };
  const spec = (over: Partial<MachineSpec> = {}): MachineSpec => ({
    id: `si${process.pid.toString(16)}${seq++}`,
    app: 'image-only',
    region: 'ams',
    image: { dir: join(workDir, 'none'), digest: `sha256:${'cd'.repeat(32)}`, ref: 'busybox-test:2', base: 'image' },
    cmd: HTTPD_CMD,
    env: {},
    secrets: {},
    internal_port: 8080,
    guest: { memory_mb: 128, cpus: 1, pids: 64 },
    mounts: [],
    restart: { policy: 'never', max_retries: 0 },
    kill_signal: 'SIGTERM',
    kill_timeout_ms: 2000,
    checks: [],
    ...over,
  });
  const run = async (d: SandboxDriver, s: MachineSpec): Promise<DriverMachine> => {
    const m = await d.prepare(s);
    await d.start(m, s, { stdout: () => undefined, stderr: () => undefined, exit: () => undefined });
    await waitFor(() => runIn(m.address, 'true', 8080, 1000).then(() => true, () => false), `machine ${s.id} answering`, 15_000, 10);
    return m;
  };
  let driver: SandboxDriver;

  before(() => {
    driver = newDriver(join(workDir, 'state'));
  });

  after(async () => {
    for (const d of drivers) await d.close();
    rmSync(workDir, { recursive: true, force: true });
  });

  it("root inside is the app's first host uid, never host 0; the rootfs is asked for with that uid as the shift", async () => {
    const s = spec();
    const m = await run(driver, s);
    const t = driver.traces(m)!;
    assert.ok(t.user && t.user.first > 0);
    assert.deepEqual(store.calls.at(-1), [s.image.digest, t.user.first]);
    assert.equal((await runIn(m.address, 'id -u')).out.trim(), '0');
    const httpd = processesInNetns(`/run/netns/${t.netns}`).filter((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').startsWith('httpd\0'));
    assert.ok(httpd.length > 0, 'the app process is visible from the host');
    for (const pid of httpd) {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      assert.match(status, new RegExp(`^Uid:\\t${t.user.first}\\t${t.user.first}\\t${t.user.first}\\t${t.user.first}$`, 'm'), 'host uid first, not 0');
      assert.match(status, new RegExp(`^Gid:\\t${t.user.first}\\t`, 'm'));
    }
    // The overlay is the machine's one mount below its state dir, nosuid and nodev.
    const [root] = mountsBelow(t.stateDir);
    assert.equal(root, join(t.stateDir, 'root'));
    const line = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === root) ?? '';
    assert.match(line, / - overlay overlay /);
    assert.match(line.split(' ')[5] ?? '', /(^|,)nosuid(,|$)/);
    assert.match(line.split(' ')[5] ?? '', /(^|,)nodev(,|$)/);
    await driver.destroy(m);
    assert.deepEqual(leftoversOf(t), []);
  });

  it("the overlay is unmounted as soon as the machine's process exits", async () => {
    const s = spec({ cmd: ['/bin/sh', '-c', 'httpd -p "$PORT" -h /www; while [ ! -e /tmp/quit ]; do sleep 0.05; done'] });
    const m = await run(driver, s);
    const t = driver.traces(m)!;
    assert.equal(mountsBelow(t.stateDir).length, 1);
    await runIn(m.address, 'touch /tmp/quit');
    // Without a stop or destroy: the driver notices the exit by itself.
    await waitFor(() => mountsBelow(t.stateDir).length === 0 && !existsSync(join(t.stateDir, 'upper')), 'the overlay and its writable layer to go with the process', 10_000);
    await driver.destroy(m);
  });

  it("a new driver on the same state dir unmounts and removes a dead driver's image machine (cleanupOrphans)", async () => {
    const stateDir = join(workDir, 'shared-state');
    const dead = newDriver(stateDir);
    const s = spec();
    const m = await run(dead, s);
    const t = dead.traces(m)!;
    assert.equal(mountsBelow(t.stateDir).length, 1);
    const heir = newDriver(stateDir);
    assert.deepEqual(await heir.cleanupOrphans(), [s.id]);
    assert.deepEqual(mountsBelow(stateDir), [], 'no mount is left below the state dir');
    await waitFor(() => leftoversOf(t).length === 0, `the orphan's traces to go (${leftoversOf(t).join(', ')})`, 10_000);
    await dead.destroy(m); // the old handle is now a no-op, not an error
  });

  it('a driver without an image store (rootfs option) refuses image-base machines', async () => {
    const bare = newDriver(join(workDir, 'bare'), false);
    await assert.rejects(bare.prepare(spec()), (e: unknown) => isStarlingError(e, 'ERR_SANDBOX_CONFIG') && /rootfs option/.test(e.message));
  });
});
