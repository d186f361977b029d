/**
 * TCP services at the edge (tcp/): raw bytes both ways with half-close, the PROXY header (v1, v2),
 * a client's own PROXY header refused, TLS ended at the edge with ALPN, port ranges, failover to
 * another machine, hard_limit in connections, the backhaul tunnel to a peer proxy's machine, and a
 * port that cannot be bound. Real sockets on loopback; PostgreSQL and Redis are in proxy-tcp-apps.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { after, describe, it } from 'node:test';
import { parseRoutesSpec } from '../../src/proxy/index.js';
import { machine, startProxy, type TestProxy } from '../helpers/proxy.js';
import { makeCert, staticContexts } from '../helpers/tls.js';
import { waitFor } from '../helpers/wait.js';
import { freePort } from '../helpers/ports.js';

interface Origin {
  port: number;
  /** Every connection's received bytes, in accept order. */
  received: Buffer[];
  accepted: number;
  close(): void;
}

/** A machine: echoes what it gets (after `greet`, if any), and records it. */
async function echoMachine(greet?: string): Promise<Origin> {
  const o: Origin = { port: 0, received: [], accepted: 0, close: () => server.close() };
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    const i = o.received.push(Buffer.alloc(0)) - 1;
    o.accepted++;
    if (greet) s.write(greet);
    s.on('data', (b) => {
      o.received[i] = Buffer.concat([o.received[i]!, b]);
      s.write(b);
    });
    s.on('end', () => s.end());
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  o.port = (server.address() as net.AddressInfo).port;
  return o;
}


/** Sends `data`, half-closes, and resolves with everything until the server closes. */
function exchange(port: number, data: string | Buffer, opts: { end?: boolean } = {}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const got: Buffer[] = [];
    s.on('connect', () => {
      s.write(data);
      if (opts.end !== false) s.end();
    });
    s.on('data', (b) => got.push(b));
    s.on('error', reject);
    s.on('close', () => resolve(Buffer.concat(got)));
  });
}

function tcpRoutes(services: unknown[], apps: unknown[] = []) {
  return { apps, tcp_services: services };
}

const proxies: TestProxy[] = [];
const origins: Origin[] = [];
after(() => {
  for (const p of proxies) p.close();
  for (const o of origins) o.close();
});

async function edge(routes: unknown, opts: Parameters<typeof startProxy>[1] = {}, contexts?: ReturnType<typeof staticContexts>): Promise<TestProxy> {
  const p = await startProxy(routes, opts);
  proxies.push(p);
  p.proxy.serveTcp('127.0.0.1', contexts);
  const want = parseRoutesSpec(routes, 'test').tcp_services?.flatMap((s) => s.ports.flatMap((x) => Array.from({ length: x.end_port - x.start_port + 1 }, (_, i) => x.start_port + i))) ?? [];
  await waitFor(() => want.every((port) => p.proxy.tcpPorts().includes(port) || p.proxy.tcpListenProblems().some((x) => x.port === port)), 'the TCP ports to be bound');
  return p;
}

describe('TCP services at the edge', () => {
  it('passes bytes both ways, server-first bytes too, and the half-close', async () => {
    const m = await echoMachine('hello from the machine\n');
    origins.push(m);
    const port = await freePort();
    await edge(tcpRoutes([{ app: 'echo', ports: [{ port }], service: { internal_port: m.port }, machines: [machine('m1', 'fra', 0, { port: undefined })] }]));
    // The machine's address is 127.0.0.1 and the service's internal_port its port.
    const big = Buffer.alloc(300_000, 'x');
    const got = await exchange(port, big);
    assert.equal(got.toString('latin1', 0, 23), 'hello from the machine\n');
    assert.equal(got.length, 23 + big.length, 'every byte came back before the close');
    assert.equal(m.received.at(-1)!.length, big.length);
  });

  it('sends a PROXY v1 or v2 header with the client address when the port asks for it, and only then', async () => {
    const m = await echoMachine();
    origins.push(m);
    const [p1, p2, p0] = [await freePort(), await freePort(), await freePort()];
    await edge(
      tcpRoutes([
        {
          app: 'pp',
          ports: [{ port: p1, handlers: ['proxy_proto'] }, { port: p2, handlers: ['proxy_proto'], proxy_proto_version: 'v2' }, { port: p0 }],
          service: { internal_port: m.port },
          machines: [machine('m1', 'fra', 0, { port: undefined })],
        },
      ]),
    );
    const client = net.connect({ port: p1, host: '127.0.0.1' });
    await new Promise((r) => client.once('connect', r));
    const clientPort = client.localPort!;
    client.end('ping');
    await new Promise((r) => client.on('close', r).resume());
    const v1 = m.received.at(-1)!.toString('latin1');
    assert.equal(v1, `PROXY TCP4 127.0.0.1 127.0.0.1 ${clientPort} ${p1}\r\nping`);

    await exchange(p2, 'pong');
    const v2 = m.received.at(-1)!;
    assert.deepEqual([...v2.subarray(0, 12)], [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
    assert.equal(v2[12], 0x21, 'version 2, PROXY');
    assert.equal(v2[13], 0x11, 'TCP over IPv4');
    assert.equal(v2.readUInt16BE(14), 12);
    assert.deepEqual([...v2.subarray(16, 20)], [127, 0, 0, 1]);
    assert.equal(v2.readUInt16BE(26), p2, 'the destination port is the public port');
    assert.equal(v2.subarray(28).toString(), 'pong');

    await exchange(p0, 'plain');
    assert.equal(m.received.at(-1)!.toString(), 'plain', 'a port without proxy_proto gets no header');
  });

  it("never passes a client's own PROXY header on, whatever the port's handlers", async () => {
    const m = await echoMachine();
    origins.push(m);
    const [p1, p0] = [await freePort(), await freePort()];
    await edge(tcpRoutes([{ app: 'spoof', ports: [{ port: p1, handlers: ['proxy_proto'] }, { port: p0 }], service: { internal_port: m.port }, machines: [machine('m1', 'fra', 0, { port: undefined })] }]));
    const before = m.received.length;
    for (const port of [p0, p1]) {
      const got = await exchange(port, 'PROXY TCP4 10.9.9.9 127.0.0.1 1111 2222\r\nGET / HTTP/1.0\r\n\r\n');
      assert.equal(got.length, 0, 'the connection is closed with nothing answered');
    }
    // Sent in pieces, the v2 signature is caught too.
    const s = net.connect({ port: p0, host: '127.0.0.1' });
    await new Promise((r) => s.once('connect', r));
    s.write(Buffer.from([0x0d, 0x0a, 0x0d, 0x0a]));
    s.write(Buffer.from([0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x21, 0x11]));
    await new Promise((r) => s.on('close', r).on('error', () => undefined).resume());
    const seen = Buffer.concat(m.received.slice(before)).toString('latin1');
    assert.ok(!seen.includes('PROXY') && !seen.includes('QUIT'), `the machine saw: ${JSON.stringify(seen)}`);
  });

  it('ends TLS at the edge with the certificate for the SNI name and the ALPN the port offers', async () => {
    const m = await echoMachine();
    origins.push(m);
    const cert = makeCert(['db.example.test']);
    const port = await freePort();
    await edge(
      tcpRoutes([{ app: 'tlsapp', ports: [{ port, handlers: ['tls'], alpn: ['redis', 'h2'] }], service: { internal_port: m.port }, machines: [machine('m1', 'fra', 0, { port: undefined })] }]),
      {},
      staticContexts({ 'db.example.test': cert }),
    );
    const s = tls.connect({ port, host: '127.0.0.1', servername: 'db.example.test', ca: cert.caPem, ALPNProtocols: ['redis'] });
    await new Promise((r, j) => s.once('secureConnect', r).once('error', j));
    assert.equal(s.alpnProtocol, 'redis');
    s.end('over tls');
    const got: Buffer[] = [];
    s.on('data', (b) => got.push(b));
    await new Promise((r) => s.on('close', r));
    assert.equal(Buffer.concat(got).toString(), 'over tls');
    assert.equal(m.received.at(-1)!.toString(), 'over tls', 'the machine gets the plain bytes');
  });

  it('serves a port range, tries another machine when one refuses, and counts connections against hard_limit', async () => {
    const m = await echoMachine();
    origins.push(m);
    // Two free consecutive ports for the range.
    let start = await freePort();
    while (!(await isFree(start + 1))) start = await freePort();
    const p = await edge(
      tcpRoutes([
        {
          app: 'range',
          ports: [{ start_port: start, end_port: start + 1 }],
          service: { internal_port: m.port, concurrency: { type: 'connections', soft_limit: 1, hard_limit: 1 } },
          // m0's port refuses: the connection goes to m1 (m0 is nearer: fra is the edge's region).
          machines: [machine('m0', 'fra', 0, { port: undefined, address: '127.0.0.2' }), machine('m1', 'ams', 0, { port: undefined })],
        },
      ]),
    );
    assert.equal((await exchange(start, 'a')).toString(), 'a');
    assert.equal((await exchange(start + 1, 'b')).toString(), 'b');
    // hard_limit 1: a second connection waits until the first one closes.
    const first = net.connect({ port: start, host: '127.0.0.1', allowHalfOpen: true });
    await new Promise((r) => first.once('connect', r));
    first.write('1');
    await new Promise((r) => first.once('data', r));
    const accepted = m.accepted;
    const second = exchange(start, '2');
    await waitFor(() => p.proxy.metricsText().includes('starling_proxy_queued_requests 1'), 'the second connection to queue');
    assert.equal(m.accepted, accepted, 'the machine has not seen the second connection yet');
    first.end();
    assert.equal((await second).toString(), '2');
  });

  it('reaches a machine on another host through its proxy, with the header written at the edge', async () => {
    const m = await echoMachine();
    origins.push(m);
    const key = 'peer-key-for-the-test';
    const [edgePort, workerPort] = [await freePort(), await freePort()];
    const worker = await edge(
      tcpRoutes([{ app: 'far', ports: [{ port: workerPort }], service: { internal_port: m.port }, machines: [machine('w1', 'sin', 0, { port: undefined })] }]),
      { region: 'sin', limits: { peerKey: key } },
    );
    await edge(
      tcpRoutes([{ app: 'far', ports: [{ port: edgePort, handlers: ['proxy_proto'] }], service: { internal_port: m.port }, machines: [machine('w1', 'sin', worker.port, { peer: true })] }]),
      { region: 'fra', limits: { peerKey: key } },
    );
    const got = await exchange(edgePort, 'across');
    assert.equal(got.toString(), m.received.at(-1)!.toString());
    assert.match(m.received.at(-1)!.toString(), new RegExp(`^PROXY TCP4 127\\.0\\.0\\.1 127\\.0\\.0\\.1 \\d+ ${edgePort}\\r\\nacross$`));
    // Without the key, a tunnel request is an ordinary (unroutable) HTTP request: no machine is reached.
    const before = m.accepted;
    const raw = await exchange(worker.port, `GET / HTTP/1.1\r\nhost: far\r\nconnection: upgrade\r\nupgrade: starling-tcp\r\nstarling-peer: wrong\r\nstarling-tcp-service: far/${m.port}\r\n\r\n`);
    assert.match(raw.toString(), /^HTTP\/1\.1 404/);
    assert.equal(m.accepted, before);
  });

  it('reports a port it cannot bind and serves the others', async () => {
    const m = await echoMachine();
    origins.push(m);
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const busy = (taken.address() as net.AddressInfo).port;
    const ok = await freePort();
    const p = await edge(tcpRoutes([{ app: 'mixed', ports: [{ port: busy }, { port: ok }], service: { internal_port: m.port }, machines: [machine('m1', 'fra', 0, { port: undefined })] }]));
    assert.deepEqual(p.proxy.tcpListenProblems().map((x) => x.port), [busy]);
    assert.match(p.proxy.tcpListenProblems()[0]!.error, /EADDRINUSE/);
    assert.equal((await exchange(ok, 'still')).toString(), 'still');
    // Freed, the port is bound on the next routes update.
    await new Promise((r) => taken.close(r));
    p.proxy.setRoutes(parseRoutesSpec(tcpRoutes([{ app: 'mixed', ports: [{ port: busy }, { port: ok }], service: { internal_port: m.port }, machines: [machine('m1', 'fra', 0, { port: undefined })] }]), 't'));
    await waitFor(() => p.proxy.tcpPorts().includes(busy), 'the freed port to be bound');
    assert.equal((await exchange(busy, 'now')).toString(), 'now');
  });
});

async function isFree(port: number): Promise<boolean> {
  const s = net.createServer();
  return new Promise((resolve) => {
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}
