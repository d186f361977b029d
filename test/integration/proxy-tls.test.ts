import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import tls from 'node:tls';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { machine, startProxy, type TestProxy } from '../helpers/proxy.js';
import { makeCert, staticContexts, type TestCert } from '../helpers/tls.js';

/** One HTTPS/1.1 request; resolves with status, headers and body. */
function get1(port: number, host: string, ca: string, path = '/'): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path, servername: host, headers: { host }, ca, agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** One HTTP/2 request over a fresh session. */
function get2(port: number, host: string, ca: string, opts: { method?: string; body?: Buffer; path?: string } = {}) {
  return new Promise<{ status: number; headers: http2.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
    const session = http2.connect(`https://127.0.0.1:${port}`, { ca, servername: host });
    session.on('error', reject);
    const req = session.request({ ':path': opts.path ?? '/', ':method': opts.method ?? 'GET', ':authority': host });
    const chunks: Buffer[] = [];
    let headers: http2.IncomingHttpHeaders = {};
    req.on('response', (h) => (headers = h));
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      session.close();
      resolve({ status: Number(headers[':status']), headers, body: Buffer.concat(chunks) });
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

describe('TLS and HTTP/2 at the edge', () => {
  let origin: Origin;
  let p: TestProxy;
  let cert: TestCert;
  let tlsPort: number;

  before(async () => {
    origin = await startOrigin('m1');
    p = await startProxy({ apps: [{ name: 'web', hostnames: ['web.test'], machines: [machine('m1', 'fra', origin.port)] }] });
    cert = makeCert(['web.test']);
    tlsPort = (await p.proxy.listenTls('127.0.0.1', 0, staticContexts({ 'web.test': cert }))).port;
  });
  after(async () => {
    p.close();
    await origin.close();
  });

  it('serves HTTPS/1.1 with the certificate chosen by SNI, and tells the machine it was https', async () => {
    const r = await get1(tlsPort, 'web.test', cert.caPem, '/one');
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body).url, '/one');
    const seen = origin.seen.at(-1)!;
    assert.equal(seen.headers['x-forwarded-proto'], 'https');
    assert.equal(seen.headers['x-forwarded-ssl'], 'on');
  });

  it('speaks HTTP/2 when the client offers h2, through the same routing and headers', async () => {
    const r = await get2(tlsPort, 'web.test', cert.caPem, { path: '/two' });
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body.toString()).url, '/two');
    assert.equal(r.headers['x-machine'], 'm1');
    assert.match(String(r.headers['starling-request-id']), /-fra$/);
    assert.match(String(r.headers.via), /2 starling/);
    assert.equal(origin.seen.at(-1)!.headers['x-forwarded-proto'], 'https');
  });

  it('carries an HTTP/2 request body without a length to the machine intact', async () => {
    const body = Buffer.alloc(300_000, 7);
    const r = await get2(tlsPort, 'web.test', cert.caPem, { method: 'POST', body, path: '/upload' });
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body.toString()).bytes, body.length);
  });

  it('refuses a handshake for an unknown name with a TLS alert', async () => {
    const err = await new Promise<Error>((resolve) => {
      const s = tls.connect({ host: '127.0.0.1', port: tlsPort, servername: 'other.test', ca: cert.caPem });
      s.on('secureConnect', () => resolve(new Error('handshake unexpectedly succeeded')));
      s.on('error', resolve);
    });
    assert.match(err.message, /alert|handshake|socket hang up/i);
  });

  it('redirects plain HTTP to https for an app with force_https, and serves it over TLS', async () => {
    const q = await startProxy({
      apps: [{ name: 'secure', hostnames: ['web.test'], force_https: true, machines: [machine('m1', 'fra', origin.port)] }],
    });
    try {
      const port = (await q.proxy.listenTls('127.0.0.1', 0, staticContexts({ 'web.test': cert }))).port;
      const plain = await new Promise<{ status: number; location: string | undefined }>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port: q.port, path: '/cart?x=1', headers: { host: 'web.test:8080' } }, (res) => {
          res.resume();
          resolve({ status: res.statusCode ?? 0, location: res.headers.location });
        }).on('error', reject);
      });
      assert.equal(plain.status, 301);
      assert.equal(plain.location, 'https://web.test/cart?x=1');
      assert.equal((await get1(port, 'web.test', cert.caPem, '/cart')).status, 200);
    } finally {
      q.close();
    }
  });

  it('with a default certificate, answers handshakes without SNI or for unknown names with it', async () => {
    const fallback = makeCert(['default.invalid']);
    const q = await startProxy({ apps: [{ name: 'web', hostnames: ['web.test'], machines: [machine('m1', 'fra', origin.port)] }] });
    try {
      const port = (await q.proxy.listenTls('127.0.0.1', 0, staticContexts({ 'web.test': cert }, fallback))).port;
      for (const servername of [undefined, 'unknown.test']) {
        const s = tls.connect({ host: '127.0.0.1', port, ...(servername ? { servername } : {}), ca: fallback.caPem, checkServerIdentity: () => undefined });
        await new Promise<void>((resolve, reject) => {
          s.once('secureConnect', resolve);
          s.once('error', reject);
        });
        assert.equal(s.authorized, true);
        assert.match(String(s.getPeerCertificate().subjectaltname), /default\.invalid/);
        s.destroy();
      }
    } finally {
      q.close();
    }
  });

  it('answers plain HTTP on the TLS port with a hint', async () => {
    const net = await import('node:net');
    const text = await new Promise<string>((resolve) => {
      const s = net.connect(tlsPort, '127.0.0.1', () => s.write('GET / HTTP/1.1\r\nHost: web.test\r\n\r\n'));
      let got = '';
      s.on('data', (d) => (got += d.toString()));
      s.on('close', () => resolve(got));
    });
    assert.match(text, /^HTTP\/1\.1 400/);
    assert.match(text, /https/);
  });
});
