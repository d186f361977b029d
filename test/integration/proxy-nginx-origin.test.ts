import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { machine, startProxy, type TestProxy } from '../helpers/proxy.js';
import { closedPort, send } from '../helpers/origin.js';
import { call, sha256 } from '../helpers/raw.js';
import { waitFor } from '../helpers/wait.js';

/** Tier 3: Debian's nginx as a real machine behind the proxy. */
const NGINX = '/usr/sbin/nginx';
const FILE = randomBytes(3 * 1024 * 1024 + 123);

function nginxConf(dir: string, port: number): string {
  return `
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  keepalive_timeout 60s;
  keepalive_requests 1000;
  server {
    listen 127.0.0.1:${port};
    location = /hello { default_type text/plain; return 200 "hello from nginx\\n"; }
    location = /conn { default_type text/plain; return 200 "$connection $connection_requests"; }
    location /files/ { root ${dir}/www; }
  }
}
`;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

const getBuf = (port: number, path: string, method = 'GET', agent?: http.Agent) =>
  call(port, { host: 'static.test', path, method, ...(agent ? { agent } : {}) });

describe('proxy in front of a real nginx', () => {
  let dir: string;
  let nginx: ChildProcess | undefined;
  let exited: Promise<unknown> = Promise.resolve();
  let nginxOut = '';
  let p: TestProxy | undefined;

  before(async () => {
    if (!existsSync(NGINX)) {
      throw new Error(`${NGINX} not found: this test needs Debian's nginx (apt-get install -y nginx, or npm run setup)`);
    }
    dir = mkdtempSync(join(tmpdir(), 'starling-nginx-'));
    // nginx workers may run as an unprivileged user: they must be able to read the files.
    chmodSync(dir, 0o755);
    mkdirSync(join(dir, 'tmp'));
    mkdirSync(join(dir, 'www', 'files'), { recursive: true });
    writeFileSync(join(dir, 'www', 'files', 'big.bin'), FILE, { mode: 0o644 });
    const port = await closedPort();
    writeFileSync(join(dir, 'nginx.conf'), nginxConf(dir, port));
    const child = spawn(NGINX, ['-p', dir, '-e', join(dir, 'error.log'), '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    nginx = child;
    exited = new Promise((resolve) => child.once('exit', resolve));
    child.stdout.on('data', (d: Buffer) => (nginxOut += d.toString()));
    child.stderr.on('data', (d: Buffer) => (nginxOut += d.toString()));
    try {
      await waitFor(async () => {
        if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}: ${nginxOut}`);
        return canConnect(port);
      }, 'nginx to listen');
    } catch (e) {
      const log = existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8') : '';
      throw new Error(`${(e as Error).message}\nnginx output: ${nginxOut}\nerror.log: ${log}`);
    }
    p = await startProxy({ apps: [{ name: 'static', hostnames: ['static.test'], machines: [machine('nginx-1', 'fra', port)] }] });
  });

  after(async () => {
    p?.close();
    if (nginx && nginx.exitCode === null) {
      nginx.kill('SIGTERM');
      await exited;
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('relays a static body and a 3 MB file from nginx intact', async () => {
    const hello = await send(p!.port, 'static.test', { path: '/hello' });
    assert.equal(hello.status, 200);
    assert.equal(hello.body, 'hello from nginx\n');
    assert.match(String(hello.headers.server), /^nginx/);
    assert.match(String(hello.headers.via), /1\.1 starling/);

    const file = await getBuf(p!.port, '/files/big.bin');
    assert.equal(file.status, 200);
    assert.equal(file.headers['content-length'], String(FILE.length));
    assert.equal(file.body.length, FILE.length);
    assert.equal(sha256(file.body), sha256(FILE));

    const head = await getBuf(p!.port, '/files/big.bin', 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], String(FILE.length));
    assert.equal(head.body.length, 0);

    const missing = await send(p!.port, 'static.test', { path: '/files/nope' });
    assert.equal(missing.status, 404);
  });

  it('reuses one nginx connection for sequential requests, from separate client connections', async () => {
    const seen: [number, number][] = [];
    for (let i = 0; i < 5; i++) {
      const r = await send(p!.port, 'static.test', { path: '/conn' });
      assert.equal(r.status, 200);
      const [conn, n] = r.body.split(' ').map(Number);
      seen.push([conn!, n!]);
    }
    const conns = new Set(seen.map(([c]) => c));
    assert.equal(conns.size, 1, `nginx saw connections ${[...conns].join(', ')} for 5 requests`);
    for (let i = 1; i < seen.length; i++) assert.equal(seen[i]![1], seen[i - 1]![1] + 1, 'requests counted on one connection');
  });

  it('keeps the client connection alive too (http.Agent keepAlive)', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const reused: boolean[] = [];
      for (let i = 0; i < 3; i++) {
        const r = await getBuf(p!.port, '/hello', 'GET', agent);
        assert.equal(r.body.toString(), 'hello from nginx\n');
        reused.push(r.reused);
      }
      assert.deepEqual(reused, [false, true, true]);
    } finally {
      agent.destroy();
    }
  });
});
