/**
 * SandboxDriver: the shared driver conformance suite, plus what only this driver has — honest
 * reporting of limits the host's cgroups could not apply, tarball images, and no namespace, link,
 * rule, firewall table, cgroup or file of ours left once the file is done. Needs root, bubblewrap,
 * iproute2 and nftables. (What a machine may not do: sandbox-isolation and sandbox-firewall.)
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { prepareImage, SandboxDriver, treeDigest, type DriverMachine, type MachineSpec, type RuntimeDriver, type SandboxTraces } from '../../src/runtime/index.js';
import { createMachineCgroups } from '../../src/runtime/drivers/cgroups.js';
import { Logger, SystemClock } from '../../src/shared/index.js';
import { driverConformance, getJson, SERVER_MJS } from '../conformance/runtime-driver.js';
import { canMakeNamespaces, ip } from '../helpers/netns.js';
import { waitFor } from '../helpers/wait.js';

const missing = !existsSync('/usr/bin/bwrap')
  ? 'bubblewrap is not installed (apt-get install bubblewrap)'
  : !existsSync('/usr/sbin/nft')
    ? 'nftables is not installed (apt-get install nftables)'
    : !canMakeNamespaces()
      ? 'cannot create network namespaces (run as root)'
      : undefined;
if (missing) throw new Error(`sandbox driver tests: ${missing}`);

/** Prefix of every host-side link this file's drivers make (see SandboxDriverOptions.bridge.name). */
const LINK_PREFIX = 'stsd';
/** A random /24 of 172.31.0.0/16 per driver: only ever used on links this file creates. */
const cidr = (): string => `172.31.${10 + Math.floor(Math.random() * 240)}.0/24`;

/** What still exists on the host from a machine's traces (independent of the driver's bookkeeping). */
async function leftoversOf(t: SandboxTraces): Promise<string[]> {
  const left: string[] = [];
  if (ip('netns', 'list').split('\n').some((l) => l.split(' ')[0] === t.netns)) left.push(`netns ${t.netns}`);
  if (ip('-o', 'link', 'show').includes(`${t.hostIf}@`)) left.push(`link ${t.hostIf}`);
  if (ip('rule', 'list').includes(`iif ${t.hostIf}`)) left.push(`rule iif ${t.hostIf}`);
  if (ip('-4', 'route', 'show').includes(`dev ${t.hostIf}`)) left.push(`route via ${t.hostIf}`);
  if (nftTables().includes(t.table)) left.push(`nft table inet ${t.table}`);
  for (const d of t.cgroupDirs) if (existsSync(d)) left.push(`cgroup ${d}`);
  if (existsSync(t.stateDir)) left.push(`state ${t.stateDir}`);
  return left;
}

const nftTables = (): string[] =>
  execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.trim().split(' ')[2] ?? '');

/** Every machine any driver of this file prepared, for the final "nothing left" check. */
const allTraces: SandboxTraces[] = [];
const drivers: SandboxDriver[] = [];

driverConformance('SandboxDriver', async ({ logger, clock, workDir }) => {
  const stateDir = join(workDir, 'state');
  const driver = new SandboxDriver({ stateDir, bridge: { name: LINK_PREFIX, cidr: cidr() }, clock, logger });
  drivers.push(driver);
  const seen = new Map<string, SandboxTraces>();
  const recording: RuntimeDriver = {
    name: driver.name,
    prepare: async (s) => {
      const m = await driver.prepare(s);
      const t = driver.traces(m);
      if (t) allTraces.push(t);
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
    leftovers: async (m) => {
      const t = driver.traces(m) ?? seen.get(m.id);
      if (!t) return [];
      seen.set(m.id, t);
      return leftoversOf(t);
    },
    cleanup: () => driver.close(),
  };
});

describe('SandboxDriver on this host', () => {
  const workDir = mkdtempSync(join(tmpdir(), 'starling-sandbox-'));
  chmodSync(workDir, 0o711); // machines run as an unprivileged uid: it must pass through to the images
  const clock = new SystemClock();
  const logger = new Logger({ write: () => true }, 'error');
  let driver: SandboxDriver;
  let seq = 0;

  const spec = (image: MachineSpec['image'], guest: MachineSpec['guest']): MachineSpec => ({
    id: `sd${process.pid.toString(16)}${seq++}`,
    app: 'sandbox-only',
    region: 'ams',
    image,
    cmd: ['node', 'server.mjs'],
    env: {},
    secrets: {},
    internal_port: 8080,
    guest,
    mounts: [],
    restart: { policy: 'never', max_retries: 0 },
    kill_signal: 'SIGTERM',
    kill_timeout_ms: 2000,
    checks: [],
  });

  before(() => {
    driver = new SandboxDriver({ stateDir: join(workDir, 'state'), bridge: { name: LINK_PREFIX, cidr: cidr() }, clock, logger });
    drivers.push(driver);
  });

  after(async () => {
    await driver.close();
    rmSync(workDir, { recursive: true, force: true });
  });

  const run = async (s: MachineSpec): Promise<DriverMachine> => {
    const m = await driver.prepare(s);
    const t = driver.traces(m);
    if (t) allTraces.push(t);
    await driver.start(m, s, { stdout: () => undefined, stderr: () => undefined, exit: () => undefined });
    await waitFor(() => getJson(m.address, '/', 8080, 1000).then(() => true, () => false), `machine ${s.id} answering`, 15_000, 5);
    return m;
  };

  it('reports honestly which limits it could not apply: applied ones are in the cgroup, the rest named', async (t) => {
    const src = join(workDir, 'app');
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, 'server.mjs'), SERVER_MJS);
    const image = await prepareImage(src, join(workDir, 'images'));
    const m = await run(spec(image, { memory_mb: 192, cpus: 0.5, pids: 100, cpu_kind: 'performance' }));
    assert.ok(Array.isArray(m.notApplied));
    for (const entry of m.notApplied) assert.match(entry, /^(memory_mb|cpus|cpu_kind|pids|cgroup): /);
    t.diagnostic(`notApplied on this host: ${JSON.stringify(m.notApplied)}`);
    const traces = driver.traces(m);
    assert.ok(traces);
    const read = (file: string): string | undefined => {
      const dir = traces.cgroupDirs.find((d) => existsSync(join(d, file)));
      return dir && readFileSync(join(dir, file), 'utf8').trim();
    };
    const limits: [string, string | undefined, string][] = [
      ['memory_mb', read('memory.limit_in_bytes') ?? read('memory.max'), String(192 * 1024 * 1024)],
      ['pids', read('pids.max'), '100'],
      ['cpus', read('cpu.cfs_quota_us') ?? read('cpu.max')?.split(' ')[0], '50000'],
      // [[vm]] cpu_kind = "performance": ten times a shared machine's weight.
      ['cpu_kind', read('cpu.weight') ?? (read('cpu.shares') === '10240' ? '1000' : read('cpu.shares')), '1000'],
    ];
    for (const [name, actual, wanted] of limits) {
      const reported = m.notApplied.some((e) => e.startsWith(`${name}: `));
      if (actual === wanted) assert.ok(!reported, `${name} is applied yet reported as not applied`);
      else assert.ok(reported, `${name} is not applied (${actual}) and not reported`);
    }
    // Everything of the machine really is in its groups: the app's pid is listed there.
    for (const d of traces.cgroupDirs) assert.notEqual(readFileSync(join(d, 'cgroup.procs'), 'utf8').trim(), '', `${d} holds the machine`);
    await driver.destroy(m);
  });

  it('on a host without a controller every asked-for limit is named in notApplied (fake layout)', () => {
    const none = createMachineCgroups({ byController: {} }, 'unused', { memory_mb: 64, cpus: 0.5, pids: 10 });
    assert.deepEqual(none.dirs, []);
    assert.deepEqual(
      none.notApplied.map((e) => e.split(':')[0]),
      ['memory_mb', 'pids', 'cpus'],
    );
    assert.deepEqual(createMachineCgroups({ byController: {} }, 'unused', { memory_mb: 0, cpus: 0, pids: 0 }).notApplied, [], 'nothing asked, nothing missing');
  });

  it('a directory image is content-addressed: same tree → same entry; a changed byte or mode → a new one', async () => {
    const src = join(workDir, 'dir-src');
    mkdirSync(join(src, 'lib'), { recursive: true });
    writeFileSync(join(src, 'server.mjs'), SERVER_MJS);
    writeFileSync(join(src, 'lib', 'x.js'), 'export {}\n');
    const cache = join(workDir, 'dir-cache');
    const a = await prepareImage(src, cache);
    assert.equal((await prepareImage(src, cache)).digest, a.digest);
    assert.equal(`sha256:${await treeDigest(a.dir)}`, a.digest, 'the cached copy matches its name');
    writeFileSync(join(src, 'lib', 'x.js'), 'export {};\n');
    const b = await prepareImage(src, cache);
    assert.notEqual(b.digest, a.digest);
    chmodSync(join(src, 'lib', 'x.js'), 0o755);
    const c = await prepareImage(src, cache);
    assert.notEqual(c.digest, b.digest);
    assert.deepEqual(readdirSync(cache).sort(), [a, b, c].map((i) => i.digest.slice(7)).sort(), 'no temp dirs left');
  });

  it('a .tar.gz image is unpacked once, by digest, and runs', async () => {
    const src = join(workDir, 'tar-src');
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, 'server.mjs'), SERVER_MJS);
    const tarball = join(workDir, 'app.tar.gz');
    execFileSync('tar', ['-czf', tarball, '-C', src, '.']);
    const cache = join(workDir, 'tar-cache');
    const image = await prepareImage(tarball, cache);
    assert.match(image.digest, /^sha256:[0-9a-f]{64}$/);
    assert.equal(image.ref, tarball);
    assert.equal((await prepareImage(tarball, cache)).dir, image.dir, 'the second prepare reuses the cache');
    const m = await run(spec(image, { memory_mb: 128, cpus: 1, pids: 64 }));
    assert.equal((await getJson(m.address, '/')).cwd, '/app');
    await driver.destroy(m);
  });

  it("the host's loopback-only services are out of a machine's reach", async () => {
    const server = createServer((c) => c.end('host only\n'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      const image = await prepareImage(join(workDir, 'app'), join(workDir, 'images'));
      const m = await run(spec(image, { memory_mb: 128, cpus: 1, pids: 64 }));
      const t = driver.traces(m);
      assert.ok(t);
      for (const host of ['127.0.0.1', t.hostAddress]) {
        const r = await getJson(m.address, `/connect?host=${host}&port=${port}`);
        assert.equal(r.ok, false, `reached the host's 127.0.0.1:${port} via ${host}`);
      }
      await driver.destroy(m);
    } finally {
      server.close();
    }
  });

  it('a new driver on the same state dir removes what a dead one left (cleanupOrphans)', async () => {
    const stateDir = join(workDir, 'shared-state');
    const dead = new SandboxDriver({ stateDir, bridge: { name: LINK_PREFIX, cidr: cidr() }, clock, logger });
    drivers.push(dead);
    const src = join(workDir, 'app');
    const image = await prepareImage(src, join(workDir, 'images'));
    const s = spec(image, { memory_mb: 64, cpus: 1, pids: 32 });
    const m = await dead.prepare(s);
    const t = dead.traces(m);
    assert.ok(t);
    allTraces.push(t);
    assert.notDeepEqual(await leftoversOf(t), []);
    const heir = new SandboxDriver({ stateDir, bridge: { name: LINK_PREFIX, cidr: cidr() }, clock, logger });
    assert.deepEqual(await heir.cleanupOrphans(), [s.id]);
    assert.deepEqual(await leftoversOf(t), []);
    await dead.destroy(m); // the old handle is now a no-op, not an error
  });

  it('leaves no namespace, link, rule, route, firewall table, cgroup or file of its own on the host', async () => {
    for (const d of drivers) await d.close();
    assert.ok(allTraces.length >= 10, `saw ${allTraces.length} machines`);
    for (const t of allTraces) assert.deepEqual(await leftoversOf(t), [], t.netns);
    const links = ip('-o', 'link', 'show').split('\n').filter((l) => l.includes(`: ${LINK_PREFIX}`));
    assert.deepEqual(links, []);
  });
});
