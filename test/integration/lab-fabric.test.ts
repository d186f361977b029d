/**
 * The lab's fabric builder for real: namespaces, veths, addresses and routes made from a FabricSpec,
 * traffic across them, a silenced link, a build that fails midway, teardown of exactly what was
 * recorded, and the same fabric built by an unprivileged user inside a user-namespace holder.
 * Reachability is a TCP connect (no ping on a minimal Debian): it needs every hop and the way back.
 */
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FabricSpec } from '../../src/lab/fabric-types.js';
import { buildFabric, execIn, restoreLink, silenceLink, spawnIn, teardownLab, validateFabricSpec } from '../../src/lab/fabric.js';
import { isRecordedAlive, LabState, listLabs, readLabState, STATE_FILE } from '../../src/lab/lab-state.js';
import { isRoot, runCommand, startUserNamespaceHolder, stopUserNamespaceHolder, userNamespaceCommand } from '../../src/lab/userns.js';
import { isStarlingError } from '../../src/shared/index.js';
import { canMakeNamespaces } from '../helpers/netns.js';
import { waitFor } from '../helpers/wait.js';

const labId = (): string => Array.from(randomBytes(6), (b) => 'abcdefghijklmnopqrstuvwxyz0123456789'[b % 36]).join('');
const netnsList = (): string[] => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0] ?? '').filter(Boolean);
const SERVICE = '203.0.113.1'; // TEST-NET-3, only ever on a loopback inside these namespaces
const PORT = 8080;
const PROBE = `const s = require('node:net').connect({ host: process.argv[1], port: +process.argv[2], timeout: 700 });
s.on('connect', () => process.exit(0)); s.on('timeout', () => process.exit(1)); s.on('error', () => process.exit(1));`;
const SERVER = `require('node:net').createServer((c) => c.on('error', () => {}).end('hi')).listen(+process.argv[1], () => console.log('listening'));`;
const reachable = (from: string): Promise<boolean> =>
  execIn(from, process.execPath, ['-e', PROBE, SERVICE, String(PORT)], { timeoutMs: 5000 }).then(() => true, () => false);

/** client – r1 – r2 – host, the host holding SERVICE on its loopback; static routes both ways. */
function chain(lab: string): FabricSpec {
  const n = (s: string): string => `sl-${lab}-${s}`;
  const end = (ns: string, ifname: string, address: string) => ({ ns: n(ns), ifname, address });
  return {
    lab,
    namespaces: [
      { name: n('c'), loopback: [], forwarding: false, routes: [{ to: 'default', via: '10.10.0.1' }] },
      { name: n('r1'), loopback: [], forwarding: true, routes: [{ to: 'default', via: '10.64.0.2' }] },
      { name: n('r2'), loopback: [], forwarding: true, routes: [{ to: '10.10.0.0/24', via: '10.64.0.1' }, { to: `${SERVICE}/32`, via: '10.64.0.6' }] },
      { name: n('h'), loopback: [`${SERVICE}/32`], forwarding: true, routes: [{ to: 'default', via: '10.64.0.5' }] },
    ],
    links: [
      { a: end('c', 'r1', '10.10.0.2/24'), b: end('r1', 'c', '10.10.0.1/24') },
      { a: end('r1', 'r2', '10.64.0.1/30'), b: end('r2', 'r1', '10.64.0.2/30') },
      { a: end('r2', 'h', '10.64.0.5/30'), b: end('h', 'r2', '10.64.0.6/30') },
    ],
  };
}

/** The default lab's size: 4 transit routers (ring + 2 chords), 8 PoP hosts (2 dual-homed), 4 clients. */
function defaultSized(lab: string): FabricSpec {
  const spec: FabricSpec = { lab, namespaces: [], links: [] };
  let block = 0;
  const link = (a: string, ai: string, b: string, bi: string): { a: string; b: string } => {
    const base = `10.64.${block >> 6}.${(block++ & 63) * 4}`.split('.').map(Number);
    const [x, y] = [`${base.slice(0, 3).join('.')}.${base[3]! + 1}`, `${base.slice(0, 3).join('.')}.${base[3]! + 2}`];
    spec.links.push({ a: { ns: `sl-${lab}-${a}`, ifname: ai, address: `${x}/30` }, b: { ns: `sl-${lab}-${b}`, ifname: bi, address: `${y}/30` } });
    return { a: x, b: y };
  };
  for (let i = 0; i < 4; i++) spec.namespaces.push({ name: `sl-${lab}-t${i}`, loopback: [], forwarding: true, routes: [] });
  for (const [i, j] of [[0, 1], [1, 2], [2, 3], [3, 0], [0, 2], [1, 3]] as const) link(`t${i}`, `t-${j}`, `t${j}`, `t-${i}`);
  for (let h = 0; h < 8; h++) {
    const up = link(`t${h % 4}`, `p-${h}`, `p${h}`, 'up');
    if (h < 2) link(`t${(h + 1) % 4}`, `p-${h}`, `p${h}`, 'up2');
    spec.namespaces.push({ name: `sl-${lab}-p${h}`, loopback: [`${SERVICE}/32`], forwarding: true, routes: [{ to: 'default', via: up.a }] });
  }
  for (let c = 0; c < 4; c++) {
    const up = link(`t${c}`, `c-${c}`, `c${c}`, 'up');
    spec.namespaces.push({ name: `sl-${lab}-c${c}`, loopback: [], forwarding: false, routes: [{ to: 'default', via: up.a }] });
  }
  return spec;
}

const base = mkdtempSync(join(tmpdir(), 'starling-lab-fabric-'));
after(() => rmSync(base, { recursive: true, force: true }));

describe('fabric spec validation', () => {
  it('reports every problem at once and makes nothing', async () => {
    const lab = labId();
    const spec = chain(lab);
    spec.namespaces.push({ name: 'not-ours', loopback: ['203.0.113.1'], forwarding: false, routes: [{ to: '10.1.2.3/24', via: '10.99.0.1' }] });
    spec.links.push(
      { a: { ns: `sl-${lab}-ghost`, ifname: 'interface-name-too-long', address: '10.70.0.1/30' }, b: { ns: `sl-${lab}-h`, ifname: 'r2', address: '10.70.0.300/30' } },
    );
    const problems = validateFabricSpec(spec);
    for (const want of ['"not-ours": must start', 'loopback address "203.0.113.1"', 'has host bits set', 'gateway is on none', '"sl-' + lab + '-ghost" is not declared', 'interface name must be 1-15', 'already used in', '"10.70.0.300/30" is not an IPv4']) {
      assert.ok(problems.some((p) => p.includes(want)), `expected a problem like ${want} in:\n${problems.join('\n')}`);
    }
    const state = LabState.open(join(base, lab), lab);
    await assert.rejects(buildFabric(spec, state), (e) => isStarlingError(e, 'ERR_LAB_SPEC') && problems.every((p) => e.message.includes(p)));
    assert.deepEqual(state.snapshot().namespaces, []);
    assert.ok(!netnsList().some((n) => n.startsWith(`sl-${lab}-`)));
    await teardownLab(join(base, lab));
  });
});

const rootSkip = canMakeNamespaces() ? false : 'needs root (or a user-namespace holder) to make network namespaces';

describe('lab fabric as root', { skip: rootSkip, timeout: 120_000 }, () => {
  const lab = labId();
  const dir = join(base, lab);
  const spec = chain(lab);
  const ns = (s: string): string => `sl-${lab}-${s}`;
  const others: string[] = [];
  let state: LabState;
  let server: ChildProcess;

  before(() => {
    state = LabState.open(dir, lab);
  });
  after(async () => {
    for (const d of [dir, ...others]) await teardownLab(d).catch((e: unknown) => console.error(e));
  });

  it('builds client – router – router – host; the client reaches the host loopback', async () => {
    const steps: string[] = [];
    const report = await buildFabric(spec, state, (s) => steps.push(s));
    assert.deepEqual(report.namespaces, 4);
    assert.ok(steps[0]?.startsWith('namespaces') && steps.includes(`configure ${ns('h')}`), steps.join(', '));
    assert.deepEqual(readLabState(dir)?.namespaces, spec.namespaces.map((n) => n.name));
    assert.equal(statSync(join(dir, STATE_FILE)).mode & 0o777, 0o600);
    assert.equal((await execIn(ns('r1'), 'sysctl', ['-n', 'net.ipv4.ip_forward', 'net.ipv4.conf.all.rp_filter', 'net.ipv4.conf.r2.rp_filter'])).stdout, '1\n0\n0\n');
    assert.equal((await execIn(ns('c'), 'sysctl', ['-n', 'net.ipv4.ip_forward'])).stdout, '0\n');
    server = spawnIn(state, ns('h'), process.execPath, ['-e', SERVER, String(PORT)], { what: 'test server', stdio: ['ignore', 'pipe', 'inherit'] });
    assert.equal(state.snapshot().processes[0]?.pid, server.pid);
    await waitFor(() => reachable(ns('c')), 'the client to reach the host loopback over two routers', 10_000, 50);
    assert.deepEqual(listLabs(base).map((l) => l.lab), [lab]);
  });

  it('silenceLink drops every frame on an up link; restoreLink undoes it', async () => {
    await silenceLink(ns('r1'), 'r2');
    assert.match(execFileSync('ip', ['-n', ns('r1'), 'link', 'show', 'r2'], { encoding: 'utf8' }), /qdisc tbf .*state UP/);
    await waitFor(async () => !(await reachable(ns('c'))), 'the silenced link to stop carrying traffic', 10_000, 50);
    await restoreLink(ns('r1'), 'r2');
    await restoreLink(ns('r1'), 'r2'); // idempotent
    await waitFor(() => reachable(ns('c')), 'traffic to flow again after restoreLink', 10_000, 50);
  });

  it('a build failing at its 3rd link leaves a state from which teardown removes everything', async () => {
    const crash = labId();
    const cdir = join(base, crash);
    others.push(cdir);
    const cspec = chain(crash);
    cspec.links.push({ a: { ns: `sl-${crash}-c`, ifname: 'x1', address: '10.80.0.1/30' }, b: { ns: `sl-${crash}-h`, ifname: 'x2', address: '10.80.0.2/30' } });
    const third = cspec.links[2]!.a;
    // Once the namespaces exist, something else takes the 3rd link's interface name.
    const clash = (step: string): void => {
      if (step.startsWith('links')) execFileSync('ip', ['-n', third.ns, 'link', 'add', 'name', third.ifname, 'type', 'veth', 'peer', 'name', 'clash0']);
    };
    await assert.rejects(buildFabric(cspec, LabState.open(cdir, crash), clash), (e) => {
      assert.ok(isStarlingError(e, 'ERR_LAB_BUILD'));
      assert.match(e.message, /link 3 \(/);
      assert.match(e.message, /File exists/);
      return true;
    });
    const names = cspec.namespaces.map((n) => n.name);
    assert.deepEqual(readLabState(cdir)?.namespaces, names);
    assert.ok(names.every((n) => netnsList().includes(n)));
    const report = await teardownLab(cdir);
    assert.equal(report.namespaces, 4);
    assert.ok(!netnsList().some((n) => n.startsWith(`sl-${crash}-`)));
    assert.equal(readLabState(cdir), undefined);
  });

  it('teardown stops recorded processes, removes the namespaces and recorded dirs, and is idempotent', async () => {
    const stubborn = spawnIn(state, ns('r2'), process.execPath, ['-e', "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000); console.log('ready');"], {
      what: 'ignores SIGTERM',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise((resolve) => stubborn.stdout?.once('data', resolve));
    const scratch = join(base, `${lab}-scratch`);
    state.record('dir', scratch);
    mkdirSync(scratch);
    writeFileSync(join(scratch, 'file'), 'x');
    const recorded = state.snapshot().processes;
    assert.equal(recorded.length, 2);
    const before = netnsList();
    const report = await teardownLab(dir, { stopTimeoutMs: 300 });
    assert.deepEqual({ ...report }, { lab, processes: 2, killed: 1, namespaces: 4, dirs: 2 });
    assert.ok(recorded.every((p) => !isRecordedAlive(p)));
    const removed = before.filter((n) => !netnsList().includes(n));
    assert.deepEqual(removed.filter((n) => n.startsWith(`sl-${lab}-`)).sort(), spec.namespaces.map((n) => n.name).sort());
    assert.ok(!netnsList().some((n) => n.startsWith(`sl-${lab}-`)));
    assert.throws(() => readdirSync(dir), /ENOENT/);
    assert.throws(() => readdirSync(scratch), /ENOENT/);
    assert.deepEqual(await teardownLab(dir), { lab: undefined, processes: 0, killed: 0, namespaces: 0, dirs: 0 });
    assert.equal((await teardownLab(join(base, 'never-was'))).lab, undefined);
    await waitFor(() => server.exitCode !== null || server.signalCode !== null, 'the test server to be reaped');
  });

  it('builds a default-sized fabric (16 namespaces, 20 links) and tears it down', async (t) => {
    const big = labId();
    const bdir = join(base, big);
    others.push(bdir);
    const bspec = defaultSized(big);
    assert.deepEqual([bspec.namespaces.length, bspec.links.length], [16, 20]);
    const report = await buildFabric(bspec, LabState.open(bdir, big));
    const t0 = performance.now();
    const down = await teardownLab(bdir);
    const downMs = Math.round(performance.now() - t0);
    t.diagnostic(`default-sized fabric: build ${report.ms} ms, teardown ${downMs} ms`);
    assert.equal(down.namespaces, 16);
    // The time is reported (diagnostic above), not asserted: how fast is the benchmark's business.
  });
});

/** As root, the holder and every command entering it run as nobody; as a normal user, as that user. */
const AS_USER = isRoot() ? ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups'] : [];
function userSkip(): string | false {
  try {
    const [cmd = 'unshare', ...args] = [...AS_USER, 'unshare', '-Ur', 'true'];
    execFileSync(cmd, args, { stdio: 'ignore' });
    return false;
  } catch {
    return isRoot()
      ? 'cannot run `setpriv --reuid=nobody --regid=nogroup … unshare -Ur`: no user nobody / group nogroup, or unprivileged user namespaces are off'
      : 'cannot run `unshare -Ur`: unprivileged user namespaces are off (user.max_user_namespaces, AppArmor)';
  }
}

describe('lab in a user namespace, unprivileged', { skip: userSkip(), timeout: 60_000 }, () => {
  const hdir = join(base, 'userns');
  after(() => stopUserNamespaceHolder(hdir).catch((e: unknown) => console.error(e)));
  const inside = (argv: string[]): Promise<{ stdout: string }> => runCommand([...AS_USER, ...userNamespaceCommand(holderPid, argv, '/')], { timeoutMs: 20_000 });
  let holderPid = 0;

  it('builds a fabric inside the holder, which a second command sees, and stopping the holder removes it all', async () => {
    const holder = await startUserNamespaceHolder(hdir, { wrapper: AS_USER });
    holderPid = holder.pid;
    const uid = isRoot() ? 65534 : process.getuid?.();
    assert.match(readFileSync(`/proc/${holder.pid}/status`, 'utf8'), new RegExp(`^Uid:\\s+${uid}\\s`, 'm'));
    assert.equal((await startUserNamespaceHolder(hdir, { wrapper: AS_USER })).pid, holder.pid); // idempotent

    const lab = labId();
    const fabric = new URL('../../src/lab/fabric.js', import.meta.url).href;
    const labState = new URL('../../src/lab/lab-state.js', import.meta.url).href;
    const script = `
      import { buildFabric, execIn, silenceLink, restoreLink } from '${fabric}';
      import { LabState } from '${labState}';
      const spec = JSON.parse(process.argv[1]);
      const report = await buildFabric(spec, LabState.open('/run/starling-lab/${lab}', '${lab}'));
      await silenceLink('sl-${lab}-r1', 'r2');
      await restoreLink('sl-${lab}-r1', 'r2');
      const fwd = (await execIn('sl-${lab}-r1', 'sysctl', ['-n', 'net.ipv4.ip_forward'])).stdout.trim();
      console.log(JSON.stringify({ ...report, fwd, uid: process.getuid() }));`;
    const built = JSON.parse((await inside([process.execPath, '--input-type=module', '-e', script, JSON.stringify(chain(lab))])).stdout) as Record<string, unknown>;
    assert.deepEqual({ namespaces: built.namespaces, fwd: built.fwd, uid: built.uid }, { namespaces: 4, fwd: '1', uid: 0 });

    // A second command, entering on its own, sees the same namespaces and reaches across them.
    const listed = (await inside(['ip', 'netns', 'list'])).stdout;
    for (const n of chain(lab).namespaces) assert.match(listed, new RegExp(`^${n.name}( |$)`, 'm'));
    const netns = (await inside(['ip', 'netns', 'exec', `sl-${lab}-h`, 'readlink', '/proc/self/ns/net'])).stdout.trim();
    assert.match(netns, /^net:\[\d+\]$/);
    assert.ok(!netnsList().some((n) => n.startsWith(`sl-${lab}-`)), 'the host does not see the holder namespaces');

    const server = inside(['ip', 'netns', 'exec', `sl-${lab}-h`, process.execPath, '-e', SERVER, String(PORT)]).catch(() => undefined);
    await waitFor(
      () => inside(['ip', 'netns', 'exec', `sl-${lab}-c`, process.execPath, '-e', PROBE, SERVICE, String(PORT)]).then(() => true, () => false),
      'the client to reach the host inside the user namespace',
      10_000,
      50,
    );

    assert.equal(await stopUserNamespaceHolder(hdir), true);
    await server;
    assert.equal(readdirSync('/proc').filter((p) => /^\d+$/.test(p)).some((p) => nsLink(p) === netns), false, 'no process is left in the lab namespaces');
    assert.throws(() => readFileSync(join(hdir, 'userns-holder.json')), /ENOENT/);
    assert.equal(await stopUserNamespaceHolder(hdir), false);
  });
});

function nsLink(pid: string): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return undefined;
  }
}
