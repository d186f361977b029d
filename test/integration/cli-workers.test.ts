import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closedPort, send, startOrigin } from '../helpers/origin.js';
import { waitFor } from '../helpers/wait.js';

const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname;

test('proxy serve --workers 2 shares one port, sums metrics across workers, and drains on SIGTERM', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'starling-workers-'));
  const origin = await startOrigin('m1');
  const port = await closedPort();
  const admin = await closedPort();
  const file = join(dir, 'routes.json');
  writeFileSync(
    file,
    JSON.stringify({
      apps: [{ name: 'hello', hostnames: ['hello.test'], machines: [{ id: 'm1', region: 'fra', address: '127.0.0.1', port: origin.port }] }],
    }),
  );
  const child = spawn(
    process.execPath,
    [CLI, 'proxy', 'serve', '--routes', file, '--region', 'fra', '--listen', `127.0.0.1:${port}`, '--admin', `127.0.0.1:${admin}`, '--workers', '2', '--access-log', 'off'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.after(async () => {
    child.kill('SIGKILL');
    await origin.close();
    rmSync(dir, { recursive: true, force: true });
  });

  await waitFor(async () => (await send(port, 'hello.test').catch(() => undefined))?.status === 200, 'a worker to serve', 10_000);
  const n = 40;
  const results = await Promise.all(Array.from({ length: n }, () => send(port, 'hello.test')));
  assert.ok(results.every((r) => r.status === 200));

  // Every request counted once, whichever worker took it: the primary sums the workers' counters.
  const total = async (): Promise<number> => {
    const text = await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text();
    const m = /starling_proxy_requests_total\{app="hello",region="fra",status="200"\} (\d+)/.exec(text);
    return m ? Number(m[1]) : 0;
  };
  await waitFor(async () => (await total()) >= n + 1, 'metrics from both workers', 10_000);
  assert.equal(await total(), origin.seen.length);

  child.kill('SIGTERM');
  assert.equal(await exited, 0, `exit status; stderr: ${err}`);
});
