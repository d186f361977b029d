import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { machine, rawRequest, startProxy, statusOf, type TestProxy } from '../helpers/proxy.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { call, expectRefused, gate, parseResponses, RawConn, sha256, startRawUpstream, type RawUpstream } from '../helpers/raw.js';
import { waitFor } from '../helpers/wait.js';

const MB = 1024 * 1024;
const BIG = randomBytes(5 * MB);

function app(name: string, host: string, port: number) {
  return { name, hostnames: [host], machines: [machine(`${name}-1`, 'fra', port)] };
}

describe('proxy HTTP/1.1 over loopback', () => {
  let p: TestProxy;
  let origin: Origin;
  let kaOrigin: Origin;
  let kaConnections = 0;
  let noLength: RawUpstream;
  const stream = gate();
  let streamFinished = false;

  before(async () => {
    origin = await startOrigin('m1', (req, res) => {
      const path = req.url.split('?')[0];
      if (path === '/sha') {
        res.end(JSON.stringify({ sha: sha256(req.body), bytes: req.body.length, te: req.headers['transfer-encoding'] ?? null, cl: req.headers['content-length'] ?? null }));
      } else if (path === '/big') {
        res.setHeader('content-length', BIG.length);
        res.end(BIG);
      } else if (path === '/stream') {
        res.write('first-chunk;');
        void stream.wait.then(() => {
          res.write('second;');
          res.end('third');
          streamFinished = true;
        });
      } else if (path === '/head') {
        res.setHeader('content-length', 1234);
        res.end();
      } else if (path === '/204') {
        res.writeHead(204).end();
      } else if (path === '/304') {
        res.writeHead(304, { etag: '"v1"' }).end();
      } else if (path === '/chunked') {
        res.write('abc');
        res.write('def');
        res.end('ghi');
      } else {
        res.end(JSON.stringify({ url: req.url, bytes: req.body.length, body: req.body.toString() }));
      }
    });
    origin.server.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: ${req.headers.upgrade}\r\nconnection: Upgrade\r\n\r\n`);
      if (head.length > 0) socket.write(head);
      socket.on('error', () => undefined);
      socket.on('end', () => socket.end());
      socket.on('data', (d: Buffer) => socket.write(Buffer.concat([Buffer.from('echo:'), d])));
    });
    kaOrigin = await startOrigin('ka');
    kaOrigin.server.on('connection', () => kaConnections++);
    noLength = await startRawUpstream((socket) => {
      socket.write('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nstreamed ');
      socket.end('until close');
    });
    p = await startProxy({
      apps: [app('web', 'app.test', origin.port), app('ka', 'ka.test', kaOrigin.port), app('nolen', 'nolen.test', noLength.port)],
    });
  });

  after(async () => {
    stream.open();
    p.close();
    await Promise.all([origin.close(), kaOrigin.close(), noLength.close()]);
  });

  it('keeps a client connection alive across several requests (raw, then http.Agent keepAlive)', async () => {
    const c = await RawConn.open(p.port);
    try {
      for (let i = 1; i <= 3; i++) {
        c.write(`GET /ka-${i} HTTP/1.1\r\nHost: app.test\r\n\r\n`);
        const all = await c.responses(i);
        assert.equal(all[i - 1]!.status, 200);
        assert.equal(JSON.parse(all[i - 1]!.body).url, `/ka-${i}`);
        assert.equal(all[i - 1]!.headers.connection, undefined, 'a keep-alive answer must not say close');
      }
      assert.equal(c.closed, false);
    } finally {
      c.close();
    }
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const reused: boolean[] = [];
      for (let i = 0; i < 4; i++) reused.push((await call(p.port, { path: `/agent-${i}`, agent })).reused);
      assert.deepEqual(reused, [false, true, true, true]);
    } finally {
      agent.destroy();
    }
  });

  it('reuses upstream connections: the origin sees fewer TCP connections than requests', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await call(p.port, { host: 'ka.test', path: `/u${i}` })).status, 200);
    assert.equal(kaOrigin.seen.length, 5);
    assert.equal(kaConnections, 1, `5 sequential requests should share one upstream connection, saw ${kaConnections}`);
  });

  it('answers pipelined requests sent in one write in order', async () => {
    const c = await RawConn.open(p.port);
    try {
      c.write(
        'GET /pipe-1 HTTP/1.1\r\nHost: app.test\r\n\r\n' +
          'POST /pipe-2 HTTP/1.1\r\nHost: app.test\r\nContent-Length: 5\r\n\r\nhello' +
          'GET /pipe-3 HTTP/1.1\r\nHost: app.test\r\n\r\n',
      );
      const rs = await c.responses(3);
      assert.deepEqual(rs.map((r) => JSON.parse(r.body) as { url: string; body: string }).map((b) => [b.url, b.body]), [
        ['/pipe-1', ''],
        ['/pipe-2', 'hello'],
        ['/pipe-3', ''],
      ]);
    } finally {
      c.close();
    }
  });

  it('streams a 5 MB Content-Length upload and a chunked multi-MB upload intact', async () => {
    const fixed = await call(p.port, { method: 'PUT', path: '/sha', headers: { 'content-length': BIG.length }, chunks: [BIG] });
    assert.deepEqual(JSON.parse(fixed.body.toString()), { sha: sha256(BIG), bytes: BIG.length, te: null, cl: String(BIG.length) });
    const parts = [0, 1, 2, 3].map(() => randomBytes(MB + 17));
    const chunked = await call(p.port, { method: 'POST', path: '/sha', headers: { 'transfer-encoding': 'chunked' }, chunks: parts });
    const whole = Buffer.concat(parts);
    assert.deepEqual(JSON.parse(chunked.body.toString()), { sha: sha256(whole), bytes: whole.length, te: 'chunked', cl: null });
  });

  it('streams a 5 MB download, and a slow chunked response chunk by chunk', async () => {
    const big = await call(p.port, { path: '/big' });
    assert.equal(big.headers['content-length'], String(BIG.length));
    assert.equal(sha256(big.body), sha256(BIG));

    let firstSeen = false;
    const slow = call(p.port, { path: '/stream' }, (soFar) => {
      if (soFar.toString().includes('first-chunk;')) firstSeen = true;
    });
    await waitFor(() => firstSeen, 'the first chunk to reach the client');
    assert.equal(streamFinished, false, 'the origin has not finished yet');
    stream.open();
    const r = await slow;
    assert.equal(r.headers['transfer-encoding'], 'chunked');
    assert.equal(r.body.toString(), 'first-chunk;second;third');
  });

  it('answers HEAD with Content-Length and no body, and 204/304 without a body', async () => {
    const c = await RawConn.open(p.port);
    try {
      c.write(
        'HEAD /head HTTP/1.1\r\nHost: app.test\r\n\r\n' +
          'GET /204 HTTP/1.1\r\nHost: app.test\r\n\r\n' +
          'GET /304 HTTP/1.1\r\nHost: app.test\r\n\r\n' +
          'GET /after HTTP/1.1\r\nHost: app.test\r\n\r\n',
      );
      await c.until((t) => t.includes('"/after"'), 'the answer after HEAD, 204 and 304');
      // The first answers HEAD: it has no body whatever its Content-Length says.
      const [head, noContent, notModified, next] = parseResponses(c.text, new Set([0]));
      assert.equal(head!.status, 200);
      assert.equal(head!.headers['content-length'], '1234');
      assert.ok(head!.raw.endsWith('\r\n\r\n'), 'HEAD answer ends with its head');
      assert.equal(noContent!.status, 204);
      assert.equal(noContent!.headers['transfer-encoding'], undefined);
      assert.equal(notModified!.status, 304);
      assert.equal(notModified!.headers.etag, '"v1"');
      assert.equal(notModified!.headers['transfer-encoding'], undefined);
      assert.equal(next!.status, 200);
      assert.equal(JSON.parse(next!.body).url, '/after');
    } finally {
      c.close();
    }
  });

  it('delivers a response without length (origin closes) and then closes the client connection', async () => {
    const raw = await rawRequest(p.port, 'GET /x HTTP/1.1\r\nHost: nolen.test\r\n\r\n');
    assert.equal(statusOf(raw), 200);
    const [head, body] = splitHead(raw);
    assert.match(head, /\r\nconnection: close/i);
    assert.doesNotMatch(head, /content-length|transfer-encoding/i);
    assert.equal(body, 'streamed until close');
  });

  it('de-chunks a chunked response for an HTTP/1.0 client and closes the connection', async () => {
    for (const extra of ['', 'Connection: keep-alive\r\n']) {
      const raw = await rawRequest(p.port, `GET /chunked HTTP/1.0\r\nHost: app.test\r\n${extra}\r\n`);
      assert.equal(statusOf(raw), 200);
      const [head, body] = splitHead(raw);
      assert.doesNotMatch(head, /transfer-encoding/i);
      assert.match(head, /\r\nconnection: close/i);
      assert.equal(body, 'abcdefghi');
    }
  });

  it('relays 100 Continue before the body is sent', async () => {
    const c = await RawConn.open(p.port);
    try {
      c.write('POST /continue HTTP/1.1\r\nHost: app.test\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n');
      await c.until((t) => t.startsWith('HTTP/1.1 100 Continue\r\n'), '100 Continue');
      assert.equal(origin.seen.filter((s) => s.url === '/continue').length, 0);
      c.write('hello world');
      const [cont, final] = await c.responses(2);
      assert.equal(cont!.status, 100);
      assert.equal(final!.status, 200);
      assert.deepEqual(JSON.parse(final!.body), { url: '/continue', bytes: 11, body: 'hello world' });
    } finally {
      c.close();
    }
  });

  it('passes an Upgrade through: 101, then bytes both ways', async () => {
    const c = await RawConn.open(p.port);
    try {
      c.write('GET /ws HTTP/1.1\r\nHost: app.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
      await c.until((t) => t.includes('\r\n\r\n'), 'the 101 head');
      assert.equal(statusOf(c.text), 101);
      assert.match(c.text, /\r\nupgrade: websocket\r\n/i);
      const headLen = c.text.indexOf('\r\n\r\n') + 4;
      c.write('ping-1');
      await c.until((t) => t.slice(headLen) === 'echo:ping-1', 'the first echo');
      c.write(Buffer.from([0, 1, 2, 255]));
      await c.until((t) => t.slice(headLen) === 'echo:ping-1echo:\x00\x01\x02\xff', 'the binary echo');
    } finally {
      c.close();
    }
  });
});

describe('proxy graceful drain', () => {
  it('refuses new connections, closes idle ones, finishes the in-flight response with connection: close', async (t) => {
    const hold = gate();
    const origin = await startOrigin('d1', (req, res) => {
      if (req.url === '/hold') void hold.wait.then(() => res.end('held answer'));
      else res.end('fast');
    });
    const p = await startProxy({ apps: [app('web', 'app.test', origin.port)] });
    const idle = await RawConn.open(p.port);
    const busy = await RawConn.open(p.port);
    t.after(async () => {
      hold.open();
      idle.close();
      busy.close();
      p.close();
      await origin.close();
    });

    idle.write('GET /fast HTTP/1.1\r\nHost: app.test\r\n\r\n');
    assert.equal((await idle.responses(1))[0]!.body, 'fast');
    busy.write('GET /hold HTTP/1.1\r\nHost: app.test\r\n\r\n');
    await waitFor(() => origin.seen.some((s) => s.url === '/hold'), 'the slow request to reach the origin');

    let drained = false;
    const draining = p.proxy.drain().then(() => (drained = true));
    assert.equal(p.proxy.draining, true);
    await idle.waitClosed('the idle keep-alive connection to be closed');
    await expectRefused(p.port);
    assert.equal(drained, false, 'drain waits for the in-flight request');
    assert.equal(busy.closed, false);

    hold.open();
    const [r] = await busy.responses(1);
    assert.equal(r!.status, 200);
    assert.equal(r!.body, 'held answer');
    assert.equal(r!.headers.connection, 'close');
    await busy.waitClosed();
    await draining;
    assert.equal(drained, true);
    assert.equal(p.proxy.openConnections, 0);
  });
});

function splitHead(raw: string): [string, string] {
  const i = raw.indexOf('\r\n\r\n');
  return [raw.slice(0, i + 4), raw.slice(i + 4)];
}
