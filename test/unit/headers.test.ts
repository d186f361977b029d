import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  HeadError,
  findHeadEnd,
  parseRequestHead,
  parseResponseHead,
  type RequestHead,
  type ResponseHead,
} from '../../src/proxy/codec/index.js';
import {
  buildLocalResponse,
  buildRequestHead,
  buildResponseHead,
  type ForwardInfo,
  type ResponseInfo,
} from '../../src/proxy/core/headers.js';
import { responseHeadersToH2 } from '../../src/proxy/h2/headers.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const head = (...lines: string[]): string => `${lines.join('\r\n')}\r\n\r\n`;

function req(...lines: string[]): RequestHead {
  const buf = b(head(...lines));
  const h = parseRequestHead(buf, 0, findHeadEnd(buf));
  if (h instanceof HeadError) assert.fail(`${h.code}: ${h.detail}`);
  return h;
}
function resp(...lines: string[]): ResponseHead {
  const buf = b(head(...lines));
  const h = parseResponseHead(buf, 0, findHeadEnd(buf));
  if (h instanceof HeadError) assert.fail(`${h.code}: ${h.detail}`);
  return h;
}

const FWD: ForwardInfo = {
  clientIp: '203.0.113.7',
  port: 80,
  requestId: 'req-1',
  edgeRegion: 'fra',
  flyHeaders: true,
  replaySrc: undefined,
  upgrade: false,
  secure: false,
};

/** What the machine receives: the built head, parsed back with the proxy's own strict parser. */
function forwarded(h: RequestHead, f: Partial<ForwardInfo> = {}): RequestHead {
  const text = buildRequestHead(h, { ...FWD, ...f });
  assert.ok(text.startsWith(`${h.method} ${h.target} HTTP/1.1\r\n`), text);
  const buf = b(text);
  assert.equal(findHeadEnd(buf), buf.length, 'exactly one head');
  const out = parseRequestHead(buf, 0, buf.length);
  if (out instanceof HeadError) assert.fail(`built request head is invalid: ${out.code}: ${out.detail}\n${text}`);
  return out;
}

const RESP: ResponseInfo = {
  requestId: 'req-1',
  flyHeaders: true,
  framing: 'length',
  close: false,
  clientMinor: 1,
  preferredUnavailable: false,
};

/** What the client receives, parsed back. */
function toClient(r: ResponseHead, info: Partial<ResponseInfo> = {}): ResponseHead {
  const text = buildResponseHead(r, { ...RESP, ...info });
  assert.ok(text.startsWith(`HTTP/1.1 ${r.status} ${r.reason}\r\n`), text);
  const buf = b(text);
  assert.equal(findHeadEnd(buf), buf.length, 'exactly one head');
  const out = parseResponseHead(buf, 0, buf.length);
  if (out instanceof HeadError) assert.fail(`built response head is invalid: ${out.code}: ${out.detail}\n${text}`);
  return out;
}

/** Every value of a field, in order. */
const all = (h: { names: string[]; values: string[] }, name: string): string[] =>
  h.values.filter((_, i) => h.names[i] === name);
const one = (h: { names: string[]; values: string[] }, name: string): string | undefined => {
  const v = all(h, name);
  assert.ok(v.length <= 1, `${name} appears ${v.length} times`);
  return v[0];
};

describe('buildRequestHead', () => {
  it('removes hop-by-hop fields, including those named in Connection, and keeps the rest', () => {
    const out = forwarded(
      req(
        'GET /path?q=1 HTTP/1.1',
        'Host: web.example.com',
        'Connection: keep-alive, X-Hop',
        'Keep-Alive: timeout=5',
        'Proxy-Connection: keep-alive',
        'TE: trailers',
        'Trailer: X-Sum',
        'X-Hop: secret',
        'Accept: */*',
        'Cookie: a=1',
        'Cookie: b=2',
      ),
    );
    for (const gone of ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'x-hop', 'upgrade']) {
      assert.deepEqual(all(out, gone), [], gone);
    }
    assert.equal(out.host, 'web.example.com');
    assert.equal(one(out, 'accept'), '*/*');
    assert.deepEqual(all(out, 'cookie'), ['a=1', 'b=2']);
  });

  it('drops client-supplied edge fields and sets its own, once each', () => {
    const out = forwarded(
      req(
        'GET / HTTP/1.1',
        'Host: a',
        'Starling-Client-IP: 10.9.9.9',
        'Fly-Client-IP: 10.9.9.9',
        'Starling-Region: xxx',
        'Fly-Region: xxx',
        'Starling-Request-Id: forged',
        'Fly-Request-Id: forged',
        'Starling-Forwarded-Port: 1',
        'Fly-Forwarded-Port: 1',
        'Starling-Replay-Src: instance=evil',
        'Fly-Replay-Src: instance=evil',
        'X-Forwarded-Proto: https',
        'X-Forwarded-Port: 443',
        'X-Forwarded-SSL: on',
      ),
    );
    assert.equal(one(out, 'starling-client-ip'), '203.0.113.7');
    assert.equal(one(out, 'fly-client-ip'), '203.0.113.7');
    assert.equal(one(out, 'starling-region'), 'fra');
    assert.equal(one(out, 'fly-region'), 'fra');
    assert.equal(one(out, 'starling-request-id'), 'req-1');
    assert.equal(one(out, 'fly-request-id'), 'req-1');
    assert.equal(one(out, 'starling-forwarded-port'), '80');
    assert.equal(one(out, 'fly-forwarded-port'), '80');
    assert.equal(one(out, 'x-forwarded-proto'), 'http');
    assert.equal(one(out, 'x-forwarded-port'), '80');
    assert.equal(one(out, 'x-forwarded-ssl'), 'off');
    assert.equal(one(out, 'starling-replay-src'), undefined);
    assert.equal(one(out, 'fly-replay-src'), undefined);
  });

  it('appends the client to X-Forwarded-For and the proxy to Via', () => {
    const plain = forwarded(req('GET / HTTP/1.1', 'Host: a'));
    assert.equal(one(plain, 'x-forwarded-for'), '203.0.113.7');
    assert.equal(one(plain, 'via'), '1.1 starling');
    const chained = forwarded(
      req('GET / HTTP/1.1', 'Host: a', 'X-Forwarded-For: 198.51.100.1', 'Via: 1.0 fred', 'x-forwarded-for: 198.51.100.2, 10.0.0.1'),
    );
    assert.equal(one(chained, 'x-forwarded-for'), '198.51.100.1, 198.51.100.2, 10.0.0.1, 203.0.113.7');
    assert.equal(one(chained, 'via'), '1.0 fred, 1.1 starling');
  });

  it('adds Fly-* twins by default and only Starling-* ones with flyHeaders: false', () => {
    const h = req('GET / HTTP/1.1', 'Host: a', 'Fly-Region: xxx');
    const withFly = forwarded(h, { replaySrc: 'instance=m-1;region=iad;t=1' });
    assert.equal(one(withFly, 'starling-replay-src'), 'instance=m-1;region=iad;t=1');
    assert.equal(one(withFly, 'fly-replay-src'), 'instance=m-1;region=iad;t=1');
    const bare = forwarded(h, { flyHeaders: false, replaySrc: 'instance=m-1;region=iad;t=1' });
    for (const name of ['fly-region', 'fly-client-ip', 'fly-request-id', 'fly-forwarded-port', 'fly-replay-src']) {
      assert.deepEqual(all(bare, name), [], name);
    }
    assert.equal(one(bare, 'starling-region'), 'fra');
    assert.equal(one(bare, 'starling-replay-src'), 'instance=m-1;region=iad;t=1');
  });

  it('says https and ssl on when TLS was terminated at the edge', () => {
    const out = forwarded(req('GET / HTTP/1.1', 'Host: a', 'X-Forwarded-Proto: http'), { secure: true });
    assert.deepEqual(all(out, 'x-forwarded-proto'), ['https']);
    assert.equal(one(out, 'x-forwarded-ssl'), 'on');
  });

  it('rewrites framing from what was parsed', () => {
    const cl = forwarded(req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 5, 5'));
    assert.equal(one(cl, 'content-length'), '5');
    assert.equal(cl.chunked, false);
    const te = forwarded(req('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: Chunked'));
    assert.equal(one(te, 'transfer-encoding'), 'chunked');
    assert.equal(te.contentLength, -1);
    const none = forwarded(req('GET / HTTP/1.1', 'Host: a'));
    assert.equal(none.contentLength, -1);
    assert.equal(none.chunked, false);
  });

  it('keeps Connection: upgrade and Upgrade for an upgrade, and strips them otherwise', () => {
    const h = req('GET /ws HTTP/1.1', 'Host: a', 'Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Key: abc');
    const up = forwarded(h, { upgrade: true });
    assert.equal(one(up, 'upgrade'), 'websocket');
    assert.deepEqual(up.connectionTokens, ['upgrade']);
    assert.equal(one(up, 'sec-websocket-key'), 'abc');
    const plain = forwarded(h, { upgrade: false });
    assert.deepEqual(all(plain, 'upgrade'), []);
    assert.deepEqual(all(plain, 'connection'), []);
  });

  it('forwards an HTTP/1.0 request as HTTP/1.1, without its Connection field', () => {
    const out = forwarded(req('GET /old HTTP/1.0', 'Host: a', 'Connection: keep-alive'));
    assert.equal(out.minor, 1);
    assert.equal(out.host, 'a');
    assert.deepEqual(all(out, 'connection'), []);
  });
});

describe('buildResponseHead', () => {
  it('removes hop-by-hop and replay fields and keeps end-to-end ones', () => {
    const r = resp(
      'HTTP/1.1 200 OK',
      'Content-Type: text/html',
      'Connection: keep-alive, X-Hop',
      'Keep-Alive: timeout=5',
      'X-Hop: 1',
      'Upgrade: h2c',
      'Trailer: X-Sum',
      'Starling-Replay: region=iad',
      'Fly-Replay: region=iad',
      'Set-Cookie: a=1',
      'Set-Cookie: b=2',
      'Content-Length: 3',
    );
    const out = toClient(r);
    for (const gone of ['connection', 'keep-alive', 'x-hop', 'upgrade', 'trailer', 'starling-replay', 'fly-replay']) {
      assert.deepEqual(all(out, gone), [], gone);
    }
    assert.equal(one(out, 'content-type'), 'text/html');
    assert.deepEqual(all(out, 'set-cookie'), ['a=1', 'b=2']);
    assert.equal(one(out, 'content-length'), '3');
  });

  it('adds Via, the request id and its Fly twin only with flyHeaders', () => {
    const r = resp('HTTP/1.1 200 OK', 'Via: 1.1 inner', 'Content-Length: 0');
    const out = toClient(r);
    assert.equal(one(out, 'via'), '1.1 inner, 1.1 starling');
    assert.equal(one(out, 'starling-request-id'), 'req-1');
    assert.equal(one(out, 'fly-request-id'), 'req-1');
    assert.deepEqual(all(toClient(r, { flyHeaders: false }), 'fly-request-id'), []);
  });

  it("replaces a machine's own request id headers instead of sending two", () => {
    const r = resp('HTTP/1.1 200 OK', 'Starling-Request-Id: from-app', 'Fly-Request-Id: from-app', 'Content-Length: 0');
    const out = toClient(r);
    assert.deepEqual(all(out, 'starling-request-id'), ['req-1']);
    assert.deepEqual(all(out, 'fly-request-id'), ['req-1']);
  });

  it('flags an unavailable preferred instance', () => {
    const r = resp('HTTP/1.1 200 OK', 'Content-Length: 0');
    assert.deepEqual(all(toClient(r), 'starling-preferred-instance-unavailable'), []);
    const out = toClient(r, { preferredUnavailable: true });
    assert.equal(one(out, 'starling-preferred-instance-unavailable'), '1');
    assert.equal(one(out, 'fly-preferred-instance-unavailable'), '1');
    const bare = toClient(r, { preferredUnavailable: true, flyHeaders: false });
    assert.deepEqual(all(bare, 'fly-preferred-instance-unavailable'), []);
  });

  it('rewrites framing: length, chunked, or neither when the close ends the body', () => {
    const chunked = resp('HTTP/1.1 200 OK', 'Transfer-Encoding: chunked');
    const te = toClient(chunked, { framing: 'chunked' });
    assert.equal(one(te, 'transfer-encoding'), 'chunked');
    assert.equal(te.contentLength, -1);
    // An HTTP/1.0 client gets the payload de-chunked, delimited by the close.
    const dechunked = toClient(chunked, { framing: 'close', close: true, clientMinor: 0 });
    assert.equal(dechunked.chunked, false);
    assert.equal(dechunked.contentLength, -1);
    assert.equal(one(dechunked, 'connection'), 'close');
    const length = toClient(resp('HTTP/1.1 200 OK', 'Content-Length: 10'), { framing: 'length' });
    assert.equal(one(length, 'content-length'), '10');
    assert.deepEqual(all(length, 'transfer-encoding'), []);
  });

  it('keeps Content-Length on a HEAD or 304 answer, and adds none when there was none', () => {
    const headAnswer = toClient(resp('HTTP/1.1 200 OK', 'Content-Length: 1234'), { framing: 'none' });
    assert.equal(one(headAnswer, 'content-length'), '1234');
    const notModified = toClient(resp('HTTP/1.1 304 Not Modified', 'Content-Length: 99'), { framing: 'none' });
    assert.equal(one(notModified, 'content-length'), '99');
    const noContent = toClient(resp('HTTP/1.1 204 No Content'), { framing: 'none' });
    assert.deepEqual(all(noContent, 'content-length'), []);
    assert.deepEqual(all(noContent, 'transfer-encoding'), []);
  });

  it('announces close, or keep-alive to an HTTP/1.0 client, and nothing to a persistent 1.1 client', () => {
    const r = resp('HTTP/1.1 200 OK', 'Content-Length: 0');
    assert.equal(one(toClient(r, { close: true }), 'connection'), 'close');
    assert.equal(one(toClient(r, { close: true, clientMinor: 0 }), 'connection'), 'close');
    assert.equal(one(toClient(r, { close: false, clientMinor: 0 }), 'connection'), 'keep-alive');
    assert.deepEqual(all(toClient(r, { close: false, clientMinor: 1 }), 'connection'), []);
  });

  it('answers in HTTP/1.1 even when the machine spoke HTTP/1.0', () => {
    const out = toClient(resp('HTTP/1.0 404 Not Found', 'Content-Length: 0'));
    assert.equal(out.minor, 1);
    assert.equal(out.status, 404);
    assert.equal(out.reason, 'Not Found');
  });
  it("applies the app's response headers: a value replaces the machine's field, a removal drops it (HTTP/1.1 and HTTP/2)", () => {
    const r = resp('HTTP/1.1 200 OK', 'Content-Length: 2', 'X-Powered-By: Express', 'X-Frame-Options: SAMEORIGIN', 'Cache-Control: no-cache');
    const appHeaders = { set: [['x-frame-options', 'DENY'], ['strict-transport-security', 'max-age=63072000']] as const, drop: new Set(['x-frame-options', 'strict-transport-security', 'x-powered-by']) };
    const out = toClient(r, { appHeaders });
    assert.deepEqual(all(out, 'x-frame-options'), ['DENY']);
    assert.equal(one(out, 'strict-transport-security'), 'max-age=63072000');
    assert.deepEqual(all(out, 'x-powered-by'), []);
    assert.equal(one(out, 'cache-control'), 'no-cache', 'other fields untouched');
    const h2 = responseHeadersToH2(r, { ...RESP, appHeaders });
    assert.deepEqual([h2['x-frame-options'], h2['strict-transport-security'], h2['x-powered-by'], h2['cache-control']], ['DENY', 'max-age=63072000', undefined, 'no-cache']);
  });
});

describe('buildLocalResponse', () => {
  /** Splits what is written (as latin1, like every caller) into the parsed head and the body bytes. */
  function written(text: string): { h: ResponseHead; body: Buffer } {
    const buf = b(text);
    const end = findHeadEnd(buf);
    const h = parseResponseHead(buf, 0, end);
    if (h instanceof HeadError) assert.fail(`${h.code}: ${h.detail}`);
    return { h, body: buf.subarray(end) };
  }

  it('writes status, reason, type, length, request id and body', () => {
    const { h, body } = written(buildLocalResponse(404, 'no app here\n', 'req-9', false));
    assert.equal(h.status, 404);
    assert.equal(h.reason, 'Not Found');
    assert.equal(one(h, 'content-type'), 'text/plain; charset=utf-8');
    assert.equal(one(h, 'starling-request-id'), 'req-9');
    assert.equal(h.contentLength, body.length);
    assert.equal(body.toString('latin1'), 'no app here\n');
    assert.deepEqual(all(h, 'connection'), []);
  });

  it('adds connection: close and extra fields when asked, and a generic reason for other codes', () => {
    const { h } = written(buildLocalResponse(503, 'busy\n', 'r', true, [['retry-after', '1']]));
    assert.equal(h.reason, 'Service Unavailable');
    assert.equal(one(h, 'connection'), 'close');
    assert.equal(h.close, true);
    assert.equal(one(h, 'retry-after'), '1');
    assert.equal(written(buildLocalResponse(418, '', 'r', false)).h.reason, 'Error');
  });

  it('counts the bytes actually written when the body quotes non-ASCII wire text', () => {
    // A Host header of raw UTF-8 bytes, decoded as latin1 by the parser and echoed in a 404.
    const host = req('GET / HTTP/1.1', 'Host: caf\xc3\xa9.example').host ?? '';
    const { h, body } = written(buildLocalResponse(404, `no app is served at host "${host}"\n`, 'r', false));
    assert.equal(h.contentLength, body.length, 'content-length matches the body, so keep-alive stays in sync');
    assert.equal(body.toString('utf8'), 'no app is served at host "café.example"\n');
  });
});
