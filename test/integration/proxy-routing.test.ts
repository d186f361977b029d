import assert from 'node:assert/strict';
import http from 'node:http';
import { describe, it } from 'node:test';
import { parseRoutesSpec } from '../../src/proxy/index.js';
import { send } from '../helpers/origin.js';
import { agentGet, machine, metric, oneApp, origin, proxyFor } from '../helpers/routing.js';

/**
 * Tier 2/3: a real proxy on loopback in front of real HTTP servers standing in for machines.
 * Which machine answered is read from the `x-machine` header the test origins set.
 */
describe('proxy routing: hosts, headers, preferences, reload', { timeout: 60_000 }, () => {
  it('routes by Host: exact, wildcard one label deep, with a port, in any case, with a trailing dot', async (t) => {
    const a = await origin(t, 'alpha-1');
    const b = await origin(t, 'beta-1');
    const p = await proxyFor(t, {
      apps: [
        { name: 'alpha', hostnames: ['alpha.test', '*.apps.test'], machines: [machine('alpha-1', 'fra', a.port)] },
        { name: 'beta', hostnames: ['beta.test', 'x.apps.test'], machines: [machine('beta-1', 'fra', b.port)] },
      ],
    });
    const cases: [string, string | 404][] = [
      ['alpha.test', 'alpha-1'],
      ['ALPHA.Test', 'alpha-1'],
      ['alpha.test:8080', 'alpha-1'],
      ['foo.apps.test', 'alpha-1'],
      ['Foo.APPS.test:443', 'alpha-1'],
      ['x.apps.test', 'beta-1'], // an exact name wins over the wildcard
      ['beta.test', 'beta-1'],
      ['beta.test.', 'beta-1'],
      ['a.b.apps.test', 404], // the wildcard covers one label only
      ['apps.test', 404],
    ];
    for (const [host, want] of cases) {
      const r = await send(p.port, host);
      if (want === 404) assert.equal(r.status, 404, host);
      else {
        assert.equal(r.status, 200, host);
        assert.equal(r.headers['x-machine'], want, host);
      }
    }
    assert.equal(a.seen.length, 5);
    assert.equal(b.seen.length, 3);
  });

  it('an unknown host gets 404 with a short body naming the host; no machine sees it', async (t) => {
    const a = await origin(t, 'web-fra');
    const p = await proxyFor(t, oneApp([machine('web-fra', 'fra', a.port)]));
    const r = await send(p.port, 'nope.example.org', { path: '/x' });
    assert.equal(r.status, 404);
    assert.match(r.body, /nope\.example\.org/);
    assert.ok(r.body.length < 120, `body should be short: ${r.body}`);
    assert.match(String(r.headers['content-type']), /^text\/plain/);
    assert.equal(a.seen.length, 0);
  });

  it('the machine sees forwarding headers, Starling-* and Fly-* twins; client-sent edge headers are replaced', async (t) => {
    const a = await origin(t, 'web-fra');
    const p = await proxyFor(t, oneApp([machine('web-fra', 'fra', a.port)]));
    const r = await send(p.port, 'web.test', {
      path: '/h?q=1',
      headers: {
        'x-forwarded-for': '203.0.113.7',
        'x-forwarded-proto': 'https',
        via: '1.0 corp-proxy',
        'fly-client-ip': '6.6.6.6',
        'starling-client-ip': '6.6.6.6',
        'starling-region': 'evil',
        'fly-region': 'evil',
        'fly-request-id': 'forged',
        'starling-replay-src': 'instance=forged;region=iad;t=1',
        'x-custom': 'kept',
      },
    });
    assert.equal(r.status, 200);
    const h = a.seen[0]!.headers;
    assert.equal(a.seen[0]!.url, '/h?q=1');
    assert.equal(h['x-forwarded-for'], '203.0.113.7, 127.0.0.1');
    assert.equal(h['x-forwarded-proto'], 'http');
    assert.equal(h['x-forwarded-port'], String(p.port));
    assert.equal(h.via, '1.0 corp-proxy, 1.1 starling');
    assert.equal(h['starling-region'], 'fra');
    assert.equal(h['fly-region'], 'fra');
    assert.equal(h['starling-client-ip'], '127.0.0.1');
    assert.equal(h['fly-client-ip'], '127.0.0.1');
    assert.equal(h['fly-forwarded-port'], String(p.port));
    assert.equal(h['starling-replay-src'], undefined);
    assert.equal(h['x-custom'], 'kept');
    const id = h['starling-request-id'];
    assert.match(String(id), /-fra$/);
    assert.equal(h['fly-request-id'], id);
    assert.equal(r.headers['starling-request-id'], id, 'the request id is echoed to the client');
    assert.equal(r.headers['fly-request-id'], id);
    assert.match(String(r.headers.via), /1\.1 starling$/);
  });

  it('with flyHeaders: false there are no Fly-* twins, and a client-sent Fly-Client-IP is still dropped', async (t) => {
    const a = await origin(t, 'web-fra');
    const p = await proxyFor(t, oneApp([machine('web-fra', 'fra', a.port)]), { limits: { flyHeaders: false } });
    const r = await send(p.port, 'web.test', { headers: { 'fly-client-ip': '6.6.6.6', 'fly-region': 'evil' } });
    assert.equal(r.status, 200);
    const h = a.seen[0]!.headers;
    assert.equal(h['starling-region'], 'fra');
    assert.equal(h['starling-client-ip'], '127.0.0.1');
    for (const name of ['fly-region', 'fly-client-ip', 'fly-request-id', 'fly-forwarded-port']) {
      assert.equal(h[name], undefined, name);
    }
    assert.ok(r.headers['starling-request-id']);
    assert.equal(r.headers['fly-request-id'], undefined);
  });

  it('prefer/force region and instance headers work with both prefixes', async (t) => {
    const fra = await origin(t, 'web-fra');
    const ams = await origin(t, 'web-ams');
    const iad = await origin(t, 'web-iad');
    const down = await origin(t, 'web-down');
    const p = await proxyFor(
      t,
      oneApp([
        machine('web-fra', 'fra', fra.port),
        machine('web-ams', 'ams', ams.port),
        machine('web-iad', 'iad', iad.port),
        machine('web-down', 'fra', down.port, { state: 'stopped' }),
      ]),
    );
    const via = async (headers: Record<string, string>) => {
      const r = await send(p.port, 'web.test', { headers });
      return { status: r.status, machine: r.headers['x-machine'], r };
    };
    assert.equal((await via({})).machine, 'web-fra');
    assert.equal((await via({ 'starling-prefer-region': 'iad' })).machine, 'web-iad');
    assert.equal((await via({ 'fly-prefer-region': 'AMS' })).machine, 'web-ams');
    assert.equal((await via({ 'fly-prefer-region': 'syd' })).machine, 'web-fra', 'a preference without machines falls back');
    assert.equal((await via({ 'fly-prefer-region': 'syd, IAD, ams' })).machine, 'web-iad', 'an ordered list: the first of it with machines');
    assert.equal((await via({ 'starling-force-region': 'iad' })).machine, 'web-iad');
    assert.equal((await via({ 'fly-force-region': 'ams' })).machine, 'web-ams');
    assert.equal((await via({ 'fly-force-region': 'syd' })).status, 503, 'forcing a region without machines');
    assert.equal((await via({ 'starling-force-instance-id': 'web-iad' })).machine, 'web-iad');
    assert.equal((await via({ 'fly-force-instance-id': 'web-ams' })).machine, 'web-ams');
    assert.equal((await via({ 'fly-force-instance-id': 'web-down' })).status, 503, 'forcing a stopped instance');

    const ok = await via({ 'fly-prefer-instance-id': 'web-iad' });
    assert.equal(ok.machine, 'web-iad');
    assert.equal(ok.r.headers['fly-preferred-instance-unavailable'], undefined);
    assert.equal(ok.r.headers['starling-preferred-instance-unavailable'], undefined);
    for (const name of ['fly-prefer-instance-id', 'starling-prefer-instance-id']) {
      const gone = await via({ [name]: 'web-down' });
      assert.equal(gone.status, 200, name);
      assert.equal(gone.machine, 'web-fra', `${name}: served by the nearest usable machine`);
      assert.equal(gone.r.headers['fly-preferred-instance-unavailable'], '1', name);
      assert.equal(gone.r.headers['starling-preferred-instance-unavailable'], '1', name);
    }
    assert.equal(down.seen.length, 0);
  });

  it('setRoutes applies to the next request without dropping an open keep-alive connection', async (t) => {
    const a = await origin(t, 'web-a');
    const b = await origin(t, 'web-b');
    const p = await proxyFor(t, oneApp([machine('web-a', 'fra', a.port)]));
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => agent.destroy());

    const first = await agentGet(agent, p.port, 'web.test');
    assert.equal(first.status, 200);
    assert.equal(first.body.includes('web-a'), true);

    p.proxy.setRoutes(parseRoutesSpec(oneApp([machine('web-b', 'fra', b.port)]), 'reload'));
    const second = await agentGet(agent, p.port, 'web.test');
    assert.equal(second.status, 200);
    assert.equal(second.body.includes('web-b'), true, 'the new routes are used at once');
    assert.equal(second.reused, true);
    assert.equal(second.socket, first.socket, 'the same client connection carried both requests');

    p.proxy.setRoutes(parseRoutesSpec(oneApp([machine('web-b', 'fra', b.port)], { hostnames: ['other.test'] }), 'reload'));
    const third = await agentGet(agent, p.port, 'web.test');
    assert.equal(third.status, 404, 'the host is no longer routed');
    assert.equal(third.socket, first.socket);
    assert.equal(p.proxy.openConnections, 1);
    assert.equal(a.seen.length, 1);
    assert.equal(b.seen.length, 1);
    assert.equal(metric(p.proxy.metricsText(), 'starling_proxy_routes_reloads_total{result="ok"}'), 2);
  });

  it("an app's response headers reach the client: set over the machine's, removed where asked; not on the proxy's own answers", async (t) => {
    const fra = await origin(t, 'web-fra', (_r, res) => {
      res.setHeader('x-powered-by', 'Express');
      res.setHeader('x-frame-options', 'SAMEORIGIN');
      res.end('hi');
    });
    const routes = oneApp([machine('web-fra', 'fra', fra.port)]);
    Object.assign(routes.apps[0]!, { response_headers: { 'x-frame-options': 'DENY', 'strict-transport-security': 'max-age=63072000', 'x-powered-by': null } });
    const p = await proxyFor(t, routes);
    const r = await send(p.port, 'web.test');
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-frame-options'], 'DENY');
    assert.equal(r.headers['strict-transport-security'], 'max-age=63072000');
    assert.equal(r.headers['x-powered-by'], undefined);
    assert.throws(() => parseRoutesSpec({ apps: [{ ...routes.apps[0], response_headers: { 'x-a': 'ok\r\nset-cookie: evil=1', 'content-length': '1' } }] }, 't'), /CR, LF or NUL[\s\S]*set by the proxy/);
  });
});
