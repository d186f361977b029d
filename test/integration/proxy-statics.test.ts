import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { send, startOrigin, type Origin } from '../helpers/origin.js';
import { machine, startProxy, type TestProxy } from '../helpers/proxy.js';
import { sha256 } from '../helpers/raw.js';
import { waitFor } from '../helpers/wait.js';

/**
 * fly's `[[statics]]` over real sockets: the proxy serves GETs under a mapping from the machine's
 * image on this host (an image tree on disk, as the runtime would hand it over) and the app sees
 * none of them; everything else — a file the image does not have, another method, a path that
 * climbs or a link out of the directory, a machine on another host — reaches the app.
 */
describe('proxy [[statics]]', { timeout: 60_000 }, () => {
  let image: string;
  let app: Origin;
  let peer: Origin;
  let p: TestProxy;
  const big = randomBytes(3 * 1024 * 1024 + 17);

  before(async () => {
    image = await mkdtemp(join(tmpdir(), 'starling-statics-'));
    const pub = join(image, 'app', 'public');
    await mkdir(join(pub, 'docs'), { recursive: true });
    await mkdir(join(image, 'etc'), { recursive: true });
    await writeFile(join(pub, 'app.css'), 'body { color: red }\n');
    await writeFile(join(pub, 'big.bin'), big);
    await writeFile(join(pub, 'docs', 'index.html'), '<h1>docs</h1>\n');
    await writeFile(join(pub, 'private.txt'), 'not for you');
    await chmod(join(pub, 'private.txt'), 0o600);
    await writeFile(join(image, 'etc', 'passwd'), 'root:x:0:0::/root:/bin/sh\n');
    await writeFile(join(image, 'app', 'logo.svg'), '<svg/>');
    // An absolute link resolves inside the image (to its own /app/logo.svg), never the host's /.
    await symlink('/app/logo.svg', join(pub, 'logo.svg'));
    await symlink('/etc/passwd', join(pub, 'passwd'));
    await symlink('../../etc', join(pub, 'etc'));
    app = await startOrigin('web-1');
    peer = await startOrigin('web-2');
    const routes = {
      apps: [
        {
          name: 'web',
          hostnames: ['web.test'],
          response_headers: { 'cache-control': 'public, max-age=60' },
          statics: [
            { guest_path: '/app/public', url_prefix: '/static/' },
            { guest_path: '/app/public/docs', url_prefix: '/static/manual', index_document: 'index.html' },
            { guest_path: '/app', url_prefix: '/root' },
          ],
          machines: [machine('web-1', 'fra', app.port)],
        },
        { name: 'far', hostnames: ['far.test'], statics: [{ guest_path: '/app/public', url_prefix: '/static' }], machines: [machine('web-2', 'fra', peer.port, { peer: true })] },
      ],
    };
    p = await startProxy(routes, { statics: { rootOf: (a, id) => (a === 'web' && id === 'web-1') || id === 'web-2' ? { dir: image, at: '/' } : undefined } });
  });

  after(async () => {
    p.close();
    await Promise.all([app.close(), peer.close()]);
    await rm(image, { recursive: true, force: true });
  });

  it("serves a file of the image with its type, length and validators, the app's response headers, and the app sees nothing", async () => {
    const r = await send(p.port, 'web.test', { path: '/static/app.css?v=3' });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.body, 'body { color: red }\n');
    assert.equal(r.headers['content-type'], 'text/css; charset=utf-8');
    assert.equal(r.headers['content-length'], '20');
    assert.equal(r.headers['cache-control'], 'public, max-age=60');
    assert.equal(r.headers['via'], '1.1 starling');
    assert.match(String(r.headers['etag']), /^"[0-9a-z]+(-[0-9a-z]+){3}"$/);
    assert.ok(r.headers['last-modified']);
    assert.equal(app.seen.length, 0);
    await waitFor(() => p.access.length >= 1, 'the access log line');
    assert.equal(p.access.at(-1)!.machine, 'web-1', "counted as the machine's request");
    assert.equal(p.access.at(-1)!.status, 200);
  });

  it('answers 304 to a current copy and HEAD with the head alone; a 3 MB file arrives whole', async () => {
    const first = await send(p.port, 'web.test', { path: '/static/app.css' });
    const etag = String(first.headers['etag']);
    const again = await send(p.port, 'web.test', { path: '/static/app.css', headers: { 'if-none-match': `W/${etag}` } });
    assert.equal(again.status, 304);
    assert.equal(again.body, '');
    const since = await send(p.port, 'web.test', { path: '/static/app.css', headers: { 'if-modified-since': String(first.headers['last-modified']) } });
    assert.equal(since.status, 304);
    const head = await send(p.port, 'web.test', { method: 'HEAD', path: '/static/big.bin' });
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], String(big.length));
    assert.equal(head.headers['content-type'], 'application/octet-stream');
    const whole = await new Promise<Buffer>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: p.port, path: '/static/big.bin', headers: { host: 'web.test' }, agent: false }, (res) => {
          const parts: Buffer[] = [];
          // A slow reader: backpressure from the client must pause the file, not lose bytes.
          res.on('data', (d: Buffer) => {
            parts.push(d);
            res.pause();
            setImmediate(() => res.resume());
          });
          res.on('end', () => resolve(Buffer.concat(parts)));
        })
        .on('error', reject);
    });
    assert.equal(sha256(whole), sha256(big));
    assert.equal(app.seen.length, 0);
  });

  it('serves the index document for a directory, and follows links the way the machine would, inside the image', async () => {
    const manual = await send(p.port, 'web.test', { path: '/static/manual/' });
    assert.equal(manual.status, 200);
    assert.equal(manual.body, '<h1>docs</h1>\n');
    assert.equal(manual.headers['content-type'], 'text/html; charset=utf-8');
    const logo = await send(p.port, 'web.test', { path: '/root/public/logo.svg' });
    assert.equal(logo.status, 200);
    assert.equal(logo.body, '<svg/>', "an absolute link is the image's path");
    assert.equal(app.seen.length, 0);
  });

  it('sends the app what the statics cannot answer: no such file, a link or path out of the mapping, a private file, other methods, a directory, another host', async () => {
    const toApp = [
      ['GET', 'web.test', '/static/missing.css'],
      ['GET', 'web.test', '/static/logo.svg'], // a link to /app/logo.svg, outside /app/public
      ['GET', 'web.test', '/static/passwd'],
      ['GET', 'web.test', '/static/etc/passwd'],
      ['GET', 'web.test', '/static/%2e%2e/logo.svg'],
      ['GET', 'web.test', '/static/..%2flogo.svg'],
      ['GET', 'web.test', '/static/private.txt'],
      ['GET', 'web.test', '/static/docs'],
      ['GET', 'web.test', '/staticky/app.css'],
      ['POST', 'web.test', '/static/app.css'],
    ] as const;
    for (const [method, host, path] of toApp) {
      const r = await send(p.port, host, { method, path });
      assert.equal(r.status, 200, `${method} ${path}`);
      assert.equal(JSON.parse(r.body).machine, 'web-1', `${method} ${path} reaches the app`);
    }
    assert.equal(app.seen.length, toApp.length);
    const far = await send(p.port, 'far.test', { path: '/static/app.css' });
    assert.equal(JSON.parse(far.body).machine, 'web-2', "another host's machine: its own proxy serves its statics");
  });
});
