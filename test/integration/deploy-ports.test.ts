/**
 * A public port a host cannot listen on fails the deploy before anything is replaced: the control
 * plane asks every host's agent (its real proxy binds and lets go), and the CLI names the host,
 * the port and why. Once the port is free the same release deploys and the edge serves it.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { killAllCli } from '../helpers/cli.js';
import { startPlatform, type Platform } from '../helpers/platform.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';

const FIXTURE = new URL('../../../test/fixtures/apps/env-echo/server.mjs', import.meta.url).pathname;
let p: Platform;
let appDir: string;

before(async () => {
  p = await startPlatform([{ name: 'p', region: 'fra' }], { prefix: 'deploy-ports' });
  appDir = join(p.dir, 'app');
  mkdirSync(appDir);
  copyFileSync(FIXTURE, join(appDir, 'server.mjs'));
});

after(async () => {
  killAllCli();
  await p?.stop();
});

/** One HTTP/1.0 request over a raw TCP connection to the edge's port: the app's answer. */
function askOver(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write('GET / HTTP/1.0\r\n\r\n'));
    let got = '';
    s.on('data', (d: Buffer) => (got += d.toString()));
    s.on('end', () => resolve(got));
    s.on('error', reject);
  });
}

describe('deploy: public ports every host must be able to listen on', { timeout: 300_000 }, () => {
  it('a port another program holds on a host fails the deploy with nothing created; freed, the same config deploys and is served', async () => {
    const port = await freePort();
    const held = new Set<net.Socket>();
    const squatter = net.createServer((s) => {
      held.add(s);
      s.on('close', () => held.delete(s));
      s.end('not starling\n');
    });
    await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve));
    after(() => void squatter.close());
    writeFileSync(
      join(appDir, 'starling.toml'),
      `app = "raw"\nprimary_region = "fra"\n[experimental]\ncmd = ["node", "server.mjs"]\n` +
        `[[services]]\ninternal_port = 8080\nprotocol = "tcp"\n[[services.ports]]\nport = ${port}\nhandlers = []\n`,
    );
    const refused = await p.cli(['deploy', '--create', '--config', join(appDir, 'starling.toml'), '--image', appDir], 180_000);
    assert.notEqual(refused.code, 0, refused.stdout + refused.stderr);
    assert.match(refused.stderr, new RegExp(`host \\S+ cannot listen on TCP port ${port}: EADDRINUSE \\(another program holds it\\)`));
    assert.match(refused.stderr, /ERR_PORT_UNAVAILABLE|nothing was replaced/);
    const machines = await p.api('GET', '/v1/apps/raw/machines');
    assert.deepEqual(machines.body, { machines: [] }, 'no machine was created');
    assert.equal(await askOver(port), 'not starling\n', 'the other program keeps its port');

    await new Promise<void>((resolve) => {
      squatter.close(() => resolve());
      for (const s of held) s.destroy();
    });
    const ok = await p.cli(['deploy', '--config', join(appDir, 'starling.toml'), '--image', appDir], 180_000);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    await waitFor(async () => (await askOver(port).catch(() => '')).includes('"app":"raw"'), 'the edge to serve the TCP service', 30_000, 200);
  });
});
