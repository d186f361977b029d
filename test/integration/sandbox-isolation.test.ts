/**
 * A machine is not its host's root. Regression for what a user reproduced: the app ran as host uid
 * 0 (uid_map `0 0 4294967295`), without seccomp, and rewrote /proc/sys/kernel/core_pattern. Now each
 * machine has a user namespace mapped to its app's host uid block, runs as uid 1000 inside, under
 * seccomp, with /proc/sys read-only and no /sys. Needs root, bubblewrap, nftables and util-linux.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SandboxDriver, type DriverMachine, type SandboxTraces } from '../../src/runtime/index.js';
import { processesInNetns } from '../../src/runtime/drivers/sandbox-proc.js';
import { DEFAULT_UID_BASE } from '../../src/runtime/drivers/sandbox-userns.js';
import { Logger, SystemClock, isStarlingError } from '../../src/shared/index.js';
import { getJson } from '../conformance/runtime-driver.js';
import { execIn, probeImage, probeSpec, runProbe } from '../helpers/probe-app.js';
import { waitFor } from '../helpers/wait.js';

if (process.getuid?.() !== 0) throw new Error('sandbox isolation tests: run as root (they create user and network namespaces)');

const LINK_PREFIX = 'stis';
const cidr = (): string => `172.31.${10 + Math.floor(Math.random() * 240)}.0/24`;
const CHILD = fileURLToPath(new URL('../helpers/sandbox-child.js', import.meta.url));
const statusField = (status: string, field: string): string | undefined => new RegExp(`^${field}:[ \\t]*(.*)$`, 'm').exec(status)?.[1]?.trim();

/** Runs the driver helper (sandbox-child.ts) in `argv` (a prefix such as unshare), returns its JSON line. */
function child(prefix: string[], job: object): Promise<Record<string, unknown>> {
  const [cmd = '', ...args] = [...prefix, process.execPath, CHILD];
  const p = spawn(cmd, args, { env: { ...process.env, STARLING_SANDBOX_CHILD: JSON.stringify(job) }, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  return new Promise((resolve, reject) => {
    p.on('error', reject);
    p.on('close', () => {
      try {
        resolve(JSON.parse(out.trim().split('\n').at(-1) ?? '') as Record<string, unknown>);
      } catch {
        reject(new Error(`helper printed no JSON: ${out}`));
      }
    });
  });
}

describe('a machine is not the host root', () => {
  const clock = new SystemClock();
  const lines: string[] = [];
  const logger = new Logger({ write: (l: string) => lines.push(l) }, 'debug');
  let workDir: string;
  let image: Awaited<ReturnType<typeof probeImage>>['image'];
  let driver: SandboxDriver;
  let m: DriverMachine;
  let t: SandboxTraces;

  before(async () => {
    ({ workDir, image } = await probeImage('starling-isolation-'));
    driver = new SandboxDriver({ stateDir: join(workDir, 'state'), bridge: { name: LINK_PREFIX, cidr: cidr() }, clock, logger });
    m = await runProbe(driver, probeSpec(image, 'iso-a'));
    t = driver.traces(m)!;
  });

  after(async () => {
    await driver?.close();
    rmSync(workDir, { recursive: true, force: true });
  });

  it("runs in a user namespace mapped to its app's uid block, as uid 1000 (host uid block+1000), with no groups", async () => {
    assert.ok(t.user, 'the machine has host ids');
    assert.equal(t.user.first % 65536, 0);
    assert.ok(t.user.first >= DEFAULT_UID_BASE, `block ${t.user.first} is above the default base`);
    assert.equal((await execIn(m, ['cat', '/proc/self/uid_map'])).stdout.trim().split(/\s+/).join(' '), `0 ${t.user.first} 65536`);
    assert.equal((await execIn(m, ['cat', '/proc/self/gid_map'])).stdout.trim().split(/\s+/).join(' '), `0 ${t.user.first} 65536`);
    assert.equal((await execIn(m, ['id', '-u'])).stdout.trim(), '1000');
    const inside = (await execIn(m, ['cat', '/proc/self/status'])).stdout;
    assert.equal(statusField(inside, 'Groups'), '', 'no supplementary groups (none of the host root)');
    assert.equal(statusField(inside, 'CapEff'), '0000000000000000');
    // From the host: the app's process belongs to host uid first+1000, not 0.
    const [pid] = processesInNetns(`/run/netns/${t.netns}`).filter((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').startsWith('node\0probe.mjs'));
    assert.ok(pid, 'the app process is visible from the host');
    const host = readFileSync(`/proc/${pid}/status`, 'utf8');
    assert.equal(statusField(host, 'Uid'), Array(4).fill(t.user.first + 1000).join('\t'));
    assert.equal(statusField(host, 'Gid'), Array(4).fill(t.user.first + 1000).join('\t'));
    assert.equal(t.user.uid, t.user.first + 1000);
    assert.match(readFileSync(join(t.stateDir, 'passwd'), 'utf8'), /^app:x:1000:1000:app:\/home\/app:/m);
  });

  it('cannot write /proc/sys (core_pattern, overcommit_memory, ip_forward) or sysrq-trigger; /sys is absent', async () => {
    // Each write puts back the value already there: were the lock ever open, the host's
    // settings would still be unchanged, and the exit status shows the write went through.
    for (const f of ['kernel/core_pattern', 'vm/overcommit_memory', 'net/ipv4/ip_forward']) {
      const r = await execIn(m, ['sh', '-c', `v=$(cat /proc/sys/${f}) && printf '%s\\n' "$v" > /proc/sys/${f}`]);
      assert.notEqual(r.status, 0, `wrote /proc/sys/${f}`);
      assert.match(r.stderr, /Read-only file system|Permission denied/, f);
    }
    const mounts = (await execIn(m, ['cat', '/proc/self/mountinfo'])).stdout.split('\n');
    const procSys = mounts.find((l) => l.split(' ')[4] === '/proc/sys');
    assert.ok(procSys, '/proc/sys is a mount of its own');
    assert.match(procSys.split(' ')[5] ?? '', /^ro,/, '/proc/sys is read-only');
    const sysrq = await execIn(m, ['sh', '-c', 'test ! -e /proc/sysrq-trigger || ! test -w /proc/sysrq-trigger']);
    assert.equal(sysrq.status, 0, '/proc/sysrq-trigger is absent or read-only');
    assert.equal((await execIn(m, ['test', '-e', '/sys'])).status, 1, '/sys does not exist inside');
  });

  it('runs under seccomp: new namespaces and mounts are refused', async () => {
    const status = (await execIn(m, ['cat', '/proc/self/status'])).stdout;
    assert.equal(statusField(status, 'Seccomp'), '2', 'a seccomp filter is installed');
    assert.equal(statusField(status, 'NoNewPrivs'), '1');
    const userns = await execIn(m, ['unshare', '-U', 'true']);
    assert.notEqual(userns.status, 0, 'unshare -U succeeded');
    assert.match(userns.stderr, /Operation not permitted/);
    // The classic way out: a new user namespace in which the app is root and may mount.
    assert.notEqual((await execIn(m, ['unshare', '-Ur', 'mount', '-t', 'tmpfs', 'x', '/tmp'])).status, 0);
    assert.notEqual((await execIn(m, ['mount', '-t', 'tmpfs', 'x', '/tmp'])).status, 0, 'mount succeeded');
    // Threads and processes still work (node itself, and a child of it).
    assert.equal((await execIn(m, ['node', '-e', "new (require('worker_threads').Worker)('1', { eval: true }).on('exit', (c) => process.exit(c))"])).status, 0);
  });

  it("a volume is the app's own (0700, its host uid); another app's machine cannot use it", async () => {
    const volumes = join(workDir, 'volumes');
    mkdirSync(volumes, { mode: 0o711 });
    chmodSync(volumes, 0o711);
    const vol = join(volumes, 'data');
    mkdirSync(vol, { mode: 0o755 });
    writeFileSync(join(vol, 'before.txt'), 'written by the host');
    const a = await runProbe(driver, probeSpec(image, 'iso-a', { mounts: [{ source: vol, destination: '/data' }] }));
    const owner = driver.traces(a)!.user!;
    const st = statSync(vol);
    assert.deepEqual([st.uid, st.gid, st.mode & 0o777], [owner.uid, owner.gid, 0o700]);
    assert.equal(statSync(join(vol, 'before.txt')).uid, owner.uid, 'its contents were handed over');
    assert.equal((await execIn(a, ['sh', '-c', 'echo kept > /data/new.txt && cat /data/before.txt'])).stdout, 'written by the host');
    assert.equal(statSync(join(vol, 'new.txt')).uid, owner.uid);
    // Another app has another block: its uid cannot even look into the volume.
    const b = await runProbe(driver, probeSpec(image, 'iso-b'));
    const other = driver.traces(b)!.user!;
    assert.notEqual(other.first, owner.first, 'different apps, different uid blocks');
    const asOther = (argv: string[]): string => {
      try {
        return execFileSync('setpriv', [`--reuid=${other.uid}`, `--regid=${other.gid}`, '--clear-groups', ...argv], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      } catch (e) {
        return String((e as { stderr?: string }).stderr);
      }
    };
    assert.match(asOther(['cat', join(vol, 'new.txt')]), /Permission denied/);
    await Promise.all([driver.destroy(a), driver.destroy(b)]);
  });
});

describe('the sandbox refuses what would make a machine host root', () => {
  const clock = new SystemClock();
  const logger = new Logger({ write: () => true }, 'error');
  let workDir: string;
  let image: Awaited<ReturnType<typeof probeImage>>['image'];

  before(async () => {
    ({ workDir, image } = await probeImage('starling-isolation-refuse-'));
  });
  after(() => rmSync(workDir, { recursive: true, force: true }));

  it("uid 0 inside (host base too) is the app's first host uid, never host root; ids outside the machine's range are refused", async () => {
    const driver = new SandboxDriver({ stateDir: join(workDir, 'uid0'), bridge: { name: LINK_PREFIX, cidr: cidr() }, clock, logger });
    try {
      for (const user of [{ uid: 0, gid: 0 }, { uid: 1000, gid: 0 }, { uid: 0, gid: 1000 }]) {
        const m = await runProbe(driver, probeSpec(image, 'iso-root', { user }));
        const t = driver.traces(m)!;
        assert.ok(t.user);
        assert.equal((await execIn(m, ['sh', '-c', 'id -u; id -g'])).stdout, `${user.uid}\n${user.gid}\n`, JSON.stringify(user));
        const [pid] = processesInNetns(`/run/netns/${t.netns}`).filter((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').startsWith('node\0probe.mjs'));
        assert.ok(pid);
        const host = readFileSync(`/proc/${pid}/status`, 'utf8');
        assert.equal(statusField(host, 'Uid'), Array(4).fill(t.user.first + user.uid).join('\t'), 'host uid of the block, not 0');
        assert.equal(statusField(host, 'Gid'), Array(4).fill(t.user.first + user.gid).join('\t'));
        assert.equal(statusField(host, 'CapEff'), '0000000000000000');
        await driver.destroy(m);
      }
      for (const user of [{ uid: 65534, gid: 1000 }, { uid: 1000, gid: -1 }, { uid: 70000, gid: 1000 }]) {
        await assert.rejects(driver.prepare(probeSpec(image, 'iso-root', { user })), (e: unknown) => isStarlingError(e, 'ERR_MACHINE_SPEC') && /must be from 0 to 65533/.test(e.message));
      }
    } finally {
      await driver.close();
    }
  });

  it('a state dir below a directory others cannot pass through is refused at once, naming it and the chmod', () => {
    const closed = mkdtempSync(join(workDir, 'closed-')); // 0700, as mkdtemp makes it
    assert.throws(
      () => new SandboxDriver({ stateDir: join(closed, 'state'), bridge: { name: LINK_PREFIX, cidr: cidr() }, clock, logger }),
      (e: unknown) => isStarlingError(e, 'ERR_SANDBOX_PATH') && e.message.includes(`${closed} is mode 0700`) && e.hint === `chmod o+x ${closed} (lets others pass through, not list it), or keep the machines' data_dir elsewhere`,
    );
  });

  // The non-root lab runs its agents inside `unshare -Urnm` (one uid mapped): no range to map there.
  const holder = ['unshare', '-Urnm', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs tmpfs /run/netns && exec "$@"', 'sh'];

  it('where no user namespace can be mapped, machines are refused, naming allow_host_root', async () => {
    mkdirSync('/run/netns', { recursive: true });
    const r = await child(holder, { mode: 'refuse', stateDir: join(workDir, 'holder-refuse'), cidr: cidr(), linkPrefix: LINK_PREFIX, image });
    assert.equal(r.code, 'ERR_SANDBOX_NO_USERNS', JSON.stringify(r));
    assert.match(String(r.message), /writing its uid\/gid map failed/);
    assert.match(String(r.hint), /\[runtime\] allow_host_root = true/);
  });

  it('with allow_host_root there, it runs as that uid 0 — still under seccomp — and warns at the start', async () => {
    const r = await child(holder, { mode: 'run', stateDir: join(workDir, 'holder-run'), cidr: cidr(), linkPrefix: LINK_PREFIX, image, allowHostRoot: true });
    assert.equal(r.error, undefined, String(r.error));
    assert.equal(r.uidMap, '0 0 1', "the holder's own single mapping: no namespace of the machine's");
    assert.equal(r.uid, '0');
    assert.equal(r.seccomp, '2');
    assert.notEqual(r.unshare, 0);
    assert.ok(Number(r.hostRootWarnings) >= 1, 'a loud warning at the start');
  });

  it("a killed driver's machines die with it; the next driver on its state dir removes what they left", async () => {
    const stateDir = join(workDir, 'orphans');
    const job = { mode: 'orphan', stateDir, cidr: cidr(), linkPrefix: LINK_PREFIX, image };
    const [cmd = '', ...args] = [process.execPath, CHILD];
    const p = spawn(cmd, args, { env: { ...process.env, STARLING_SANDBOX_CHILD: JSON.stringify(job) }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    await waitFor(() => out.includes('\n'), 'the orphan helper to start its machine', 20_000);
    const info = JSON.parse(out) as { address: string; netns: string };
    const pids = processesInNetns(`/run/netns/${info.netns}`);
    assert.ok(pids.length >= 2, 'the machine runs');
    const starts = new Map(pids.map((pid) => [pid, startTime(pid)]));
    p.kill('SIGKILL');
    await new Promise((resolve) => p.once('close', resolve));
    // No driver runs now: the watchdog the dead one left killed its machine.
    const alive = (): number[] => [...starts].filter(([pid, start]) => startTime(pid) === start && !/^State:\s+Z/m.test(procStatus(pid))).map(([pid]) => pid);
    await waitFor(() => alive().length === 0, `the killed driver's machine to die with it (left: ${alive().join(' ')})`, 10_000);
    await assert.rejects(getJson(info.address, '/', 8080, 500));
    const heir = new SandboxDriver({ stateDir, bridge: { name: LINK_PREFIX, cidr: cidr() }, clock, logger });
    assert.equal((await heir.cleanupOrphans()).length, 1, 'its namespace, links and table are removed by the next driver');
    await heir.close();
  });
});

function procStatus(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return '';
  }
}

/** Field 22 of /proc/<pid>/stat (start time), or undefined when the process is gone. */
function startTime(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[19];
  } catch {
    return undefined;
  }
}
