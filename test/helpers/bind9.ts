import dgram from 'node:dgram';
import net from 'node:net';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from './wait.js';

/**
 * Tier-3 launcher for a real bind9 (Debian package `bind9`, /usr/sbin/named) on loopback: one
 * primary zone that accepts RFC 2136 updates signed with one TSIG key, no recursion, no rndc
 * (`controls { }`). named runs in the foreground (-g: logs to stderr, never daemonizes) as the
 * current user; as root it needs no -u. The secret is written to the config file (mode 0600), never
 * put on named's command line.
 */
export interface Bind9 {
  /** "127.0.0.1:PORT", as Rfc2136Solver and Pebble's -dnsserver take it. */
  server: string;
  port: number;
  zone: string;
  keyName: string;
  algorithm: 'hmac-sha256' | 'hmac-sha512';
  /** The TSIG secret, base64. */
  secret: string;
  /** The records of `type` at `name` as dig prints them (+short), asked over TCP. */
  dig(name: string, type: string): Promise<string[]>;
  /** What named printed so far, for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

const NAMED = '/usr/sbin/named';
const run = promisify(execFile);

export async function startBind9(
  opts: {
    zone?: string;
    keyName?: string;
    algorithm?: 'hmac-sha256' | 'hmac-sha512';
    /** More zone-file lines, e.g. `www IN A 127.0.0.1`. */
    records?: readonly string[];
  } = {},
): Promise<Bind9> {
  if (!existsSync(NAMED)) throw new Error('bind9 is needed for this test: apt-get install -y bind9 bind9-dnsutils (or npm run setup)');
  const zone = opts.zone ?? 'example.test';
  const keyName = opts.keyName ?? 'starling-acme';
  const algorithm = opts.algorithm ?? 'hmac-sha256';
  const secret = randomBytes(32).toString('base64');
  const dir = mkdtempSync(join(tmpdir(), 'starling-bind9-'));
  const port = await freeLoopbackPort();
  writeFileSync(join(dir, 'named.conf'), [
    'options {',
    `  directory "${dir}";`,
    `  listen-on port ${port} { 127.0.0.1; };`,
    '  listen-on-v6 { none; };',
    '  recursion no;',
    '  dnssec-validation no;',
    `  pid-file "${join(dir, 'named.pid')}";`,
    `  session-keyfile "${join(dir, 'session.key')}";`,
    '};',
    'controls { };',
    `key "${keyName}" { algorithm ${algorithm}; secret "${secret}"; };`,
    `zone "${zone}" { type primary; file "${join(dir, `${zone}.zone`)}"; allow-update { key "${keyName}"; }; };`,
    '',
  ].join('\n'), { mode: 0o600 });
  writeFileSync(join(dir, `${zone}.zone`), [
    '$TTL 60',
    `@ IN SOA ns.${zone}. hostmaster.${zone}. 1 3600 600 604800 60`,
    `@ IN NS ns.${zone}.`,
    'ns IN A 127.0.0.1',
    ...(opts.records ?? []),
    '',
  ].join('\n'));

  let log = '';
  const child: ChildProcess = spawn(NAMED, ['-g', '-c', join(dir, 'named.conf')], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
  const kill = () => child.exitCode === null && child.kill('SIGKILL');
  process.once('exit', kill);
  const dig = async (name: string, type: string) => {
    const { stdout } = await run('dig', ['+short', '+tcp', '+norecurse', '+time=2', '+tries=1', '-p', String(port), '@127.0.0.1', name, type]);
    return stdout.split('\n').filter((l) => l.length > 0);
  };
  const stop = async () => {
    await stopChild(child);
    process.off('exit', kill);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`named exited during start-up:\n${log}`);
        return (await dig(zone, 'SOA').catch(() => [])).length > 0;
      },
      `named to answer SOA ${zone} on 127.0.0.1:${port}`,
      15_000,
      50,
    );
  } catch (e) {
    await stop();
    throw e;
  }
  return { server: `127.0.0.1:${port}`, port, zone, keyName, algorithm, secret, dig, output: () => log, stop };
}

/** A port free on 127.0.0.1 for both TCP and UDP at the time of asking. */
export async function freeLoopbackPort(): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const tcp = net.createServer();
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(0, '127.0.0.1', resolve);
    });
    const port = (tcp.address() as net.AddressInfo).port;
    const udp = dgram.createSocket('udp4');
    const udpFree = await new Promise<boolean>((resolve) => {
      udp.once('error', () => resolve(false));
      udp.bind(port, '127.0.0.1', () => resolve(true));
    });
    try {
      udp.close();
    } catch {
      // never bound
    }
    await new Promise((resolve) => tcp.close(resolve));
    if (udpFree) return port;
    if (attempt > 20) throw new Error('no port free for both TCP and UDP on 127.0.0.1');
  }
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
