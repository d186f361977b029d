import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RawConn, startRawUpstream, type RawUpstream } from '../helpers/raw.js';
import { machine, startProxy, type TestProxy } from '../helpers/proxy.js';
import { waitFor } from '../helpers/wait.js';

/**
 * fly's `[http_service.http_options] idle_timeout` over real sockets: an app with idle_timeout = 1
 * (second) has its idle kept-alive connections, stalled responses and silent upgraded connections
 * closed after that long; the same machine behind an app without it keeps the proxy's own limits
 * (60 s for the first two, none for upgrades). The proxy's sweep runs once a second, so "after 1 s"
 * is within about 2 s.
 */
describe('proxy idle_timeout', { timeout: 60_000 }, () => {
  let up: RawUpstream;
  let p: TestProxy;

  before(async () => {
    up = await startRawUpstream((socket, head) => {
      const path = head.split(' ')[1];
      if (/\r\nupgrade:/i.test(head)) {
        // Switches protocols, then says nothing unless spoken to.
        socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: echo\r\nconnection: Upgrade\r\n\r\n');
        socket.removeAllListeners('data');
        socket.on('data', (d: Buffer) => socket.write(d));
      } else if (path === '/stall') socket.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nfirst bytes');
      else socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    });
    const app = (name: string, extra: Record<string, unknown>) => ({ name, hostnames: [`${name}.test`], machines: [machine(`${name}-1`, 'fra', up.port)], ...extra });
    p = await startProxy({ apps: [app('idle', { idle_timeout: 1 }), app('plain', {})] });
  });

  after(async () => {
    p.close();
    await up.close();
  });

  async function both(request: (host: string) => string, settle: (c: RawConn) => Promise<void>): Promise<{ idle: RawConn; plain: RawConn }> {
    const [idle, plain] = await Promise.all([RawConn.open(p.port), RawConn.open(p.port)]);
    idle.write(request('idle.test'));
    plain.write(request('plain.test'));
    await Promise.all([settle(idle), settle(plain)]);
    return { idle, plain };
  }

  it('closes a kept-alive connection idle for idle_timeout; the proxy default keeps the other open', async () => {
    const { idle, plain } = await both((h) => `GET / HTTP/1.1\r\nHost: ${h}\r\n\r\n`, async (c) => void (await c.responses(1)));
    try {
      await idle.waitClosed('the idle app to close its kept-alive connection', 4000);
      assert.equal(plain.closed, false, 'the app without idle_timeout keeps the 60 s default');
    } finally {
      idle.close();
      plain.close();
    }
  });

  it('cuts a response whose body stops for idle_timeout', async () => {
    const { idle, plain } = await both((h) => `GET /stall HTTP/1.1\r\nHost: ${h}\r\n\r\n`, (c) => c.until((t) => t.includes('first bytes'), 'the first body bytes'));
    try {
      await idle.waitClosed('the stalled response to be cut', 4000);
      assert.equal(plain.closed, false, 'the default response idle limit is 60 s');
      assert.equal(p.proxy.metricsText().includes('starling_proxy_response_idle_timeouts_total{app="idle"} 1'), true);
    } finally {
      idle.close();
      plain.close();
    }
  });

  it('closes an upgraded connection that carries nothing for idle_timeout, not one that keeps talking; none without it', async () => {
    const upgrade = (h: string) => `GET /ws HTTP/1.1\r\nHost: ${h}\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n`;
    const { idle, plain } = await both(upgrade, (c) => c.until((t) => t.includes('101 Switching Protocols'), 'the 101'));
    const talking = await RawConn.open(p.port);
    talking.write(upgrade('idle.test'));
    await talking.until((t) => t.includes('101 Switching Protocols'), 'the 101');
    try {
      // `talking` sends a byte every 300 ms and gets it back; `idle` says nothing.
      let n = 0;
      const started = Date.now();
      await waitFor(() => {
        if (!talking.closed && Date.now() - started > n * 300) talking.write(`${n++ % 10}`);
        return idle.closed;
      }, 'the silent upgraded connection to be closed', 4000);
      assert.equal(talking.closed, false, 'bytes through the tunnel keep it open');
      assert.equal(plain.closed, false, 'an app without idle_timeout has no idle limit on upgrades');
      await talking.until((t) => t.endsWith(`${(n - 1) % 10}`), 'the echo of the last byte');
    } finally {
      idle.close();
      plain.close();
      talking.close();
    }
  });
});
