/**
 * Connection caps at every listener (regression: 10,000 idle connections from one address held
 * 10,000 sockets, and nothing stopped more). The flood comes from a child process (helpers/flood.ts)
 * so this process keeps its descriptors for the proxy. The proxy runs on a ManualClock: no idle or
 * header timeout closes the flood while a test counts it.
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { DEFAULT_LIMITS } from '../../src/proxy/index.js';
import type { ManualClock } from '../../src/shared/index.js';
import { Flood } from '../helpers/flood.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { machine, startProxy, type TestProxy } from '../helpers/proxy.js';
import { h2Status, makeCert, staticContexts, type TestCert } from '../helpers/tls.js';
import { waitFor } from '../helpers/wait.js';

const HOST = 'web.test';
const FLOOD = 10_000;
/** The default max_connections_per_ip: the first tests run with the default caps. */
const PER_IP = 1000;
const routes = (port: number) => ({ apps: [{ name: 'web', hostnames: [HOST], machines: [machine('m1', 'fra', port)] }] });

/** A GET over plain HTTP from `localAddress`; rejects unless answered within `timeoutMs`. */
function getFrom(port: number, localAddress: string, timeoutMs = 3000): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, localAddress, headers: { host: HOST }, agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${localAddress} within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Connects from `localAddress`, sends `bytes`, and resolves with what came back once the proxy closed
 * the connection; a connection still open after `timeoutMs` resolves with what it got and a marker.
 */
function answerFrom(port: number, localAddress: string, bytes: string | Buffer, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress }, () => s.write(bytes));
    let got = '';
    const timer = setTimeout(() => {
      s.destroy();
      resolve(`${got}[still open after ${timeoutMs} ms]`);
    }, timeoutMs);
    s.on('data', (d: Buffer) => (got += d.toString('latin1')));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
  });
}

const refusedCount = (p: TestProxy, reason: string): number =>
  Number(new RegExp(`starling_proxy_connections_refused_total\\{reason="${reason}"\\} (\\d+)`).exec(p.proxy.metricsText())?.[1] ?? -1);
const refusalLines = (p: TestProxy): Record<string, unknown>[] => p.logs.filter((l) => String(l.msg).startsWith('connections refused'));

/**
 * Floods `port` with FLOOD idle connections from 127.0.0.1 and checks the proxy kept PER_IP of them:
 * the rest are closed by the proxy as soon as they are accepted.
 */
async function floodKeepsPerIpCap(p: TestProxy, flood: Flood, port: number): Promise<void> {
  const opened = await flood.open({ port, count: FLOOD, localAddress: '127.0.0.1' });
  assert.equal(opened.connected + opened.failed, FLOOD);
  await waitFor(
    async () => (await flood.status()).open <= PER_IP,
    `the proxy to close all but ${PER_IP} of ${FLOOD} connections from 127.0.0.1 (it holds ${(await flood.status()).open})`,
    20_000,
    50,
  );
  const st = await flood.status();
  assert.equal(st.open, PER_IP, `exactly the per-address cap is held: ${JSON.stringify(st)}`);
  assert.equal(p.proxy.connectionStats().open, PER_IP);
  assert.equal(refusedCount(p, 'per_address'), FLOOD - PER_IP);
  assert.equal(refusedCount(p, 'total'), 0);
}

describe('connection caps on the plain listener (defaults)', () => {
  let origin: Origin;
  let p: TestProxy;
  let flood: Flood;

  before(async () => {
    origin = await startOrigin('m1');
    p = await startProxy(routes(origin.port), { manualClock: true });
    flood = Flood.start();
  });
  after(async () => {
    await flood.close();
    p.close();
    await origin.close();
  });

  it(`${FLOOD} idle connections from one address: the proxy holds ${PER_IP}, refuses the rest at once, and serves another address`, async () => {
    await floodKeepsPerIpCap(p, flood, p.port);
    assert.equal(await getFrom(p.port, '127.0.0.2'), 200, 'a client from another address is served');
    assert.equal(await answerFrom(p.port, '127.0.0.1', `GET / HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`), '', 'one more from 127.0.0.1 is closed unanswered');
    assert.equal(refusedCount(p, 'per_address'), FLOOD - PER_IP + 1);

    // Logged from the sweep: one line for the whole burst, then nothing until the interval is over.
    const clock = p.clock as ManualClock;
    clock.advance(DEFAULT_LIMITS.sweepIntervalMs);
    assert.equal(refusalLines(p).length, 1, JSON.stringify(refusalLines(p)));
    assert.equal(refusalLines(p)[0]!.refused_per_address_cap, FLOOD - PER_IP + 1);
    assert.equal(refusalLines(p)[0]!.last_refused, '127.0.0.1');
    assert.equal(await answerFrom(p.port, '127.0.0.1', ''), '');
    clock.advance(5 * DEFAULT_LIMITS.sweepIntervalMs);
    assert.equal(refusalLines(p).length, 1, 'at most one line per interval');
    clock.advance(10_000);
    assert.equal(refusalLines(p).length, 2);
    assert.equal(refusalLines(p)[1]!.refused_per_address_cap, 1, 'the next line counts what came after the previous one');

    // The flood gone, its slots are free again.
    await flood.close();
    await waitFor(() => p.proxy.connectionStats().open === 0, 'the flood to be released');
    assert.equal(await getFrom(p.port, '127.0.0.1'), 200);
    await waitFor(() => p.proxy.connectionStats().open === 0, 'the served connection to be released');
  });
});

describe('the total cap (small caps)', () => {
  let origin: Origin;
  let p: TestProxy;
  const floods: Flood[] = [];
  const limits = { maxConnections: 20, maxConnectionsPerIp: 10 };

  before(async () => {
    origin = await startOrigin('m1');
    p = await startProxy(routes(origin.port), { manualClock: true, limits });
  });
  afterEach(async () => {
    for (const f of floods.splice(0)) await f.close();
  });
  after(async () => {
    p.close();
    await origin.close();
  });

  it('refuses every address once the proxy is full, and the per-address cap again once there is room', async () => {
    const a = Flood.start();
    const b = Flood.start();
    floods.push(a, b);
    await a.open({ port: p.port, count: 10, localAddress: '127.0.0.1' });
    await b.open({ port: p.port, count: 10, localAddress: '127.0.0.2' });
    await waitFor(() => p.proxy.openConnections === 20, 'the proxy to hold 20 connections');
    assert.equal(await answerFrom(p.port, '127.0.0.3', `GET / HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`), '', 'a new address is refused when the proxy is full');
    assert.equal(refusedCount(p, 'total'), 1);
    assert.equal(refusedCount(p, 'per_address'), 0);
    assert.equal((await a.status()).open + (await b.status()).open, 20, 'what was admitted stays');

    await b.close();
    await waitFor(() => p.proxy.connectionStats().open === 10 && p.proxy.openConnections === 10, 'the slots of 127.0.0.2 to be freed');
    assert.equal(await answerFrom(p.port, '127.0.0.1', ''), '', 'with room in all, 127.0.0.1 is still at its own cap');
    assert.equal(refusedCount(p, 'per_address'), 1);
    assert.equal(await getFrom(p.port, '127.0.0.3'), 200, 'another address is served');
  });
});

describe('connection caps on the TLS listener: before the handshake, and HTTP/2 through it', () => {
  let origin: Origin;
  let p: TestProxy;
  let cert: TestCert;
  let tlsPort: number;
  let flood: Flood;

  before(async () => {
    origin = await startOrigin('m1');
    p = await startProxy(routes(origin.port), { manualClock: true });
    cert = makeCert([HOST]);
    tlsPort = (await p.proxy.listenTls('127.0.0.1', 0, staticContexts({ [HOST]: cert }))).port;
    flood = Flood.start();
  });
  after(async () => {
    await flood.close();
    p.close();
    await origin.close();
  });

  const get1 = (localAddress: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port: tlsPort, localAddress, servername: HOST, headers: { host: HOST }, ca: cert.caPem, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end();
    });
  const get2 = (localAddress: string): Promise<number> =>
    h2Status(
      http2.connect(`https://127.0.0.1:${tlsPort}`, {
        createConnection: () =>
          tls.connect({ socket: net.connect({ host: '127.0.0.1', port: tlsPort, localAddress }), servername: HOST, ca: cert.caPem, ALPNProtocols: ['h2'] }),
      }),
      '/',
      HOST,
    );

  it(`${FLOOD} idle connections that never send a ClientHello: ${PER_IP} held, the rest refused, other addresses served over HTTPS/1.1 and HTTP/2`, async () => {
    await floodKeepsPerIpCap(p, flood, tlsPort);
    assert.equal(await get1('127.0.0.2'), 200);
    assert.equal(await get2('127.0.0.3'), 200);
    await assert.rejects(get1('127.0.0.1'), 'a handshake from the full address does not start');
    assert.equal(await answerFrom(p.port, '127.0.0.1', `GET / HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`), '', 'the caps count both listeners together');

    await flood.close();
    await waitFor(() => p.proxy.connectionStats().open === 0, 'the flood to be released');
    // Slots are freed when TLS connections close, whichever side closes them (HTTP/2 and HTTP/1.1).
    for (let i = 0; i < 3; i++) {
      assert.equal(await get2('127.0.0.1'), 200);
      assert.equal(await get1('127.0.0.1'), 200);
    }
    await waitFor(() => p.proxy.connectionStats().open === 0, 'every TLS connection to be released');
  });
});
