/**
 * The behaviour every RuntimeDriver shares, proven with a real Node HTTP app. Each driver runs it:
 *   driverConformance('SandboxDriver', async ({ logger, clock, workDir }) => ({ driver: …, leftovers, … }));
 * The suite owns the logger (it captures every line the driver logs) so it can look for secrets.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { prepareImage, type DriverMachine, type ExitInfo, type MachineSpec, type RuntimeDriver } from '../../src/runtime/index.js';
import { Logger, SystemClock, isStarlingError, type Clock } from '../../src/shared/index.js';
import { waitFor } from '../helpers/wait.js';

export interface DriverContext {
  logger: Logger;
  clock: Clock;
  /** A fresh directory for the driver's state; removed after the suite. */
  workDir: string;
}

export interface DriverFixture {
  driver: RuntimeDriver;
  /** Host-side traces of `m` that still exist (namespaces, links, cgroups, files…); [] when none. */
  leftovers(m: DriverMachine): Promise<string[]>;
  /** Directories the driver writes into: no secret may appear in any file below them. */
  stateDirs: string[];
  cleanup(): Promise<void>;
}

const PORT = 8080;
const SECRET = `s3cr3t-${Math.random().toString(36).slice(2)}-value`;

/** The app every driver runs: answers who it is, reads/writes/connects on request, crashes on /crash. */
export const SERVER_MJS = `import http from 'node:http';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
const port = Number(process.env.PORT);
if (process.env.ON_SIGTERM === 'ignore') process.on('SIGTERM', () => console.log('ignoring SIGTERM'));
const json = (res, body) => { res.writeHead(200, { 'content-type': 'application/json', connection: 'close' }); res.end(JSON.stringify(body)); };
const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://machine');
  const q = (k) => url.searchParams.get(k) ?? '';
  if (url.pathname === '/crash') { res.on('finish', () => process.exit(1)); return json(res, { crashing: true }); }
  if (url.pathname === '/read') { try { return json(res, { ok: true, data: fs.readFileSync(q('path'), 'utf8') }); } catch (e) { return json(res, { ok: false, code: e.code }); } }
  if (url.pathname === '/write') { try { fs.writeFileSync(q('path'), q('data')); return json(res, { ok: true }); } catch (e) { return json(res, { ok: false, code: e.code }); } }
  if (url.pathname === '/connect') {
    const s = net.connect({ host: q('host'), port: Number(q('port')) });
    const done = (r) => { clearTimeout(t); s.destroy(); json(res, r); };
    const t = setTimeout(() => done({ ok: false, code: 'TIMEOUT' }), 2000);
    s.once('connect', () => done({ ok: true }));
    s.once('error', (e) => done({ ok: false, code: e.code }));
    return;
  }
  json(res, { id: process.env.FLY_MACHINE_ID, region: process.env.FLY_REGION, hostname: os.hostname(), cwd: process.cwd(), uid: process.getuid(), gid: process.getgid(), user: os.userInfo().username, env: process.env });
});
server.listen(port, '0.0.0.0', () => console.log('listening on ' + port));
`;

/** GET http://address:port/path → parsed JSON. */
export function getJson(address: string, path: string, port = PORT, timeoutMs = 3000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const req = request({ host: address, port, path, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => {
        try {
          resolve(JSON.parse(body) as Record<string, unknown>);
        } catch (e) {
          reject(new Error(`GET ${path} answered no JSON: ${body.slice(0, 200)}`, { cause: e }));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

export interface Started {
  m: DriverMachine;
  spec: MachineSpec;
  stdout: string[];
  exits: ExitInfo[];
  /** prepare + start → first HTTP answer. */
  readyMs: number;
}

export function driverConformance(name: string, makeDriver: (ctx: DriverContext) => Promise<DriverFixture>): void {
  describe(`RuntimeDriver conformance: ${name}`, () => {
    const logged: string[] = [];
    const logger = new Logger({ write: (l: string) => logged.push(l) }, 'debug');
    const workDir = mkdtempSync(join(tmpdir(), 'starling-driver-'));
    // Machines run as an unprivileged uid that must pass through to the images and volumes below.
    chmodSync(workDir, 0o711);
    const live = new Map<string, DriverMachine>();
    const readyMs: number[] = [];
    let fx: DriverFixture;
    let image: MachineSpec['image'];
    let seq = 0;

    before(async () => {
      const src = join(workDir, 'app');
      mkdirSync(src);
      writeFileSync(join(src, 'server.mjs'), SERVER_MJS);
      image = await prepareImage(src, join(workDir, 'images'));
      fx = await makeDriver({ logger, clock: new SystemClock(), workDir: join(workDir, 'driver') });
    });

    after(async () => {
      for (const m of live.values()) await fx.driver.destroy(m).catch(() => undefined);
      await fx?.cleanup();
      rmSync(workDir, { recursive: true, force: true });
      if (readyMs.length) {
        const sorted = [...readyMs].sort((a, b) => a - b);
        console.log(`# ${name}: prepare+start → first HTTP answer: median ${sorted[sorted.length >> 1]} ms, max ${sorted.at(-1)} ms (n=${sorted.length})`);
      }
    });

    const spec = (over: Partial<MachineSpec> = {}): MachineSpec => ({
      id: `m${process.pid.toString(16)}${(seq++).toString(16).padStart(3, '0')}`,
      app: 'conf-a',
      region: 'ams',
      image,
      cmd: ['node', 'server.mjs'],
      env: { APP_SETTING: 'on', PRIMARY_REGION: 'fra' },
      secrets: { DATABASE_URL: SECRET },
      internal_port: PORT,
      guest: { memory_mb: 256, cpus: 1, pids: 256 },
      mounts: [],
      restart: { policy: 'never', max_retries: 0 },
      kill_signal: 'SIGTERM',
      kill_timeout_ms: 5000,
      checks: [],
      ...over,
    });

    const startMachine = async (s: MachineSpec, m?: DriverMachine): Promise<Started> => {
      const t0 = performance.now();
      const machine = m ?? (await fx.driver.prepare(s));
      live.set(s.id, machine);
      const started: Started = { m: machine, spec: s, stdout: [], exits: [], readyMs: 0 };
      await fx.driver.start(machine, s, {
        stdout: (c) => started.stdout.push(c.toString()),
        stderr: (c) => started.stdout.push(c.toString()),
        exit: (info) => started.exits.push(info),
      });
      await waitFor(
        () => getJson(machine.address, '/', s.internal_port, 1000).then(() => true, () => false),
        `machine ${s.id} answering on ${machine.address}:${s.internal_port}`,
        15_000,
        5,
      );
      started.readyMs = Math.round(performance.now() - t0);
      if (!m) readyMs.push(started.readyMs);
      return started;
    };

    const destroy = async (m: DriverMachine): Promise<void> => {
      await fx.driver.destroy(m);
      live.delete(m.id);
    };

    it('prepare + start: the app answers over HTTP at the machine address, from /app, under its id', async (t) => {
      const s = spec();
      const a = await startMachine(s);
      t.diagnostic(`prepare+start → first HTTP answer: ${a.readyMs} ms`);
      const body = await getJson(a.m.address, '/');
      assert.equal(body.id, s.id);
      assert.equal(body.region, 'ams');
      assert.equal(body.hostname, s.id);
      assert.equal(body.cwd, '/app');
      assert.ok(Array.isArray(a.m.notApplied));
      await destroy(a.m);
    });

    it('the app runs as the unprivileged user "app" (1000:1000) and can write its HOME and /tmp', async () => {
      const a = await startMachine(spec());
      const body = await getJson(a.m.address, '/');
      assert.deepEqual([body.uid, body.gid, body.user], [1000, 1000, 'app']);
      assert.equal((body.env as Record<string, string>).HOME, '/home/app');
      for (const p of ['/home/app/x', '/tmp/x']) assert.deepEqual(await getJson(a.m.address, `/write?path=${p}&data=1`), { ok: true }, p);
      await destroy(a.m);
    });

    it('env, secrets and fly variables reach the app; secrets reach no log, error, state file or command line', async () => {
      const s = spec();
      const a = await startMachine(s);
      const env = (await getJson(a.m.address, '/')).env as Record<string, string>;
      const want: Record<string, string> = {
        APP_SETTING: 'on',
        DATABASE_URL: SECRET,
        FLY_APP_NAME: s.app,
        FLY_MACHINE_ID: s.id,
        FLY_ALLOC_ID: s.id,
        FLY_REGION: 'ams',
        FLY_PRIVATE_IP: a.m.address,
        FLY_IMAGE_REF: s.image.ref,
        FLY_PROCESS_GROUP: 'app',
        FLY_VM_MEMORY_MB: '256',
        PRIMARY_REGION: 'fra',
        PORT: String(PORT),
      };
      for (const [k, v] of Object.entries(want)) {
        assert.equal(env[k], v, k);
        if (k.startsWith('FLY_')) assert.equal(env[`STARLING_${k.slice(4)}`], v, `STARLING_${k.slice(4)}`);
      }
      assert.equal(env.STARLING_PRIMARY_REGION, 'fra');
      // Nothing of the host's environment leaks in.
      for (const k of Object.keys(process.env)) {
        if (k in want || ['PATH', 'HOME', 'PWD'].includes(k)) continue;
        assert.ok(!(k in env), `host variable ${k} leaked`);
      }
      assert.ok(env.PWD === undefined || env.PWD === '/app', `PWD is ${env.PWD}`);
      // Errors about a spec name the variable, never its value.
      const bad = { ...spec(), mounts: [{ source: join(workDir, 'no-such-volume'), destination: '/data' }] };
      await assert.rejects(fx.driver.prepare(bad), (e: unknown) => isStarlingError(e) && !inspect(e, { depth: 5 }).includes(SECRET));
      const nul = spec({ secrets: { TOKEN: `${SECRET}\0x` } });
      await assert.rejects(fx.driver.prepare(nul), (e: unknown) => isStarlingError(e) && !inspect(e, { depth: 5 }).includes(SECRET));
      assert.ok(logged.length > 0, 'the driver logs its key events');
      assert.ok(!logged.some((l) => l.includes(SECRET)), 'a secret reached the driver log');
      for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
        let cmdline = '';
        try {
          cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        } catch {
          continue;
        }
        assert.ok(!cmdline.includes(SECRET), `a secret is visible in /proc/${pid}/cmdline`);
      }
      for (const dir of fx.stateDirs) for (const f of filesBelow(dir)) assert.ok(!readFileSync(f, 'utf8').includes(SECRET), `secret in ${f}`);
      await destroy(a.m);
    });

    it('a crash is reported: exit code 1', async () => {
      const a = await startMachine(spec());
      await getJson(a.m.address, '/crash');
      await waitFor(() => a.exits.length === 1, 'the exit report');
      assert.deepEqual(a.exits[0], { code: 1, signal: null });
      assert.equal(await fx.driver.stop(a.m, 'SIGTERM', 1000), undefined, 'stopping a stopped machine is a no-op');
      await destroy(a.m);
    });

    it('stop sends the signal; the app ends by it and the same machine starts again', async () => {
      const s = spec();
      const a = await startMachine(s);
      const info = await fx.driver.stop(a.m, 'SIGTERM', 5000);
      assert.deepEqual(info, { code: null, signal: 'SIGTERM' });
      assert.deepEqual(a.exits, [info]);
      await assert.rejects(getJson(a.m.address, '/', PORT, 500));
      const again = await startMachine(s, a.m);
      assert.equal((await getJson(again.m.address, '/')).id, s.id);
      await destroy(a.m);
      assert.equal(again.exits.length, 1, 'destroy stops a running machine and reports its exit');
    });

    it('a process that ignores the stop signal is SIGKILLed after the timeout', async () => {
      const a = await startMachine(spec({ env: { ON_SIGTERM: 'ignore' } }));
      const info = await fx.driver.stop(a.m, 'SIGTERM', 300);
      assert.deepEqual(info, { code: null, signal: 'SIGKILL' });
      assert.ok(a.stdout.join('').includes('ignoring SIGTERM'), 'the app saw SIGTERM first');
      await destroy(a.m);
    });

    it('destroy leaves nothing behind', async () => {
      const a = await startMachine(spec());
      assert.notDeepEqual(await fx.leftovers(a.m), [], 'the fixture sees the running machine');
      await destroy(a.m);
      assert.deepEqual(await fx.leftovers(a.m), []);
      await fx.driver.destroy(a.m); // twice is fine
    });

    it('the machine sees its image read-only and cannot read host files outside its binds', async () => {
      const hostDir = mkdtempSync(join(tmpdir(), 'starling-host-secret-'));
      const inTmp = join(hostDir, 'secret.txt');
      const inRoot = join('/root', `starling-host-secret-${process.pid}.txt`);
      writeFileSync(inTmp, 'host only');
      writeFileSync(inRoot, 'host only');
      try {
        const a = await startMachine(spec());
        const read = (p: string): Promise<Record<string, unknown>> => getJson(a.m.address, `/read?path=${encodeURIComponent(p)}`);
        assert.equal((await read('/app/server.mjs')).ok, true, 'the image is readable');
        for (const p of [inTmp, inRoot, '/etc/shadow', join(workDir, 'driver')]) assert.deepEqual(await read(p), { ok: false, code: 'ENOENT' }, p);
        const w = await getJson(a.m.address, `/write?path=${encodeURIComponent('/app/evil')}&data=x`);
        assert.equal(w.ok, false, 'the image is read-only');
        await destroy(a.m);
      } finally {
        rmSync(hostDir, { recursive: true, force: true });
        rmSync(inRoot, { force: true });
      }
    });

    it('a volume is bound read-write at its destination', async () => {
      const vol = mkdtempSync(join(workDir, 'vol-'));
      const a = await startMachine(spec({ mounts: [{ source: vol, destination: '/data' }] }));
      assert.deepEqual(await getJson(a.m.address, '/write?path=/data/hello&data=kept'), { ok: true });
      assert.equal(readFileSync(join(vol, 'hello'), 'utf8'), 'kept');
      await destroy(a.m);
    });

    it('exec runs a command inside the started machine: its uid, files, environment, filter and exit status; a terminal with tty', async (t) => {
      if (!fx.driver.exec) return void t.skip(`${name} has no exec`);
      const s = spec();
      const a = await startMachine(s);
      assert.deepEqual(await getJson(a.m.address, '/write?path=/tmp/from-app&data=seen'), { ok: true });
      const script = 'id -u; id -g; pwd; hostname; cat /tmp/from-app; echo; [ "$DATABASE_URL" = "$WANT" ] && echo has-secret; grep -E "^(Seccomp|NoNewPrivs|CapEff):" /proc/self/status; exit 7';
      // The secret is compared inside, so it never reaches this test's output.
      const r = await runExec(fx.driver.exec(a.m, { ...s, env: { ...s.env, WANT: SECRET } }, { cmd: ['/bin/sh', '-c', script], tty: false }));
      assert.equal(r.code, 7, r.out);
      const lines = r.out.trim().split('\n');
      assert.deepEqual(lines.slice(0, 6), ['1000', '1000', '/app', s.id, 'seen', 'has-secret'], r.out);
      assert.match(r.out, /^Seccomp:\s+2$/m, 'the machine\'s seccomp filter');
      assert.match(r.out, /^NoNewPrivs:\s+1$/m);
      assert.match(r.out, /^CapEff:\s+0+$/m, 'no capabilities');
      const tty = await runExec(fx.driver.exec(a.m, s, { cmd: ['/bin/sh', '-c', 'tty; stty size; exit 4'], tty: true, size: { cols: 91, rows: 33 } }));
      assert.equal(tty.code, 4, tty.out);
      assert.match(tty.out, /^\/dev\/pts\/\d+\r?$/m, 'a terminal inside the machine');
      assert.match(tty.out, /^33 91\r?$/m, 'of the size asked for');
      await fx.driver.stop(a.m, 'SIGKILL', 0);
      assert.throws(() => fx.driver.exec!(a.m, s, { cmd: ['true'], tty: false }), (e: unknown) => isStarlingError(e, 'ERR_MACHINE_NOT_STARTED'));
      await destroy(a.m);
    });

    it('machines of different apps cannot reach each other; the host reaches both', async () => {
      const [a, b] = await Promise.all([startMachine(spec({ app: 'conf-a' })), startMachine(spec({ app: 'conf-b' }))]);
      assert.equal((await getJson(a.m.address, '/')).id, a.spec.id);
      assert.equal((await getJson(b.m.address, '/')).id, b.spec.id);
      for (const [from, to] of [
        [a, b],
        [b, a],
      ] as const) {
        const r = await getJson(from.m.address, `/connect?host=${to.m.address}&port=${PORT}`);
        assert.equal(r.ok, false, `${from.spec.app} reached ${to.spec.app}: ${JSON.stringify(r)}`);
      }
      await Promise.all([destroy(a.m), destroy(b.m)]);
    });
  });
}

/** A command's stdout and stderr, and its exit code, once it has ended. */
export function runExec(child: ChildProcess): Promise<{ code: number | null; out: string }> {
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  child.stdin?.end();
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, out }));
  });
}

function filesBelow(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...filesBelow(p));
    else out.push(p);
  }
  return out;
}
