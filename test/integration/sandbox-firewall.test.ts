/**
 * A machine reaches nothing on its host but the platform's public ports. Regression for what a user
 * reproduced: the kernel's local table is consulted before the per-machine block rule, so a machine
 * reached every host service on 0.0.0.0 (BIRD's BGP port on its gateway address, the agent's admin
 * API…) and other machines' host-side addresses. Real nftables, real sockets: the machine scans
 * every TCP port of its gateway. Needs root, bubblewrap, iproute2 and nftables.
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SandboxDriver, type DriverMachine, type SandboxTraces } from '../../src/runtime/index.js';
import { Logger, SystemClock } from '../../src/shared/index.js';
import { getJson } from '../conformance/runtime-driver.js';
import { probeImage, probeSpec, runProbe } from '../helpers/probe-app.js';
import { waitFor } from '../helpers/wait.js';

if (process.getuid?.() !== 0) throw new Error('sandbox firewall tests: run as root (they create network namespaces and nftables tables)');

/** A TCP listener on 0.0.0.0 (every host address, the machines' gateways included); counts connections. */
async function listen(): Promise<{ server: Server; port: number; accepted: () => number }> {
  let n = 0;
  const server = createServer((c) => {
    n++;
    c.on('error', () => undefined); // the scanner resets right after connecting
    c.end('host service\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
  return { server, port: (server.address() as AddressInfo).port, accepted: () => n };
}

describe('a machine reaches nothing on its host but the public ports', { timeout: 180_000 }, () => {
  const clock = new SystemClock();
  const logger = new Logger({ write: () => true }, 'error');
  let workDir: string;
  let driver: SandboxDriver;
  let a: DriverMachine;
  let b: DriverMachine;
  let ta: SandboxTraces;
  let tb: SandboxTraces;
  let bird: Awaited<ReturnType<typeof listen>>;
  let admin: Awaited<ReturnType<typeof listen>>;
  let proxy: Awaited<ReturnType<typeof listen>>;
  let udp: UdpSocket;
  let udpPort: number;
  const datagrams: string[] = [];

  before(async () => {
    // Stand-ins for what a host runs on 0.0.0.0: BIRD (any free port here, 179 in production), the
    // agent's admin API, and the proxy, the one public port.
    [bird, admin, proxy] = [await listen(), await listen(), await listen()];
    udp = createSocket('udp4').on('message', (msg) => datagrams.push(msg.toString()));
    await new Promise<void>((resolve) => udp.bind(0, '0.0.0.0', resolve));
    udpPort = udp.address().port;
    const probe = await probeImage('starling-firewall-');
    workDir = probe.workDir;
    const net = `172.31.${10 + Math.floor(Math.random() * 240)}.0/24`;
    driver = new SandboxDriver({ stateDir: join(workDir, 'state'), bridge: { name: 'stfw', cidr: net }, publicPorts: [proxy.port], clock, logger });
    [a, b] = await Promise.all([runProbe(driver, probeSpec(probe.image, 'fw-a')), runProbe(driver, probeSpec(probe.image, 'fw-b'))]);
    [ta, tb] = [driver.traces(a)!, driver.traces(b)!];
  });

  after(async () => {
    await driver?.close();
    for (const l of [bird, admin, proxy]) l?.server.close();
    udp?.close();
    rmSync(workDir, { recursive: true, force: true });
  });

  it('a scan of every TCP port of its gateway finds only the public port, and fails fast', async () => {
    const t0 = performance.now();
    const r = (await getJson(a.address, `/scan?host=${ta.hostAddress}&from=1&to=65535`, 8080, 170_000)) as { open: number[]; timeouts: number };
    assert.deepEqual(r.open, [proxy.port], `open ports on the gateway: ${r.open.join(', ')} (BIRD stand-in ${bird.port}, admin API ${admin.port})`);
    assert.equal(r.timeouts, 0, 'refused ports answer at once (reset), no connect waits out a timeout');
    assert.equal(bird.accepted() + admin.accepted(), 0, 'no connection reached a host service');
    assert.ok(proxy.accepted() >= 1);
    console.log(`# 65535 ports scanned in ${Math.round(performance.now() - t0)} ms`);
  });

  it("another machine's host-side address is out of reach, even on the public port", async () => {
    for (const port of [proxy.port, bird.port, admin.port]) {
      const r = await getJson(a.address, `/connect?host=${tb.hostAddress}&port=${port}`);
      assert.equal(r.ok, false, `reached ${tb.hostAddress}:${port}`);
    }
    assert.equal((await getJson(b.address, `/connect?host=${ta.hostAddress}&port=${proxy.port}`)).ok, false);
    assert.equal((await getJson(b.address, `/connect?host=${tb.hostAddress}&port=${proxy.port}`)).ok, true, 'its own gateway, public port');
  });

  it('UDP to a host listener does not arrive', async () => {
    const before = proxy.accepted();
    const r = (await getJson(a.address, `/udp?host=${ta.hostAddress}&port=${udpPort}&count=20`)) as { sent: number; errors: string[] };
    assert.equal(r.sent, 20);
    // A marker after the datagrams, on the same path: once it has arrived, any datagram let through
    // would have been delivered before it.
    assert.equal((await getJson(a.address, `/connect?host=${ta.hostAddress}&port=${proxy.port}`)).ok, true);
    await waitFor(() => proxy.accepted() > before, 'the marker connection');
    assert.deepEqual(datagrams, []);
    assert.ok(r.errors.some((e) => e === 'EHOSTUNREACH' || e === 'ECONNREFUSED'), `the sender is told (icmp admin-prohibited): ${JSON.stringify(r.errors)}`);
  });

  it('the host still reaches the machine; the kernel holds the generated table', async () => {
    assert.equal(typeof (await getJson(a.address, '/')).id, 'string');
    const listed = execFileSync('nft', ['list', 'table', 'inet', ta.table], { encoding: 'utf8' });
    assert.match(listed, new RegExp(`iifname != "${ta.hostIf}" accept`));
    assert.match(listed, new RegExp(`ip daddr ${ta.hostAddress.replace(/\./g, '\\.')} tcp dport ${proxy.port} accept`));
  });

  it('destroying a machine removes its table', async () => {
    await driver.destroy(b);
    const tables = execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' });
    assert.ok(!tables.includes(tb.table), tables);
    assert.ok(tables.includes(ta.table));
  });
});
