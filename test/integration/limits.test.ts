/**
 * The shared limits: the per-address key of the connection caps, the caps themselves on real
 * loopback sockets, the proxy's open-files check, and the token bucket on a ManualClock.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { openFilesLimit, warnOnOpenFilesLimit } from '../../src/proxy/index.js';
import { ConnectionGate, Logger, ManualClock, RateLimiter, addressKey, isStarlingError } from '../../src/shared/index.js';
import { waitFor } from '../helpers/wait.js';

describe('addressKey', () => {
  it('counts IPv4 (mapped too) by address and IPv6 by /64', () => {
    assert.equal(addressKey('192.0.2.7'), '192.0.2.7');
    assert.equal(addressKey('::ffff:192.0.2.7'), '192.0.2.7');
    assert.equal(addressKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
    assert.equal(addressKey('2001:0db8:0001:0002:bbbb:cccc:dddd:eeee'), '2001:db8:1:2::/64');
    assert.equal(addressKey('2001:db8::1'), '2001:db8:0:0::/64');
    assert.equal(addressKey('::1'), '0:0:0:0::/64');
    assert.equal(addressKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
    assert.equal(addressKey(undefined), '?');
    assert.equal(addressKey('::FFFF:192.0.2.7'), '192.0.2.7', 'upper-case mapped form');
    assert.equal(addressKey('::ffff:c000:207'), '0:0:0:0::/64', 'hex-written mapped form is IPv6 text');
  });
});

describe('ConnectionGate', () => {
  it('refuses connections over the per-address cap and over the total, and frees slots on close', async () => {
    const gate = new ConnectionGate({ maxConnections: 3, maxPerAddress: 2 });
    const server = net.createServer((s) => s.on('error', () => undefined));
    gate.attach(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const open = (local: string): Promise<net.Socket> =>
      new Promise((resolve, reject) => {
        const s = net.connect({ port, host: '127.0.0.1', localAddress: local }, () => resolve(s));
        s.on('error', reject);
      });
    const closedByServer = (s: net.Socket): Promise<void> => new Promise((r) => (s.destroyed ? r() : s.once('close', () => r())));
    try {
      const a1 = await open('127.0.0.1');
      const a2 = await open('127.0.0.1');
      await waitFor(() => gate.stats().open === 2, 'two admitted', 20_000, 5);
      const a3 = await open('127.0.0.1');
      await closedByServer(a3);
      assert.equal(gate.stats().refusedPerAddress, 1, 'the third from one address is refused');
      const b1 = await open('127.0.0.2');
      await waitFor(() => gate.stats().open === 3, 'another address still gets in', 20_000, 5);
      const c1 = await open('127.0.0.3');
      await closedByServer(c1);
      assert.equal(gate.stats().refusedTotal, 1, 'over the total');
      a1.destroy();
      await waitFor(() => gate.stats().open === 2, 'a closed connection frees its slot', 20_000, 5);
      const a4 = await open('127.0.0.1');
      await waitFor(() => gate.stats().open === 3, 'admitted again', 20_000, 5);
      assert.equal(gate.stats().lastRefused, '127.0.0.3', 'the last refused address, for the log line');
      for (const s of [a2, b1, a4]) s.destroy();
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});

describe('ConnectionGate limits', () => {
  it('refuses caps that are not whole numbers with 1 ≤ per address ≤ total', () => {
    for (const [maxConnections, maxPerAddress] of [[0, 0], [10, 0], [10, 11], [1.5, 1], [10, Number.NaN]] as const) {
      assert.throws(
        () => new ConnectionGate({ maxConnections, maxPerAddress }),
        (e: unknown) => isStarlingError(e, 'ERR_CONNECTION_LIMITS') && e.fault === 'user',
        `${maxConnections}/${maxPerAddress}`,
      );
    }
    assert.doesNotThrow(() => new ConnectionGate({ maxConnections: 1, maxPerAddress: 1 }));
  });
});

describe('the open-files check of the proxy', () => {
  const limits = (n: string): string =>
    `Limit                     Soft Limit           Hard Limit           Units     \nMax open files            ${n}                ${n}                files     \n`;
  it('reads the soft limit from /proc/self/limits text, and leaves "unlimited" or an unreadable file unchecked', () => {
    assert.equal(openFilesLimit(limits('20000')), 20000);
    assert.equal(openFilesLimit(limits('unlimited')), undefined);
    assert.equal(openFilesLimit('nothing here'), undefined);
    const own = openFilesLimit();
    assert.ok(own === undefined || own > 0);
  });
  it('warns below twice max_connections (each request in flight holds a client and a machine socket)', () => {
    const lines: Record<string, unknown>[] = [];
    const logger = new Logger({ write: (l: string) => lines.push(JSON.parse(l) as Record<string, unknown>) }, 'debug');
    assert.equal(warnOnOpenFilesLimit(logger, 50_000, limits('99999')), true);
    assert.equal(lines[0]?.level, 'warn');
    assert.equal(lines[0]?.open_files_limit, 99_999);
    assert.match(String(lines[0]?.hint), /at least 100000/);
    assert.equal(warnOnOpenFilesLimit(logger, 50_000, limits('100000')), false);
    assert.equal(warnOnOpenFilesLimit(logger, 50_000, limits('unlimited')), false);
    assert.equal(lines.length, 1);
  });
});

describe('RateLimiter', () => {
  it('allows a burst, then the sustained rate, with a Retry-After in whole seconds', () => {
    const clock = new ManualClock();
    const rl = new RateLimiter({ perSecond: 2, burst: 3 }, clock);
    assert.deepEqual([rl.take('t'), rl.take('t'), rl.take('t')].map((d) => d.ok), [true, true, true]);
    const refused = rl.take('t');
    assert.deepEqual(refused, { ok: false, retryAfterS: 1 });
    assert.equal(rl.take('other').ok, true, 'keys are independent');
    clock.advance(500);
    assert.equal(rl.take('t').ok, true, 'one token back after half a second at 2/s');
    assert.equal(rl.take('t').ok, false);
    clock.advance(10_000);
    assert.deepEqual([rl.take('t'), rl.take('t'), rl.take('t'), rl.take('t')].map((d) => d.ok), [true, true, true, false], 'refills to the burst, not beyond');
  });

  it('says how long to wait when the rate is below one per second', () => {
    const clock = new ManualClock();
    const rl = new RateLimiter({ perSecond: 0.25, burst: 1 }, clock);
    assert.equal(rl.take('t').ok, true);
    assert.deepEqual(rl.take('t'), { ok: false, retryAfterS: 4 });
  });

  it('forgets refilled keys when it holds too many', () => {
    const clock = new ManualClock();
    const rl = new RateLimiter({ perSecond: 10, burst: 1 }, clock, 3);
    for (const k of ['a', 'b', 'c']) rl.take(k);
    clock.advance(1000);
    rl.take('d');
    assert.ok(rl.size <= 3, `holds ${rl.size} keys`);
    assert.equal(rl.take('d').ok, false, 'the new key is kept');
  });
});
