/**
 * UDP services at the edge (udp/): datagrams to the nearest machine and its answers back from the
 * address and port the client wrote to, a flow kept on one machine, the tunnel to a machine on
 * another host, and the caps that keep a flood of flows from taking what TCP and HTTP need.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { MAX_FLOWS_PER_ADDRESS } from '../../src/proxy/udp/index.js';
import { machine, startProxy, type TestProxy } from '../helpers/proxy.js';
import { waitFor } from '../helpers/wait.js';
import { freeUdpPort } from '../helpers/ports.js';

const closers: (() => void)[] = [];
after(() => {
  for (const c of closers) c();
});

/** A machine: answers each datagram with `<id>:<datagram>`. */
async function udpMachine(id: string, host = '127.0.0.1', port = 0): Promise<number> {
  const s = dgram.createSocket('udp4');
  s.on('message', (m, r) => s.send(`${id}:${m.toString()}`, r.port, r.address));
  await new Promise<void>((r) => s.bind(port, host, r));
  closers.push(() => s.close());
  return s.address().port;
}


/** A client socket: sends, and collects answers with where they came from. */
async function client(): Promise<{ ask(port: number, text: string): Promise<{ text: string; from: number }>; close(): void }> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  closers.push(() => s.close());
  return {
    ask: (port, text) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no answer to ${text} from port ${port}`)), 5000);
        s.once('message', (m, r) => {
          clearTimeout(timer);
          resolve({ text: m.toString(), from: r.port });
        });
        s.send(text, port, '127.0.0.1');
      }),
    close: () => s.close(),
  };
}

async function edge(services: unknown[], opts: Parameters<typeof startProxy>[1] = {}): Promise<TestProxy> {
  const p = await startProxy({ apps: [], tcp_services: services }, opts);
  closers.push(() => p.close());
  p.proxy.serveUdp(['127.0.0.1']);
  await waitFor(() => p.proxy.udpPorts().length === services.length, 'the UDP ports to be bound');
  return p;
}

describe('UDP services at the edge', () => {
  it('answers from the public port, and keeps a flow on the machine it chose', async () => {
    // Two machines in one region, each on its own address, the service's port.
    const a = await udpMachine('m1');
    await udpMachine('m2', '127.0.0.2', a);
    const port = await freeUdpPort();
    await edge([{ app: 'dns', protocol: 'udp', ports: [{ port }], service: { internal_port: a }, machines: [{ id: 'm1', region: 'fra', address: '127.0.0.1' }, { id: 'm2', region: 'fra', address: '127.0.0.2' }] }]);
    const c1 = await client();
    const first = await c1.ask(port, 'q1');
    assert.equal(first.from, port, 'the answer comes from the port the client wrote to');
    const id = first.text.split(':')[0];
    for (let i = 2; i <= 5; i++) assert.equal((await c1.ask(port, `q${i}`)).text, `${id}:q${i}`, 'the flow stays on its machine');
    // A second flow goes to the less loaded machine: a flow counts as load.
    const c2 = await client();
    assert.notEqual((await c2.ask(port, 'x')).text.split(':')[0], id);
  });

  it("reaches a machine on another host through its proxy's tunnel", async () => {
    const m = await udpMachine('far1');
    const key = 'udp-peer-key';
    const [edgePort, workerPort] = [await freeUdpPort(), await freeUdpPort()];
    const worker = await edge([{ app: 'far', protocol: 'udp', ports: [{ port: workerPort }], service: { internal_port: m }, machines: [{ id: 'far1', region: 'sin', address: '127.0.0.1' }] }], { region: 'sin', limits: { peerKey: key } });
    await edge([{ app: 'far', protocol: 'udp', ports: [{ port: edgePort }], service: { internal_port: m }, machines: [machine('far1', 'sin', worker.port, { peer: true })] }], { region: 'fra', limits: { peerKey: key } });
    const c = await client();
    const got = await c.ask(edgePort, 'across');
    assert.deepEqual(got, { text: 'far1:across', from: edgePort });
    assert.equal((await c.ask(edgePort, 'again')).text, 'far1:again');
  });

  it('caps the flows one address may open, and HTTP through the same proxy is answered meanwhile', async () => {
    const m = await udpMachine('m1');
    const port = await freeUdpPort();
    const origin = http.createServer((_q, r) => r.end('http ok'));
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
    closers.push(() => origin.close());
    const p = await startProxy({
      apps: [{ name: 'web', hostnames: ['127.0.0.1'], machines: [machine('w1', 'fra', (origin.address() as net.AddressInfo).port)] }],
      tcp_services: [{ app: 'dns', protocol: 'udp', ports: [{ port }], service: { internal_port: m }, machines: [{ id: 'm1', region: 'fra', address: '127.0.0.1' }] }],
    });
    closers.push(() => p.close());
    p.proxy.serveUdp(['127.0.0.1']);
    await waitFor(() => p.proxy.udpPorts().length === 1, 'the UDP port');
    // One address, many source ports: each a new flow (a socket at the edge).
    const senders = await Promise.all(Array.from({ length: MAX_FLOWS_PER_ADDRESS + 36 }, async () => {
      const s = dgram.createSocket('udp4');
      await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
      closers.push(() => s.close());
      let answered = false;
      s.on('message', () => (answered = true));
      s.send('flood', port, '127.0.0.1');
      return () => answered;
    }));
    await waitFor(() => p.proxy.metricsText().includes('starling_proxy_udp_flows_total{app="dns",outcome="dropped_flows"} 36'), 'the flows over the cap to be dropped');
    await waitFor(() => senders.filter((a) => a()).length === MAX_FLOWS_PER_ADDRESS, 'the flows under the cap to be answered');
    const res = await fetch(`http://127.0.0.1:${p.port}/`);
    assert.equal(await res.text(), 'http ok');
  });
});
