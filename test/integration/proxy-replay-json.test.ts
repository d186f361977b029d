import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { send, type SeenRequest } from '../helpers/origin.js';
import { machine, metric, oneApp, origin, proxyFor } from '../helpers/routing.js';
import { waitFor } from '../helpers/wait.js';

/**
 * fly's JSON replay form over real sockets: the machine answers `application/vnd.fly.replay+json`
 * with the directive as its body (sent chunked, in pieces, as a streaming app would), and the
 * proxy replays the request — transformed as the body says — to the target.
 */
function replayingJson(t: TestContext, name: string, body: (r: SeenRequest) => unknown, type = 'application/vnd.fly.replay+json') {
  return origin(t, name, (req, res) => {
    const d = body(req);
    if (d === undefined) return void res.end(`served by ${name}`);
    const text = typeof d === 'string' ? d : JSON.stringify(d);
    res.setHeader('content-type', `${type}; charset=utf-8`);
    res.write(text.slice(0, 10));
    res.end(text.slice(10));
  });
}

const failures = (text: string, reason: string) => metric(text, `starling_proxy_replay_failures_total{app="web",reason="${reason}"}`);

describe('proxy replay, JSON form', { timeout: 60_000 }, () => {
  it('replays to the region it names, with the path, deleted and set headers of its transform; the client sees only the target', async (t) => {
    const fra = await replayingJson(t, 'web-fra', () => ({
      region: 'iad',
      state: 'from-json',
      transform: {
        path: '/v2/orders?tenant=9',
        delete_headers: ['cookie', 'X-Debug'],
        set_headers: [
          { name: 'x-tenant', value: 't9' },
          { name: 'x-custom', value: 'replaced' },
        ],
      },
      cache: { prefix: '/orders/*', ttl: 30 },
    }));
    const iad = await origin(t, 'web-iad');
    const p = await proxyFor(t, oneApp([machine('web-fra', 'fra', fra.port), machine('web-iad', 'iad', iad.port)]));
    const r = await send(p.port, 'web.test', {
      method: 'POST',
      path: '/orders?x=1',
      headers: { cookie: 'session=secret', 'x-debug': '1', 'x-custom': 'original', 'x-kept': 'yes' },
      body: 'order=42',
    });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.headers['x-machine'], 'web-iad');
    assert.equal(JSON.parse(r.body).machine, 'web-iad', "the client gets the target's answer, not the replay body");
    const got = iad.seen[0]!;
    assert.equal(got.url, '/v2/orders?tenant=9');
    assert.equal(got.method, 'POST');
    assert.equal(got.body.toString(), 'order=42');
    assert.equal(got.headers['cookie'], undefined);
    assert.equal(got.headers['x-debug'], undefined);
    assert.equal(got.headers['x-tenant'], 't9');
    assert.equal(got.headers['x-custom'], 'replaced');
    assert.equal(got.headers['x-kept'], 'yes');
    assert.match(String(got.headers['fly-replay-src']), /^instance=web-fra;region=fra;t=\d+;state=from-json$/);
    await waitFor(() => p.access.length === 1, 'the access log entry');
    assert.equal(p.access[0]!.path, '/orders', "the log keeps the client's path");
    assert.equal(p.access[0]!.replays, 1);
  });

  it('starling\'s media type, instance= and a fallback that gets the request as the client sent it', async (t) => {
    const fra = await replayingJson(
      t,
      'web-fra',
      (r) => (r.headers['fly-replay-failed'] === undefined ? { instance: 'gone', fallback: 'force_self', transform: { path: '/elsewhere', delete_headers: ['cookie'] } } : undefined),
      'application/vnd.starling.replay+json',
    );
    const iad = await origin(t, 'web-iad');
    const p = await proxyFor(t, oneApp([machine('web-fra', 'fra', fra.port), machine('web-iad', 'iad', iad.port)]));
    const r = await send(p.port, 'web.test', { path: '/mine', headers: { cookie: 'a=1' } });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.body, 'served by web-fra');
    assert.equal(fra.seen.length, 2);
    assert.equal(fra.seen[1]!.url, '/mine', 'the fallback is the original request');
    assert.equal(fra.seen[1]!.headers['cookie'], 'a=1');
    assert.equal(fra.seen[1]!.headers['fly-replay-failed'], 'instance_unavailable');
    assert.equal(iad.seen.length, 0);
  });

  it('a body that is not a directive fails the replay with 502 saying what is wrong, and nothing reaches another machine', async (t) => {
    const cases: [string, unknown, RegExp][] = [
      ['/not-json', '{"region": "iad",', /not valid JSON/],
      ['/no-target', { state: 'x' }, /no target/],
      ['/bad-region', { region: 7 }, /region must be a string/],
      ['/edge-field', { region: 'iad', transform: { set_headers: [{ name: 'X-Forwarded-For', value: '6.6.6.6' }] } }, /set_headers\[0\]\.name "x-forwarded-for" is the proxy's/],
      ['/host', { region: 'iad', transform: { delete_headers: ['host'] } }, /delete_headers\[0\] "host"/],
      ['/bad-path', { region: 'iad', transform: { path: 'no-slash' } }, /transform\.path must be a path/],
      ['/bad-value', { region: 'iad', transform: { set_headers: [{ name: 'x-a', value: 'a\r\nx-b: b' }] } }, /value must be a string without control characters/],
      ['/bad-timeout', { region: 'iad', timeout: 'soon' }, /timeout must be a duration/],
      ['/too-big', { region: 'iad', state: 'x'.repeat(70 * 1024) }, /replay body over 64 KiB/],
    ];
    const fra = await replayingJson(t, 'web-fra', (r) => cases.find(([path]) => path === r.url)![1]);
    const iad = await origin(t, 'web-iad');
    const p = await proxyFor(t, oneApp([machine('web-fra', 'fra', fra.port), machine('web-iad', 'iad', iad.port)]));
    for (const [path, , why] of cases) {
      const r = await send(p.port, 'web.test', { path, headers: { 'fly-force-region': 'fra' } });
      assert.equal(r.status, 502, `${path}: ${r.body}`);
      assert.match(String(r.headers['starling-replay-failed']), why, path);
      assert.match(r.body, why, path);
    }
    assert.equal(iad.seen.length, 0);
    assert.equal(failures(p.proxy.metricsText(), 'bad_directive'), cases.length);
  });

  it('an ordinary JSON response and a replay type on a HEAD answer are passed through, not replayed', async (t) => {
    const fra = await origin(t, 'web-fra', (req, res) => {
      res.setHeader('content-type', req.url === '/plain' ? 'application/json' : 'application/vnd.fly.replay+json');
      res.end(req.method === 'HEAD' ? undefined : '{"region":"iad"}');
    });
    const iad = await origin(t, 'web-iad');
    const p = await proxyFor(t, oneApp([machine('web-fra', 'fra', fra.port), machine('web-iad', 'iad', iad.port)]));
    const plain = await send(p.port, 'web.test', { path: '/plain', headers: { 'fly-force-region': 'fra' } });
    assert.equal(plain.status, 200);
    assert.equal(plain.body, '{"region":"iad"}');
    const head = await send(p.port, 'web.test', { method: 'HEAD', path: '/head', headers: { 'fly-force-region': 'fra' } });
    assert.equal(head.status, 200);
    assert.equal(iad.seen.length, 0);
  });
});
