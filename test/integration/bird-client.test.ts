import type { ErrorCode } from '../../src/shared/index.js';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BirdClient } from '../../src/announcer/bird/client.js';
import { ManualClock, isStarlingError } from '../../src/shared/index.js';
import { waitFor } from '../helpers/wait.js';

/**
 * BirdClient against a real BIRD 2 (tier 3), plus a scripted fake control socket (tier 2) for what a
 * healthy BIRD never does: stay silent, answer late, hang up. The BGP session of the config never
 * comes up (nobody at 192.0.2.254); the static protocol s4 is what is switched on and off.
 */
const CONFIG = `router id 192.0.2.1;
protocol device {}
protocol static s4 { ipv4; route 198.51.100.0/24 blackhole; }
protocol bgp up1 { local as 65001; neighbor 192.0.2.254 as 65000; ipv4 { import none; export all; }; }
`;
const PREFIX = '198.51.100.0/24';

function which(cmd: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin'];
  return dirs.map((d) => join(d, cmd)).find((p) => existsSync(p));
}

const rejectsWith = (code: ErrorCode, re?: RegExp) => (e: unknown) => {
  assert.ok(isStarlingError(e, code), `expected ${code}, got ${String(e)}`);
  if (re) assert.match(e.message, re);
  return true;
};

describe('BirdClient with a real BIRD', () => {
  const dir = mkdtempSync(join(tmpdir(), 'starling-bird-client-'));
  const socket = join(dir, 'bird.ctl');
  let bird: ChildProcess | undefined;
  let output = '';
  let client: BirdClient;

  before(async () => {
    const bin = which('bird');
    if (!bin) throw new Error('bird (BIRD 2) is needed for this test: apt-get install -y bird2 (or npm run setup)');
    writeFileSync(join(dir, 'bird.conf'), CONFIG);
    writeFileSync(join(dir, 'broken.conf'), 'router id 192.0.2.1;\nprotocol static s4 { ipv4; route 198.51.100.0/33 blackhole; }\n');
    const args = ['-f', '-c', 'bird.conf', '-s', socket, '-P', join(dir, 'bird.pid')];
    // As root, in a network namespace of its own: BGP's listener on port 179 cannot collide with
    // another test's BIRD, and nothing leaves for 192.0.2.254. The control socket is a file, so
    // it is reachable from here all the same. (unshare execs bird: the pid is bird's.)
    const unshare = process.getuid?.() === 0 ? which('unshare') : undefined;
    const [cmd, ...rest] = unshare ? [unshare, '-n', bin, ...args] : [bin, ...args];
    bird = spawn(cmd ?? bin, rest, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    process.once('exit', () => bird?.exitCode === null && bird.kill('SIGKILL'));
    bird.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    bird.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    // The socket file appears at bind(), a moment before listen(): until then connecting is refused.
    let connected: BirdClient | undefined;
    const tryConnect = async () => {
      if (bird?.exitCode !== null) throw new Error(`bird exited: ${output}`);
      connected = await BirdClient.connect(socket, { timeoutMs: 5000 }).catch(() => undefined);
      return connected !== undefined;
    };
    await waitFor(tryConnect, `bird's control socket ${socket}`, 10_000);
    client = connected as BirdClient;
  });

  after(async () => {
    await client?.close();
    if (bird && bird.exitCode === null) {
      const exited = new Promise((resolve) => bird?.once('exit', resolve));
      bird.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 3000))]);
      if (bird.exitCode === null) bird.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  });

  const hasRoute = async () => (await client.showRoute()).some((r) => r.prefix === PREFIX);

  it('connects, reads the greeting and shows protocols', async () => {
    assert.equal(client.version, '2.0.12');
    const ps = await client.showProtocols();
    assert.deepEqual(ps.map((p) => [p.name, p.proto]), [['device1', 'Device'], ['s4', 'Static'], ['up1', 'BGP']]);
    assert.equal(ps.find((p) => p.name === 's4')?.state, 'up');
    const up1 = (await client.showProtocolsAll('up1'))[0];
    assert.equal(up1?.bgp?.neighborAddress, '192.0.2.254');
    assert.equal(up1?.bgp?.neighborAs, 65000);
    assert.equal(up1?.bgp?.localAs, 65001);
    assert.notEqual(up1?.bgp?.state, 'Established');
  });

  it('disable/enable the static protocol: the route leaves and returns', async () => {
    await waitFor(hasRoute, 'the static route');
    assert.equal(await client.disable('s4'), 'disabled');
    await waitFor(async () => !(await hasRoute()), `${PREFIX} to leave the table`);
    assert.equal(await client.disable('s4'), 'already-disabled');
    assert.equal((await client.showProtocols()).find((p) => p.name === 's4')?.state, 'down');
    assert.deepEqual(await client.showRoute('for 198.51.100.1'), [], '8001 Network not found is an empty answer');
    assert.equal(await client.enable('s4'), 'enabled');
    await waitFor(hasRoute, `${PREFIX} to return`);
    assert.equal(await client.enable('s4'), 'already-enabled');
    const [route] = await client.showRoute('all for 198.51.100.1');
    assert.equal(route?.protocol, 's4');
    assert.equal(route?.type, 'blackhole');
    assert.equal(route?.attributes.Type, 'static univ');
  });

  it('configure: a broken config is ERR_BIRD_COMMAND with BIRD\'s message, and the old one stays', async () => {
    await assert.rejects(client.configure(join(dir, 'broken.conf')), (e: unknown) => {
      rejectsWith('ERR_BIRD_COMMAND', /broken\.conf:2:\d+ Invalid prefix length 33/)(e);
      assert.equal((e as { fault?: string }).fault, 'system');
      return true;
    });
    await assert.rejects(client.checkConfig(join(dir, 'broken.conf')), rejectsWith('ERR_BIRD_COMMAND', /Invalid prefix/));
    await client.checkConfig();
    assert.equal(await client.configure(), 'reconfigured');
    assert.equal(await client.configure(join(dir, 'bird.conf')), 'reconfigured');
    assert.ok(await hasRoute());
    await assert.rejects(client.configure('a"b'), rejectsWith('ERR_BIRD_ARGUMENT'));
  });

  it('concurrent commands are answered in order; an error rejects only its own', async () => {
    const cmds = Array.from({ length: 30 }, (_, i) =>
      ['show status', 'show protocols', 'show route', 'show route for nonsense', 'show protocols all up1'][i % 5] ?? '',
    );
    const results = await Promise.allSettled(cmds.map((c) => client.command(c)));
    results.forEach((r, i) => {
      const cmd = cmds[i];
      if (cmd === 'show route for nonsense') {
        assert.equal(r.status, 'rejected', cmd);
        return rejectsWith('ERR_BIRD_COMMAND', /syntax error/)(r.status === 'rejected' ? r.reason : undefined);
      }
      assert.equal(r.status, 'fulfilled', `${cmd}: ${r.status === 'rejected' ? String(r.reason) : ''}`);
      const reply = r.status === 'fulfilled' ? r.value : undefined;
      const first = reply?.lines[0];
      if (cmd === 'show status') assert.equal(reply?.code, 13);
      if (cmd === 'show protocols') assert.equal(first?.code, 2002);
      if (cmd === 'show route') assert.equal(first?.text, 'Table master4:');
      if (cmd === 'show protocols all up1') assert.match(reply?.lines[1]?.text ?? '', /^up1 /);
    });
  });

  it('bad arguments never reach BIRD', async () => {
    await assert.rejects(client.command('show status\nshutdown'), rejectsWith('ERR_BIRD_ARGUMENT'));
    await assert.rejects(client.enable('s4; shutdown'), rejectsWith('ERR_BIRD_ARGUMENT'));
    await assert.rejects(client.command(''), rejectsWith('ERR_BIRD_ARGUMENT'));
    assert.equal((await client.command('show status')).code, 13);
  });

  it('a missing socket is ERR_BIRD_SOCKET naming the path', async () => {
    const missing = join(dir, 'nobody.ctl');
    await assert.rejects(BirdClient.connect(missing), rejectsWith('ERR_BIRD_SOCKET', new RegExp(missing.replaceAll('.', '\\.'))));
  });
});

describe('BirdClient with a scripted control socket', () => {
  const dir = mkdtempSync(join(tmpdir(), 'starling-bird-fake-'));
  let n = 0;

  /** A fake BIRD: `greet` decides the greeting; every command line is handed to `onLine`. */
  async function fake(greet: string | undefined, onLine: (line: string, sock: net.Socket) => void) {
    const path = join(dir, `fake${n++}.ctl`);
    const conns: net.Socket[] = [];
    const server = net.createServer((sock) => {
      conns.push(sock);
      if (greet !== undefined) sock.write(greet);
      let buf = '';
      sock.on('data', (d) => {
        buf += d.toString();
        for (let i = buf.indexOf('\n'); i !== -1; i = buf.indexOf('\n')) {
          onLine(buf.slice(0, i), sock);
          buf = buf.slice(i + 1);
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(path, resolve));
    return { path, conns, close: () => (conns.forEach((c) => c.destroy()), new Promise((r) => server.close(r))) };
  }

  after(() => rmSync(dir, { recursive: true, force: true }));

  it('no greeting: connect fails with ERR_BIRD_SOCKET when the time is up', async () => {
    const f = await fake(undefined, () => {});
    const clock = new ManualClock();
    const pending = BirdClient.connect(f.path, { timeoutMs: 1000, clock });
    await waitFor(() => f.conns.length === 1, 'the connection');
    clock.advance(1000);
    await assert.rejects(pending, rejectsWith('ERR_BIRD_SOCKET', /no greeting/));
    await f.close();
  });

  it('a command BIRD does not answer times out; its late answer is dropped, the queue goes on', async () => {
    const held: net.Socket[] = [];
    const f = await fake('0001 BIRD fake ready.\n', (line, sock) => {
      if (line === 'slow') held.push(sock);
      else sock.write(`0000 answer to ${line}\n`);
    });
    const clock = new ManualClock();
    const client = await BirdClient.connect(f.path, { timeoutMs: 1000, clock });
    const slow = client.command('slow');
    const behind = client.command('behind');
    const patient = client.command('patient', { timeoutMs: 5000 });
    await waitFor(() => held.length === 1, 'the slow command to arrive');
    clock.advance(1000);
    await assert.rejects(slow, rejectsWith('ERR_BIRD_TIMEOUT', /`slow` within 1000 ms/));
    await assert.rejects(behind, rejectsWith('ERR_BIRD_TIMEOUT', /behind/));
    held[0]?.write('0000 late answer to slow\n');
    assert.equal((await patient).lines[0]?.text, 'answer to patient');
    assert.ok(client.isOpen);
    await client.close();
    assert.equal(client.isOpen, false);
    await f.close();
  });

  it('a hang-up rejects pending commands with ERR_BIRD_SOCKET, and every later one', async () => {
    const f = await fake('0001 BIRD fake ready.\n', (_line, sock) => sock.destroy());
    const client = await BirdClient.connect(f.path);
    await assert.rejects(client.command('show status'), rejectsWith('ERR_BIRD_SOCKET', /closed/));
    await client.closed;
    assert.equal(client.isOpen, false);
    await assert.rejects(client.command('show status'), rejectsWith('ERR_BIRD_SOCKET'));
    await client.close();
    await f.close();
  });

  it('garbage from the socket is ERR_BIRD_PROTOCOL', async () => {
    const f = await fake('0001 BIRD fake ready.\n', (_line, sock) => sock.write('<html>\n'));
    const client = await BirdClient.connect(f.path);
    await assert.rejects(client.command('show status'), rejectsWith('ERR_BIRD_PROTOCOL', /malformed/));
    await client.close();
    await f.close();
  });
});
