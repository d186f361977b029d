import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { MachineChecks, checksChannel, type CheckResult, type MachineChecksOptions } from '../../src/runtime/checks.js';
import type { CheckSpec } from '../../src/runtime/types.js';
import { ManualClock } from '../../src/shared/index.js';
import { waitFor } from '../helpers/wait.js';

/** The "machine": real servers on 127.0.0.1, port 0. */
async function listen(server: net.Server, port = 0): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return (server.address() as net.AddressInfo).port;
}

function close(server: net.Server): Promise<void> {
  return new Promise((resolve) => {
    if (server instanceof http.Server) server.closeAllConnections();
    server.close(() => resolve());
  });
}

const http_ = (o: Partial<CheckSpec> = {}): CheckSpec => ({
  type: 'http',
  path: '/healthz',
  grace_period_ms: 0,
  interval_ms: 1000,
  timeout_ms: 500,
  ...o,
});
const tcp = (o: Partial<CheckSpec> = {}): CheckSpec => ({ type: 'tcp', grace_period_ms: 0, interval_ms: 1000, timeout_ms: 500, ...o });

describe('MachineChecks against real servers', () => {
  const cleanup: (() => unknown)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  async function healthServer(): Promise<{ port: number; set(code: number): void; hits: () => number }> {
    let code = 200;
    let hits = 0;
    const server = http.createServer((req, res) => {
      hits++;
      res.writeHead(req.url === '/healthz' ? code : 404).end('ok');
    });
    const port = await listen(server);
    cleanup.push(() => close(server));
    return { port, set: (c) => (code = c), hits: () => hits };
  }

  function make(o: Partial<MachineChecksOptions> & { checks: CheckSpec[] }) {
    const clock = new ManualClock();
    const changes: { passing: boolean; statuses: string[] }[] = [];
    const checks = new MachineChecks({
      address: '127.0.0.1',
      defaultPort: 1,
      clock,
      onChange: (passing: boolean, results: CheckResult[]) => changes.push({ passing, statuses: results.map((r) => r.status) }),
      ...o,
    });
    cleanup.push(() => checks.stop());
    return { clock, checks, changes };
  }

  it('HTTP: 2xx/3xx pass, 5xx is critical, and back', async () => {
    const origin = await healthServer();
    const { clock, checks, changes } = make({ checks: [http_()], defaultPort: origin.port });
    assert.deepEqual(checks.status().checks.map((c) => c.status), ['warming']);
    checks.start();
    await checks.idle();
    const s = checks.status();
    assert.equal(s.passing, true);
    assert.deepEqual(s.checks, [{ name: `http:${origin.port}/healthz`, status: 'passing', output: 'HTTP 200', last: new Date(clock.now()).toISOString(), failures: 0 }]);

    origin.set(503);
    clock.advance(1000);
    await checks.idle();
    assert.deepEqual(checks.status().checks.map((c) => [c.status, c.output]), [['critical', 'HTTP 503']]);
    assert.equal(checks.status().passing, false);

    origin.set(302);
    await checks.runOnce();
    assert.equal(checks.status().passing, true);
    assert.deepEqual(changes, [
      { passing: true, statuses: ['passing'] },
      { passing: false, statuses: ['critical'] },
      { passing: true, statuses: ['passing'] },
    ]);
    assert.equal(origin.hits(), 3);
  });

  it('TCP: passes while the port accepts, critical when it refuses; all checks must pass', async () => {
    const origin = await healthServer();
    const server = net.createServer((s) => s.destroy());
    const port = await listen(server);
    const events: unknown[] = [];
    const onEvent = (e: unknown): void => void events.push(e);
    checksChannel.subscribe(onEvent);
    cleanup.push(() => checksChannel.unsubscribe(onEvent));
    const { checks } = make({ checks: [tcp({ port }), http_()], defaultPort: origin.port, machineId: 'm-tcp' });
    checks.start();
    await checks.idle();
    assert.equal(checks.status().passing, true);
    assert.deepEqual(checks.status().checks.map((c) => c.name), [`tcp:${port}`, `http:${origin.port}/healthz`]);

    await close(server);
    await checks.runOnce();
    const [t, h] = checks.status().checks;
    assert.equal(t?.status, 'critical');
    assert.match(t?.output ?? '', /ECONNREFUSED/);
    assert.equal(h?.status, 'passing');
    assert.equal(checks.status().passing, false);
    assert.deepEqual(events.at(-1), { type: 'check', machine: 'm-tcp', name: `tcp:${port}`, status: 'critical', output: t?.output });

    const again = net.createServer((s) => s.destroy());
    await listen(again, port);
    cleanup.push(() => close(again));
    await checks.runOnce();
    assert.equal(checks.status().passing, true);
  });

  it('times out on a server that accepts but never answers', async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((s) => sockets.push(s));
    const port = await listen(silent);
    cleanup.push(() => close(silent));
    cleanup.push(() => sockets.forEach((s) => s.destroy()));
    const { clock, checks } = make({ checks: [http_({ port, timeout_ms: 2000 })] });
    const round = checks.runOnce();
    await waitFor(() => sockets.length === 1, 'the check to connect');
    clock.advance(1999);
    assert.equal(checks.status().checks[0]?.last, undefined, 'still waiting before the timeout');
    clock.advance(1);
    await round;
    assert.deepEqual(checks.status().checks.map((c) => [c.status, c.output]), [['critical', 'timed out after 2000 ms']]);
  });

  it('grace period: failures while starting are warming, critical once it ends', async () => {
    const origin = await healthServer();
    origin.set(500);
    const spec = http_({ grace_period_ms: 5000, interval_ms: 1000 });
    const { clock, checks, changes } = make({ checks: [spec], defaultPort: origin.port, warmupIntervalMs: 250 });
    checks.start();
    await checks.idle();
    assert.deepEqual(checks.status(), {
      passing: false,
      checks: [{ name: `http:${origin.port}/healthz`, status: 'warming', output: 'HTTP 500', last: new Date(clock.now()).toISOString(), failures: 0 }],
    });
    // Warm-up: within the grace period a failing check repeats every 250 ms, not every 1000 ms.
    clock.advance(250);
    await checks.idle();
    assert.equal(origin.hits(), 2);
    assert.equal(checks.status().checks[0]?.status, 'warming');

    clock.advance(4750); // grace ends: the last result (a failure) now counts
    assert.equal(checks.status().checks[0]?.status, 'critical');
    await checks.idle();
    assert.deepEqual(changes, [{ passing: false, statuses: ['critical'] }]);

    // Past the grace period the check runs at interval_ms.
    const hits = origin.hits();
    clock.advance(999);
    await checks.idle();
    assert.equal(origin.hits(), hits);
    origin.set(200);
    clock.advance(1);
    await checks.idle();
    assert.equal(origin.hits(), hits + 1);
    assert.equal(checks.status().passing, true);
  });

  it('a machine that becomes healthy during the grace period passes without ever being critical', async () => {
    const origin = await healthServer();
    origin.set(503);
    const { clock, checks, changes } = make({ checks: [http_({ grace_period_ms: 10_000, interval_ms: 15_000 })], defaultPort: origin.port });
    checks.start();
    await checks.idle();
    origin.set(200);
    clock.advance(100); // default warm-up interval
    await checks.idle();
    assert.equal(checks.status().passing, true);
    assert.deepEqual(changes, [{ passing: true, statuses: ['passing'] }]);
  });

  it('no checks: passing from the start; stop() aborts a run in flight', async () => {
    const { checks } = make({ checks: [] });
    assert.deepEqual(checks.status(), { passing: true, checks: [] });
    checks.start();
    await checks.runOnce();
    assert.equal(checks.status().passing, true);

    const sockets: net.Socket[] = [];
    const silent = net.createServer((s) => sockets.push(s));
    const port = await listen(silent);
    cleanup.push(() => close(silent));
    cleanup.push(() => sockets.forEach((s) => s.destroy()));
    const stuck = make({ checks: [http_({ port, timeout_ms: 60_000 })] }).checks;
    stuck.start();
    await waitFor(() => sockets.length === 1, 'the check to connect');
    stuck.stop();
    await stuck.idle();
    assert.deepEqual(stuck.status().checks.map((c) => [c.status, c.last]), [['warming', undefined]]);
  });
});
