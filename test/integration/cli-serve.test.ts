import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import { join } from 'node:path';
import { closedPort, send, startOrigin } from '../helpers/origin.js';
import { waitFor } from '../helpers/wait.js';

const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname;

function run(args: string[]): { child: ChildProcess; out: () => string; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, out: () => out, exit };
}

test('proxy serve refuses a bad routes file, naming every problem, with exit status 2', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'starling-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'routes.json');
  writeFileSync(
    file,
    JSON.stringify({
      apps: [{ name: 'Bad Name', hostnames: ['a.test'], machines: [{ id: 'm1', region: 'xyz', address: 'nope', colour: 1 }] }],
    }),
  );
  const p = run(['proxy', 'serve', '--routes', file, '--region', 'fra', '--listen', '127.0.0.1:0']);
  assert.equal(await p.exit, 2);
  const out = p.out();
  assert.match(out, /apps\[0\]\.name/);
  assert.match(out, /apps\[0\]\.machines\[0\]\.region.*xyz/);
  assert.match(out, /apps\[0\]\.machines\[0\]\.address/);
  assert.match(out, /unknown key "colour"/);
});

test('proxy serve without --routes says what is missing', async () => {
  const p = run(['proxy', 'serve', '--region', 'fra']);
  assert.equal(await p.exit, 2);
  assert.match(p.out(), /missing --routes/);
  assert.match(p.out(), /hint:/);
});

test('proxy serve routes by the file, reloads it on change, and exits 0 on SIGTERM', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'starling-cli-'));
  const a = await startOrigin('a');
  const b = await startOrigin('b');
  const port = await closedPort();
  const admin = await closedPort();
  const file = join(dir, 'routes.json');
  const routes = (healthyA: boolean) =>
    JSON.stringify({
      apps: [
        {
          name: 'hello',
          hostnames: ['hello.test'],
          machines: [
            { id: 'a', region: 'fra', address: '127.0.0.1', port: a.port, healthy: healthyA },
            { id: 'b', region: 'iad', address: '127.0.0.1', port: b.port },
          ],
        },
      ],
    });
  writeFileSync(file, routes(true));
  const p = run(['proxy', 'serve', '--routes', file, '--region', 'fra', '--listen', `127.0.0.1:${port}`, '--admin', `127.0.0.1:${admin}`]);
  t.after(async () => {
    p.child.kill('SIGKILL');
    await Promise.all([a.close(), b.close()]);
    rmSync(dir, { recursive: true, force: true });
  });
  await waitFor(async () => (await fetch(`http://127.0.0.1:${admin}/healthz`).catch(() => undefined))?.status === 200, 'healthz');
  const first = await send(port, 'hello.test');
  assert.equal(first.headers['x-machine'], 'a');

  // Atomic replace, as config tools do: the proxy must see it and stop sending to `a`.
  writeFileSync(join(dir, 'routes.tmp'), routes(false));
  renameSync(join(dir, 'routes.tmp'), file);
  await waitFor(async () => (await send(port, 'hello.test')).headers['x-machine'] === 'b', 'requests to move to b');

  p.child.kill('SIGTERM');
  assert.equal(await p.exit, 0);
  assert.match(p.out(), /"status":200/, 'access log lines on stdout');
});

test('proxy serve refuses a per-address cap above the total, with exit status 2', async () => {
  const p = run(['proxy', 'serve', '--routes', 'r.json', '--region', 'fra', '--max-connections', '100', '--max-connections-per-ip', '200']);
  assert.equal(await p.exit, 2);
  assert.match(p.out(), /--max-connections-per-ip \(200\) must not exceed --max-connections \(100\)/);
});

test('proxy serve enforces --max-connections-per-ip, and warns when the open-files limit is below twice --max-connections', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'starling-cli-'));
  const origin = await startOrigin('a');
  const port = await closedPort();
  const admin = await closedPort();
  const file = join(dir, 'routes.json');
  const machines = [{ id: 'a', region: 'fra', address: '127.0.0.1', port: origin.port }];
  writeFileSync(file, JSON.stringify({ apps: [{ name: 'hello', hostnames: ['hello.test'], machines }] }));
  // bash's ulimit -n sets the hard limit too, so Node cannot raise it: 4096 < 2 × 5000.
  const args = ['proxy', 'serve', '--routes', file, '--region', 'fra', '--listen', `127.0.0.1:${port}`, '--admin', `127.0.0.1:${admin}`];
  const caps = ['--max-connections', '5000', '--max-connections-per-ip', '2'];
  const child = spawn('bash', ['-c', 'ulimit -n 4096 && exec "$@"', 'bash', process.execPath, CLI, ...args, ...caps], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const held: net.Socket[] = [];
  t.after(async () => {
    for (const s of held) s.destroy();
    child.kill('SIGKILL');
    await origin.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await waitFor(async () => (await fetch(`http://127.0.0.1:${admin}/healthz`).catch(() => undefined))?.status === 200, 'healthz');
  assert.match(out, /open-files limit is low for max_connections.*"open_files_limit":4096,"max_connections":5000/);
  const connect = (): Promise<net.Socket> =>
    new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(s));
    });
  for (let i = 0; i < 2; i++) held.push(await connect());
  const metric = async (): Promise<string> => (await fetch(`http://127.0.0.1:${admin}/metrics`)).text();
  await waitFor(async () => /starling_proxy_open_connections 2\b/.test(await metric()), 'two connections held');
  const third = await send(port, 'hello.test').then(() => 'answered', (e: NodeJS.ErrnoException) => e.code ?? e.message);
  assert.notEqual(third, 'answered', 'a third connection from 127.0.0.1 is refused');
  assert.match(await metric(), /starling_proxy_connections_refused_total\{reason="per_address"\} 1\b/);
});
