import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ProxyServer, parseRoutesSpec, type MachineControl } from '../../src/proxy/index.js';
import { ManualClock, SystemClock } from '../../src/shared/index.js';
import http from 'node:http';
import { send, startOrigin, type Origin } from '../helpers/origin.js';

/** A GET to host:port with this Host header (send() knows 127.0.0.1 only). */
function sendTo(host: string, port: number, hostHeader: string): Promise<{ status: number; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    http.get({ host, port, path: '/', headers: { host: hostHeader }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    }).on('error', reject);
  });
}

/** Routes for one app whose machine `m1` listens on `port`, in the given state. */
function routes(port: number, state: string, service: Record<string, unknown> = {}) {
  return parseRoutesSpec(
    { apps: [{ name: 'web', hostnames: ['web.test'], service, machines: [{ id: 'm1', region: 'fra', address: '127.0.0.1', port, state }] }] },
    'test',
  );
}

/** A port where a machine listened and no longer does: the stopped machine's. */
async function stoppedPort(): Promise<number> {
  const o = await startOrigin('m1');
  const p = o.port;
  await o.close();
  return p;
}

describe('autostart and autostop', () => {
  it('a request for an app whose only machine is stopped starts it and is answered by it', async (t) => {
    let origin: Origin | undefined;
    const started: string[] = [];
    const port = await stoppedPort();
    const control: MachineControl = {
      // The runtime: start the machine (a real server on its port), then report it started.
      async start(app, id) {
        started.push(`${app}/${id}`);
        origin = await startOrigin('m1');
        proxy.setRoutes(routes(origin.port, 'started'));
      },
      async stop() {},
    };
    const proxy = new ProxyServer({ region: 'fra', routes: routes(port, 'stopped'), clock: new SystemClock(), machines: control });
    const { port: listen } = await proxy.listen('127.0.0.1', 0);
    t.after(async () => {
      proxy.close();
      await origin?.close();
    });
    const [a, b] = await Promise.all([send(listen, 'web.test'), send(listen, 'web.test')]);
    assert.equal(a.status, 200);
    assert.equal(b.status, 200);
    assert.deepEqual(started, ['web/m1'], 'two waiting requests start one machine');
    assert.match(proxy.metricsText(), /starling_proxy_autostarts_total\{app="web"\} 1/);
  });

  it("a private service listener (Flycast) takes every request to its app whatever the Host, and starts the app's stopped machine", async (t) => {
    let origin: Origin | undefined;
    const started: string[] = [];
    const port = await stoppedPort();
    const both = (webPort: number, webState: string, other: Origin) =>
      parseRoutesSpec(
        {
          apps: [
            { name: 'web', hostnames: ['web.test'], machines: [{ id: 'm1', region: 'fra', address: '127.0.0.1', port: webPort, state: webState }] },
            { name: 'other', hostnames: ['other.test'], machines: [{ id: 'o1', region: 'fra', address: '127.0.0.1', port: other.port, state: 'started' }] },
          ],
        },
        'test',
      );
    const other = await startOrigin('o1');
    const control: MachineControl = {
      async start(app, id) {
        started.push(`${app}/${id}`);
        origin = await startOrigin('m1');
        proxy.setRoutes(both(origin.port, 'started', other));
      },
      async stop() {},
    };
    const proxy = new ProxyServer({ region: 'fra', routes: both(port, 'stopped', other), clock: new SystemClock(), machines: control });
    const flycast = await proxy.listenPrivate('127.0.0.1', 0, 'web');
    const nothing = await proxy.listenPrivate('127.0.0.1', 0, 'gone');
    t.after(async () => {
      proxy.close();
      await origin?.close();
      await other.close();
    });
    // The Host names the other app (or nothing the proxy knows): the address decides.
    const [a, b] = await Promise.all([send(flycast.address.port, 'other.test'), send(flycast.address.port, 'web.flycast')]);
    assert.deepEqual([a.status, a.headers['x-machine'], b.status, b.headers['x-machine']], [200, 'm1', 200, 'm1']);
    assert.deepEqual(started, ['web/m1'], 'autostart, as for public requests');
    const missing = await send(nothing.address.port, 'web.test');
    assert.equal(missing.status, 404);
    assert.match(missing.body, /app gone serves no HTTP here/);
    flycast.close();
    flycast.close(); // twice is harmless, and leaves the other listener alone
    assert.equal((await send(nothing.address.port, 'web.test')).status, 404);

    // A public listener on a wildcard holds every address of its port (a second bind is refused):
    // it tells the private service's connections by the address they came to.
    const wild = new ProxyServer({ region: 'fra', routes: both(origin!.port, 'started', other), clock: new SystemClock() });
    const { port: p80 } = await wild.listen('::', 0);
    t.after(() => wild.close());
    const held = await wild.listenPrivate('::1', p80, 'web');
    const viaAddress = await sendTo('::1', p80, 'other.test');
    assert.deepEqual([viaAddress.status, viaAddress.headers['x-machine']], [200, 'm1'], 'the address decides, not the Host');
    assert.equal((await sendTo('127.0.0.1', p80, 'other.test')).headers['x-machine'], 'o1', 'other addresses of the port stay public');
    held.close();
    assert.equal((await sendTo('::1', p80, 'other.test')).headers['x-machine'], 'o1', 'released: public again');
  });

  it('fly-force-region to a region whose only machine is stopped starts that machine, not another region\'s', async (t) => {
    const lhr = await startOrigin('m-lhr');
    let fra: Origin | undefined;
    const started: string[] = [];
    const spec = (fraPort: number, fraState: string) =>
      parseRoutesSpec(
        {
          apps: [
            {
              name: 'web',
              hostnames: ['web.test'],
              machines: [
                { id: 'm-lhr', region: 'lhr', address: '127.0.0.1', port: lhr.port, state: 'started' },
                { id: 'm-fra', region: 'fra', address: '127.0.0.1', port: fraPort, state: fraState },
              ],
            },
          ],
        },
        'test',
      );
    const control: MachineControl = {
      async start(app, id) {
        started.push(`${app}/${id}`);
        fra = await startOrigin('m-fra');
        proxy.setRoutes(spec(fra.port, 'started'));
      },
      async stop() {},
    };
    const proxy = new ProxyServer({ region: 'lhr', routes: spec(1, 'stopped'), clock: new SystemClock(), machines: control });
    const { port: listen } = await proxy.listen('127.0.0.1', 0);
    t.after(async () => {
      proxy.close();
      await lhr.close();
      await fra?.close();
    });
    // Unforced, lhr's started machine serves and nothing is started.
    const machineOf = (r: { body: string }): unknown => (JSON.parse(r.body) as { machine: string }).machine;
    assert.equal(machineOf(await send(listen, 'web.test')), 'm-lhr');
    assert.deepEqual(started, []);
    const forced = await send(listen, 'web.test', { headers: { 'fly-force-region': 'fra' } });
    assert.equal(forced.status, 200);
    assert.equal(machineOf(forced), 'm-fra', 'served by the machine started in the forced region');
    assert.deepEqual(started, ['web/m-fra']);
    // A forced region with no machine at all is still refused at once.
    assert.equal((await send(listen, 'web.test', { headers: { 'fly-force-region': 'syd' } })).status, 503);
  });

  it("a forced region whose only machine is stopped on another host: the request goes to that host, whose proxy starts it", async (t) => {
    const KEY = 'peer-key-for-this-test-0123456789';
    const lhr = await startOrigin('m-lhr');
    let fra: Origin | undefined;
    const startedAtLhr: string[] = [];
    const startedAtFra: string[] = [];
    const app = (machines: Record<string, unknown>[]) => parseRoutesSpec({ apps: [{ name: 'web', hostnames: ['web.test'], machines }] }, 'test');
    // The fra host: its own machine, stopped; its proxy starts it.
    const fraControl: MachineControl = {
      async start(a, id) {
        startedAtFra.push(`${a}/${id}`);
        fra = await startOrigin('m-fra');
        fraProxy.setRoutes(app([{ id: 'm-fra', region: 'fra', address: '127.0.0.1', port: fra.port, state: 'started' }]));
      },
      async stop() {},
    };
    const fraProxy = new ProxyServer({ region: 'fra', routes: app([{ id: 'm-fra', region: 'fra', address: '127.0.0.1', port: 1, state: 'stopped' }]), clock: new SystemClock(), machines: fraControl, limits: { peerKey: KEY } });
    const { port: fraPort } = await fraProxy.listen('127.0.0.1', 0);
    // The lhr host: its own machine started, fra's as the control plane reports it (stopped, a peer's).
    const lhrControl: MachineControl = { start: async (a, id) => void startedAtLhr.push(`${a}/${id}`), stop: async () => {} };
    const edge = new ProxyServer({
      region: 'lhr',
      routes: app([
        { id: 'm-lhr', region: 'lhr', address: '127.0.0.1', port: lhr.port, state: 'started' },
        { id: 'm-fra', region: 'fra', address: '127.0.0.1', port: fraPort, state: 'stopped', healthy: false, peer: true },
      ]),
      clock: new SystemClock(),
      machines: lhrControl,
      limits: { peerKey: KEY },
    });
    const { port: listen } = await edge.listen('127.0.0.1', 0);
    t.after(async () => {
      edge.close();
      fraProxy.close();
      await lhr.close();
      await fra?.close();
    });
    const machineOf = (r: { body: string }): unknown => (JSON.parse(r.body) as { machine: string }).machine;
    assert.equal(machineOf(await send(listen, 'web.test')), 'm-lhr', 'unforced, the started machine here serves');
    const forced = await send(listen, 'web.test', { headers: { 'fly-force-region': 'fra' } });
    assert.equal(forced.status, 200, forced.body);
    assert.equal(machineOf(forced), 'm-fra', "served by fra's machine, started by fra's proxy");
    assert.deepEqual([startedAtLhr, startedAtFra], [[], ['web/m-fra']], 'the edge asks its own runtime for nothing: the machine is its host\'s to start');
  });

  it('without auto_start_machines the request gets 503 at once', async (t) => {
    const control: MachineControl = { start: async () => assert.fail('must not start'), stop: async () => {} };
    const proxy = new ProxyServer({ region: 'fra', routes: routes(1, 'stopped', { auto_start_machines: false }), clock: new SystemClock(), machines: control });
    const { port } = await proxy.listen('127.0.0.1', 0);
    t.after(() => proxy.close());
    assert.equal((await send(port, 'web.test')).status, 503);
  });

  it('autostop, on the injected clock, stops an idle machine the load does not need', async (t) => {
    const clock = new ManualClock();
    const stopped: string[] = [];
    const control: MachineControl = { start: async () => {}, stop: async (app, id, mode) => void stopped.push(`${app}/${id}/${mode}`) };
    const spec = parseRoutesSpec(
      {
        apps: [
          {
            name: 'web',
            hostnames: ['web.test'],
            service: { auto_stop_machines: 'suspend' },
            machines: [
              { id: 'a', region: 'fra', address: '127.0.0.1', port: 1 },
              { id: 'b', region: 'fra', address: '127.0.0.1', port: 2 },
            ],
          },
        ],
      },
      'test',
    );
    const proxy = new ProxyServer({ region: 'fra', routes: spec, clock, machines: control, limits: { autostopIntervalMs: 60_000 } });
    t.after(() => proxy.close());
    clock.advance(59_000);
    assert.deepEqual(stopped, []);
    clock.advance(1_000);
    assert.equal(stopped.length, 1);
    assert.match(stopped[0]!, /^web\/[ab]\/suspend$/);
  });
});
