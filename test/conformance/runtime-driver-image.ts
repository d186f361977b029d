/**
 * What every RuntimeDriver does with an image that is its machine's own `/` (MachineSpec.image.base
 * 'image'): the image's files and not the host's, a writable layer gone at the next start, root or
 * the image's USER inside, the image's workdir, exec. The suite hands the driver a root filesystem
 * maker (test/helpers/busybox-rootfs.ts, as the host image store would): the machine is busybox
 * httpd answering shell commands over HTTP.
 *   imageDriverConformance('SandboxDriver', async ({ logger, clock, workDir, rootfs }) => ({ … }));
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DriverMachine, ExitInfo, MachineSpec } from '../../src/runtime/index.js';
import { isStarlingError, Logger, SystemClock } from '../../src/shared/index.js';
import { busyboxRootfs, HTTPD_CMD, IMAGE_APP, IMAGE_MARKER, runIn, STAFF_GID } from '../helpers/busybox-rootfs.js';
import { waitFor } from '../helpers/wait.js';
import { runExec, type DriverContext, type DriverFixture } from './runtime-driver.js';

export interface ImageDriverContext extends DriverContext {
  /** For the driver's rootfs option: the image's root filesystem, owners shifted by `uidShift`. */
  rootfs: (image: MachineSpec['image'], uidShift: number) => Promise<string>;
}

const PORT = 8080;

export function imageDriverConformance(name: string, makeDriver: (ctx: ImageDriverContext) => Promise<DriverFixture>): void {
  describe(`RuntimeDriver conformance, image base: ${name}`, () => {
    const logger = new Logger({ write: () => true }, 'error');
    const workDir = mkdtempSync(join(tmpdir(), 'starling-driver-image-'));
    chmodSync(workDir, 0o711);
    const store = join(workDir, 'rootfs');
    const live = new Map<string, DriverMachine>();
    let fx: DriverFixture;
    let seq = 0;

    before(async () => {
      fx = await makeDriver({ logger, clock: new SystemClock(), workDir: join(workDir, 'driver'), rootfs: busyboxRootfs(store).rootfs });
    });

    after(async () => {
      for (const m of live.values()) await fx.driver.destroy(m).catch(() => undefined);
      await fx?.cleanup();
      rmSync(workDir, { recursive: true, force: true });
    });

    const spec = (over: Partial<MachineSpec> = {}): MachineSpec => ({
      id: `i${process.pid.toString(16)}${(seq++).toString(16).padStart(3, '0')}`,
      app: 'conf-image',
      region: 'ams',
      image: { dir: join(workDir, 'no-app-dir'), digest: `sha256:${'ab'.repeat(32)}`, ref: 'busybox-test:1', base: 'image' },
      cmd: HTTPD_CMD,
      env: {},
      secrets: {},
      internal_port: PORT,
      guest: { memory_mb: 128, cpus: 1, pids: 64 },
      mounts: [],
      restart: { policy: 'never', max_retries: 0 },
      kill_signal: 'SIGTERM',
      kill_timeout_ms: 2000,
      checks: [],
      ...over,
    });

    const start = async (s: MachineSpec, m?: DriverMachine): Promise<{ m: DriverMachine; exits: ExitInfo[] }> => {
      const machine = m ?? (await fx.driver.prepare(s));
      live.set(s.id, machine);
      const exits: ExitInfo[] = [];
      await fx.driver.start(machine, s, { stdout: () => undefined, stderr: () => undefined, exit: (i) => exits.push(i) });
      await waitFor(() => runIn(machine.address, 'true', PORT, 1000).then(() => true, () => false), `image machine ${s.id} answering`, 15_000, 10);
      return { m: machine, exits };
    };
    const sh = async (m: DriverMachine, cmd: string): Promise<string> => {
      const r = await runIn(m.address, cmd);
      assert.equal(r.status, 0, `${cmd}: ${r.out}`);
      return r.out.trim();
    };
    const destroy = async (m: DriverMachine): Promise<void> => {
      await fx.driver.destroy(m);
      live.delete(m.id);
    };

    it("sees the image's files at / and none of the host's /usr; /etc/hostname is the machine's, /etc/passwd the image's", async () => {
      assert.ok(existsSync('/usr/bin/python3') || existsSync('/usr/bin/node'), 'the host has programs the image lacks');
      const s = spec();
      const { m } = await start(s);
      assert.equal((await runIn(m.address, 'test -e /usr')).status, 1, "the host's /usr is not inside");
      for (const p of ['/usr/bin/python3', '/usr/bin/node', '/usr/bin/bwrap']) assert.equal((await runIn(m.address, `test -e ${p}`)).status, 1, p);
      assert.equal(await sh(m, 'ls /bin/busybox'), '/bin/busybox');
      assert.match(await sh(m, 'cat /etc/passwd'), new RegExp(`^app:x:${IMAGE_APP.uid}:${IMAGE_APP.gid}:${IMAGE_MARKER}:`, 'm'));
      assert.equal(await sh(m, 'cat /etc/hostname'), s.id);
      assert.equal(await sh(m, 'cat /tmp/start-cwd'), '/', 'an image base starts in / by default');
      await destroy(m);
    });

    it('runs as root inside by default: uid 0, writes anywhere in /, no capabilities', async () => {
      const { m } = await start(spec());
      assert.equal(await sh(m, 'id -u; id -g'), '0\n0');
      assert.equal(await sh(m, 'echo x > /etc/new && echo x > /bin/new && cat /etc/new'), 'x');
      assert.match(await sh(m, 'grep CapEff /proc/self/status'), /^CapEff:\s+0+$/);
      await destroy(m);
    });

    it('what the app wrote anywhere in / is gone after stop + start; the image itself is unchanged', async () => {
      const s = spec();
      const { m } = await start(s);
      await sh(m, 'echo gone > /written && echo gone > /etc/written && rm /etc/group && echo changed > /www/index.html');
      assert.equal(await sh(m, 'cat /written /etc/written'), 'gone\ngone');
      await fx.driver.stop(m, 'SIGTERM', 2000);
      await start(s, m);
      for (const p of ['/written', '/etc/written']) assert.equal((await runIn(m.address, `test -e ${p}`)).status, 1, `${p} survived a restart`);
      assert.match(await sh(m, 'cat /etc/group'), /^staff:x:50:/m, 'a deleted file is back');
      assert.equal(await sh(m, 'cat /www/index.html'), 'ok');
      for (const shift of readdirSync(store)) {
        assert.ok(!existsSync(join(store, shift, 'written')), 'the image store was written through');
        assert.equal(readFileSync(join(store, shift, 'www', 'index.html'), 'utf8'), 'ok\n');
      }
      await destroy(m);
    });

    it("the image's USER as a string: 'app' from its /etc/passwd owns its home; 'app:staff', '4242:4243'; an unknown name is refused", async () => {
      const a = await start(spec({ user: 'app' }));
      assert.equal(await sh(a.m, 'id -u; id -g; echo $HOME'), `${IMAGE_APP.uid}\n${IMAGE_APP.gid}\n${IMAGE_APP.home}`);
      assert.equal(await sh(a.m, 'echo mine > $HOME/file && cat $HOME/file'), 'mine');
      assert.notEqual((await runIn(a.m.address, 'echo no > /etc/no')).status, 0, "a non-root user cannot write the image's /etc");
      const b = await start(spec({ user: 'app:staff' }));
      assert.equal(await sh(b.m, 'id -u; id -g'), `${IMAGE_APP.uid}\n${STAFF_GID}`);
      const c = await start(spec({ user: '4242:4243' }));
      assert.equal(await sh(c.m, 'id -u; id -g'), '4242\n4243');
      for (const user of ['nosuchuser', 'app:nosuchgroup']) {
        await assert.rejects(fx.driver.prepare(spec({ user })), (e: unknown) => isStarlingError(e, 'ERR_MACHINE_SPEC') && e.message.includes('nosuch'), user);
      }
      await Promise.all([destroy(a.m), destroy(b.m), destroy(c.m)]);
    });

    it('the workdir is the cwd of the app and of exec', async (t) => {
      const s = spec({ workdir: '/srv/work', user: 'app' });
      const { m } = await start(s);
      assert.equal(await sh(m, 'cat /tmp/start-cwd'), '/srv/work');
      if (!fx.driver.exec) return void t.skip(`${name} has no exec`);
      assert.equal((await runExec(fx.driver.exec(m, s, { cmd: ['pwd'], tty: false }))).out.trim(), '/srv/work');
      await destroy(m);
    });

    it('exec runs inside an image machine, as its user (root or not), under its filter; a terminal with tty', async (t) => {
      if (!fx.driver.exec) return void t.skip(`${name} has no exec`);
      for (const user of [undefined, 'app']) {
        const s = spec({ user });
        const { m } = await start(s);
        await sh(m, 'echo seen > /tmp/from-app');
        const script = 'id -u; cat /tmp/from-app; test -e /usr/bin/python3 || echo no-host-usr; grep -E "^(Seccomp|NoNewPrivs|CapEff):" /proc/self/status; exit 7';
        const r = await runExec(fx.driver.exec(m, s, { cmd: ['/bin/sh', '-c', script], tty: false }));
        assert.equal(r.code, 7, r.out);
        assert.deepEqual(r.out.trim().split('\n').slice(0, 3), [user ? String(IMAGE_APP.uid) : '0', 'seen', 'no-host-usr'], r.out);
        assert.match(r.out, /^Seccomp:\s+2$/m);
        assert.match(r.out, /^NoNewPrivs:\s+1$/m);
        assert.match(r.out, /^CapEff:\s+0+$/m);
        const tty = await runExec(fx.driver.exec(m, s, { cmd: ['/bin/sh', '-c', 'tty; stty size; exit 4'], tty: true, size: { cols: 91, rows: 33 } }));
        assert.equal(tty.code, 4, tty.out);
        assert.match(tty.out, /^\/dev\/pts\/\d+\r?$/m);
        assert.match(tty.out, /^33 91\r?$/m);
        await destroy(m);
      }
    });

    it('destroy leaves no mount and no directory of the machine', async () => {
      const { m } = await start(spec());
      assert.notDeepEqual(await fx.leftovers(m), [], 'the fixture sees the running machine');
      assert.ok(readFileSync('/proc/self/mountinfo', 'utf8').includes(workDir), 'its root is a mount below the driver dir');
      await destroy(m);
      assert.deepEqual(await fx.leftovers(m), []);
      assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(workDir), 'a mount is left');
    });
  });
}
