/**
 * Real clients through the edge's TCP services, against real servers as the machines: psql to a
 * PostgreSQL 15 server through `pg_tls` (the edge answers the SSLRequest and ends TLS, verified
 * against the test CA by name), and redis-cli to a Redis server raw and through `tls`.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { machine, startProxy, type TestProxy } from '../helpers/proxy.js';
import { makeCert, staticContexts } from '../helpers/tls.js';
import { waitFor } from '../helpers/wait.js';
import { freePort } from '../helpers/ports.js';

const run = promisify(execFile);
const PG_BIN = '/usr/lib/postgresql/15/bin';
const NAME = 'db.example.test';


async function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

describe('real clients through TCP services at the edge', () => {
  const dir = mkdtempSync(join(tmpdir(), 'starling-tcp-apps-'));
  const cert = makeCert([NAME]);
  const ca = join(dir, 'ca.pem');
  const children: ChildProcess[] = [];
  let proxy: TestProxy;
  const ports = { pg: 0, redis: 0, edgePg: 0, edgeRedis: 0, edgeRedisTls: 0 };

  before(async () => {
    writeFileSync(ca, cert.caPem);
    chmodSync(dir, 0o755);
    // PostgreSQL refuses to run as root: its cluster belongs to the postgres user (Debian's package).
    const pgdata = join(dir, 'pg');
    await run('install', ['-d', '-o', 'postgres', '-g', 'postgres', '-m', '0700', pgdata]);
    await run('runuser', ['-u', 'postgres', '--', `${PG_BIN}/initdb`, '-D', pgdata, '--auth=trust', '-U', 'postgres', '--no-sync']);
    ports.pg = await freePort();
    children.push(spawn('runuser', ['-u', 'postgres', '--', `${PG_BIN}/postgres`, '-D', pgdata, '-k', pgdata, '-c', 'listen_addresses=127.0.0.1', '-p', String(ports.pg), '-c', 'fsync=off'], { stdio: 'ignore' }));
    ports.redis = await freePort();
    const redisDir = join(dir, 'redis');
    await run('install', ['-d', '-m', '0777', redisDir]);
    children.push(spawn('redis-server', ['--port', String(ports.redis), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', redisDir], { stdio: 'ignore' }));
    await waitFor(async () => (await accepts(ports.pg)) && (await accepts(ports.redis)), 'PostgreSQL and Redis to listen');

    [ports.edgePg, ports.edgeRedis, ports.edgeRedisTls] = [await freePort(), await freePort(), await freePort()];
    proxy = await startProxy({
      apps: [],
      tcp_services: [
        { app: 'pg', ports: [{ port: ports.edgePg, handlers: ['pg_tls'] }], service: { internal_port: ports.pg }, machines: [machine('pg1', 'fra', 0, { port: undefined })] },
        {
          app: 'cache',
          ports: [{ port: ports.edgeRedis }, { port: ports.edgeRedisTls, handlers: ['tls'] }],
          service: { internal_port: ports.redis },
          machines: [machine('r1', 'fra', 0, { port: undefined })],
        },
      ],
    });
    proxy.proxy.serveTcp('127.0.0.1', staticContexts({ [NAME]: cert }));
    await waitFor(() => proxy.proxy.tcpPorts().length === 3, 'the edge to bind its TCP ports');
  });

  after(async () => {
    proxy?.close();
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))));
    rmSync(dir, { recursive: true, force: true });
  });

  const psql = (conninfo: string, sql: string) => run('psql', [conninfo, '-X', '-A', '-t', '-c', sql], { env: { ...process.env, PGCONNECT_TIMEOUT: '10' } });

  it('psql reaches PostgreSQL through pg_tls, verifying the edge certificate by name', async () => {
    const conn = `host=${NAME} hostaddr=127.0.0.1 port=${ports.edgePg} user=postgres dbname=postgres sslmode=verify-full sslrootcert=${ca}`;
    const { stdout } = await psql(conn, 'select 6 * 7');
    assert.equal(stdout.trim(), '42');
    // The machine (PostgreSQL, no TLS of its own) sees a plain connection: TLS ended at the edge.
    const ssl = await psql(conn, 'select ssl from pg_stat_ssl where pid = pg_backend_pid()');
    assert.equal(ssl.stdout.trim(), 'f');
  });

  it('refuses a PostgreSQL client that does not ask for SSL, in words psql shows', async () => {
    await assert.rejects(psql(`host=127.0.0.1 port=${ports.edgePg} user=postgres dbname=postgres sslmode=disable`, 'select 1'), (e: Error & { stderr?: string }) => {
      assert.match(e.stderr ?? '', /this service requires SSL/);
      return true;
    });
  });

  it('redis-cli reaches Redis raw and through TLS ended at the edge', async () => {
    await run('redis-cli', ['-h', '127.0.0.1', '-p', String(ports.edgeRedis), 'SET', 'greeting', 'hello through the edge']);
    const tlsGet = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(ports.edgeRedisTls), '--tls', '--sni', NAME, '--cacert', ca, 'GET', 'greeting']);
    assert.equal(tlsGet.stdout.trim(), 'hello through the edge');
    const direct = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(ports.redis), 'GET', 'greeting']);
    assert.equal(direct.stdout.trim(), 'hello through the edge', 'the same server');
  });
});
