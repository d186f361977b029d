/**
 * bench:mesh's `.internal` DNS part: Starling's server (startPrivateDns, in the benchmark's own
 * process, which does nothing else meanwhile) and BIND's named (one worker thread, `-n 1`, as
 * Starling is one thread) answering the same 20 AAAA records for `bench.internal`, both on
 * 127.0.0.1, each loaded by the same UDP client (mesh-tool.ts `dns`, a process of its own).
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import dnsPacket from 'dns-packet';
import { hostAddress, machineAddress } from '../../src/mesh/index.js';
import { startPrivateDns, type DnsInstance, type DnsView, type PrivateDns } from '../../src/private-dns/index.js';
import { silentLogger, SystemClock } from '../../src/shared/index.js';
import { groupCpuMs } from './cpu.js';
import { MESH_PREFIX } from './mesh-tunnels.js';
import { run, spawnManaged, stop, type Managed } from './procs.js';
import { BenchError, round1, round3 } from './util.js';

export const DNS_APP = 'bench';
export const DNS_ORG = 'bench-org';
export const DNS_INSTANCES = 20;
export const DNS_NAME = `${DNS_APP}.internal`;
export const TOOL = fileURLToPath(new URL('./mesh-tool.js', import.meta.url));

/** The view both servers serve: 20 started instances of one app, on two hosts of the plan. */
export function benchView(): DnsView {
  const instances: DnsInstance[] = [];
  for (let i = 0; i < DNS_INSTANCES; i++) {
    const id = (0x100000000000 + i).toString(16);
    instances.push({ id, app: DNS_APP, org: DNS_ORG, region: i % 2 === 0 ? 'fra' : 'lhr', group: 'app', address: machineAddress(hostAddress(MESH_PREFIX, 1 + (i % 2)), DNS_ORG, id), started: true });
  }
  return { instances, apps: [{ name: DNS_APP, org: DNS_ORG }] };
}

/** An AAAA query for bench.internal with RD and EDNS (1232): 20 AAAA records do not fit in 512. */
export function benchQuery(): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id: 0,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type: 'AAAA', name: DNS_NAME }],
    additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }],
  });
}

export interface DnsServer {
  what: string;
  port: number;
  /** CPU ms the server has used so far. */
  cpuMs(): number | undefined;
  stop(): Promise<void>;
}

export async function startStarlingDns(): Promise<DnsServer> {
  const view = benchView();
  const dns: PrivateDns = await startPrivateDns({
    listen: { host: '127.0.0.1', port: 0 },
    view: () => view,
    askerOf: () => ({ org: DNS_ORG, region: 'fra' }),
    clock: new SystemClock(),
    logger: silentLogger,
  });
  const cpu = (): number => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  return { what: 'starling', port: dns.address.port, cpuMs: cpu, stop: () => dns.close() };
}

/** A port free on 127.0.0.1 for both TCP and UDP a moment ago (named wants both). */
async function freeUdpTcpPort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const tcp = net.createServer();
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(0, '127.0.0.1', resolve);
    });
    const port = (tcp.address() as net.AddressInfo).port;
    const udp = dgram.createSocket('udp4');
    const free = await new Promise<boolean>((resolve) => {
      udp.once('error', () => resolve(false));
      udp.bind(port, '127.0.0.1', () => resolve(true));
    });
    if (free) udp.close();
    await new Promise((r) => tcp.close(r));
    if (free) return port;
  }
  throw new BenchError('no port free for both TCP and UDP on 127.0.0.1');
}

/** One query, the reply's answer count, or undefined on no answer within `timeoutMs`. */
function askOnce(port: number, timeoutMs: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const done = (v: number | undefined): void => {
      clearTimeout(timer);
      s.close();
      resolve(v);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    s.on('message', (m: Buffer) => done(m.length >= 12 && (m.readUInt16BE(2) & 0xf) === 0 ? m.readUInt16BE(6) : undefined));
    s.on('error', () => done(undefined));
    s.send(benchQuery(), port, '127.0.0.1');
  });
}

/**
 * named with the same records in zone `internal.` (TTL 5 as Starling's), authoritative only
 * (recursion no), minimal-responses (no NS in the authority section, as Starling's answers have
 * none), one worker thread, no rndc, in the foreground; config and zone in `dir`.
 */
export async function startNamed(named: string, dir: string): Promise<DnsServer> {
  const port = await freeUdpTcpPort();
  const conf = join(dir, 'named.conf');
  const zone = join(dir, 'internal.zone');
  writeFileSync(conf, [
    'options {',
    `  directory "${dir}";`,
    `  listen-on port ${port} { 127.0.0.1; };`,
    '  listen-on-v6 { none; };',
    '  recursion no;',
    '  minimal-responses yes;',
    '  dnssec-validation no;',
    '  notify no;',
    `  pid-file "${join(dir, 'named.pid')}";`,
    `  session-keyfile "${join(dir, 'session.key')}";`,
    '};',
    'controls { };',
    `zone "internal" { type primary; file "${zone}"; };`,
    '',
  ].join('\n'));
  writeFileSync(zone, [
    '$TTL 5',
    '@ IN SOA ns.internal. hostmaster.internal. 1 3600 600 604800 5',
    '@ IN NS ns.internal.',
    'ns IN A 127.0.0.1',
    ...benchView().instances.map((i) => `${DNS_APP} IN AAAA ${i.address}`),
    '',
  ].join('\n'));
  const proc: Managed = spawnManaged('named', named, ['-g', '-n', '1', '-c', conf], join(dir, 'named.log'));
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (proc.hasExited()) throw new BenchError(`named exited during start-up (see ${proc.logFile})`);
    const answers = await askOnce(port, 200);
    if (answers === DNS_INSTANCES) break;
    if (answers !== undefined) throw new BenchError(`named answered ${DNS_NAME} with ${answers} records, not ${DNS_INSTANCES} (see ${proc.logFile})`);
    if (Date.now() > deadline) throw new BenchError(`named did not answer on 127.0.0.1:${port} within 15 s (see ${proc.logFile})`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { what: 'named', port, cpuMs: () => groupCpuMs(proc.child.pid), stop: () => stop(proc) };
}

export interface DnsRun {
  qps: number;
  p50_ms: number;
  p99_ms: number;
  ok: number;
  errors: number;
  first_error: string | null;
  /** The server's CPU time over the run, % of one core. */
  server_cpu_pct: number | null;
  client_cpu_pct: number;
}

interface ToolDns {
  ok: number;
  errors: number;
  first_error: string | null;
  seconds: number;
  qps: number;
  p50_ms: number;
  p99_ms: number;
  cpu_pct: number;
}

/** The client against `server` for `seconds` with `inflight` queries in flight. */
export async function loadDns(server: DnsServer, seconds: number, inflight: number): Promise<DnsRun> {
  const hex = benchQuery().toString('hex');
  const c0 = server.cpuMs();
  const r = await run(`dns client → ${server.what}`, process.execPath, [TOOL, 'dns', '127.0.0.1', String(server.port), String(seconds), String(inflight), hex, String(DNS_INSTANCES)]);
  const c1 = server.cpuMs();
  if (r.code !== 0) throw new BenchError(`the DNS client against ${server.what} failed: ${r.output.trim()}`);
  const res = JSON.parse(r.output.trim().split('\n').at(-1) ?? '{}') as ToolDns;
  return {
    qps: Math.round(res.qps),
    p50_ms: round3(res.p50_ms),
    p99_ms: round3(res.p99_ms),
    ok: res.ok,
    errors: res.errors,
    first_error: res.first_error,
    // Over the client's measured window: the server is idle before the client starts and after it stops.
    server_cpu_pct: c0 === undefined || c1 === undefined ? null : round1(((c1 - c0) / (res.seconds * 1000)) * 100),
    client_cpu_pct: res.cpu_pct,
  };
}
