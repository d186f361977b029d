import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  HeadError,
  findHeadEnd,
  isIdempotent,
  parseRequestHead,
  parseResponseHead,
  responseHasNoBody,
  type HeadErrorCode,
  type RequestHead,
  type ResponseHead,
} from '../../src/proxy/codec/index.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
/** Lines joined with CRLF and ended with the blank line. */
const head = (...lines: string[]): string => `${lines.join('\r\n')}\r\n\r\n`;

function parseReq(text: string): RequestHead | HeadError {
  const buf = b(text);
  const end = findHeadEnd(buf);
  assert.ok(end > 0, 'head is complete');
  return parseRequestHead(buf, 0, end);
}
function req(...lines: string[]): RequestHead {
  const h = parseReq(head(...lines));
  if (h instanceof HeadError) assert.fail(`unexpected ${h.code}: ${h.detail}`);
  return h;
}
function reqErr(...lines: string[]): HeadErrorCode {
  const h = parseReq(head(...lines));
  assert.ok(h instanceof HeadError, `expected a rejection of ${JSON.stringify(lines)}`);
  return h.code;
}
/** A valid HTTP/1.1 GET with one extra header line. */
const withLine = (line: string): HeadErrorCode => reqErr('GET / HTTP/1.1', 'Host: a.example', line);

function parseResp(...lines: string[]): ResponseHead | HeadError {
  const buf = b(head(...lines));
  return parseResponseHead(buf, 0, findHeadEnd(buf));
}
function resp(...lines: string[]): ResponseHead {
  const h = parseResp(...lines);
  if (h instanceof HeadError) assert.fail(`unexpected ${h.code}: ${h.detail}`);
  return h;
}
function respErr(...lines: string[]): HeadErrorCode {
  const h = parseResp(...lines);
  assert.ok(h instanceof HeadError, `expected a rejection of ${JSON.stringify(lines)}`);
  return h.code;
}

describe('findHeadEnd', () => {
  it('is -1 until the blank line arrives, then the index just past it', () => {
    assert.equal(findHeadEnd(b('GET / HTTP/1.1\r\nHost: a\r\n')), -1);
    assert.equal(findHeadEnd(b('GET / HTTP/1.1\r\nHost: a\r\n\r')), -1);
    const text = 'GET / HTTP/1.1\r\nHost: a\r\n\r\n';
    assert.equal(findHeadEnd(b(`${text}body`)), text.length);
  });

  it('finds a pipelined second head from an offset, and parses it in place', () => {
    const first = head('GET /one HTTP/1.1', 'Host: a');
    const buf = b(first + head('GET /two HTTP/1.1', 'Host: b'));
    const end1 = findHeadEnd(buf);
    assert.equal(end1, first.length);
    const end2 = findHeadEnd(buf, end1);
    assert.equal(end2, buf.length);
    const second = parseRequestHead(buf, end1, end2);
    assert.ok(!(second instanceof HeadError));
    assert.equal(second.target, '/two');
    assert.equal(second.host, 'b');
  });
});

describe('parseRequestHead: valid requests', () => {
  it('parses a GET with Host: method, target, version, keep-alive, no body', () => {
    const h = req('GET /path?q=1 HTTP/1.1', 'Host: shop.example.com');
    assert.equal(h.method, 'GET');
    assert.equal(h.target, '/path?q=1');
    assert.equal(h.minor, 1);
    assert.equal(h.host, 'shop.example.com');
    assert.equal(h.contentLength, -1);
    assert.equal(h.chunked, false);
    assert.equal(h.close, false);
    assert.equal(h.upgrade, undefined);
  });

  it('accepts HTTP/1.0 without Host, closing by default', () => {
    const h = req('GET / HTTP/1.0');
    assert.equal(h.minor, 0);
    assert.equal(h.host, undefined);
    assert.equal(h.close, true);
  });

  it('reads Content-Length, accepting identical duplicates', () => {
    assert.equal(req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 5').contentLength, 5);
    assert.equal(req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 0').contentLength, 0);
    assert.equal(req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 5, 5').contentLength, 5);
    assert.equal(req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 7', 'content-length: 7').contentLength, 7);
  });

  it('reads chunked Transfer-Encoding, case-insensitively', () => {
    const h = req('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: Chunked');
    assert.equal(h.chunked, true);
    assert.equal(h.contentLength, -1);
  });

  it('applies Connection close / keep-alive for HTTP/1.1 and HTTP/1.0', () => {
    assert.equal(req('GET / HTTP/1.1', 'Host: a', 'Connection: close').close, true);
    assert.equal(req('GET / HTTP/1.1', 'Host: a', 'Connection: keep-alive').close, false);
    assert.equal(req('GET / HTTP/1.0', 'Connection: Keep-Alive').close, false);
    assert.equal(req('GET / HTTP/1.0', 'Connection: close').close, true);
    // close wins over keep-alive, in either order and across header lines.
    assert.equal(req('GET / HTTP/1.0', 'Connection: keep-alive, close').close, true);
    assert.equal(req('GET / HTTP/1.0', 'Connection: close, keep-alive').close, true);
    assert.equal(req('GET / HTTP/1.0', 'Connection: close', 'Connection: keep-alive').close, true);
  });

  it('collects Connection tokens lower-cased, trimmed, without empty ones', () => {
    const h = req('GET / HTTP/1.1', 'Host: a', 'Connection: Keep-Alive, X-Hop ,, ', 'Connection: TE');
    assert.deepEqual(h.connectionTokens, ['keep-alive', 'x-hop', 'te']);
  });

  it('reads Upgrade', () => {
    const h = req('GET /ws HTTP/1.1', 'Host: a', 'Connection: Upgrade', 'Upgrade: websocket');
    assert.equal(h.upgrade, 'websocket');
    assert.deepEqual(h.connectionTokens, ['upgrade']);
  });

  it('lower-cases names, trims values and keeps every field in order', () => {
    const h = req('GET / HTTP/1.1', 'Host:a', 'X-Custom: \t spaced  value \t', 'X-Empty:', 'Set-Thing: 1', 'set-thing: 2');
    assert.deepEqual(h.names, ['host', 'x-custom', 'x-empty', 'set-thing', 'set-thing']);
    assert.deepEqual(h.values, ['a', 'spaced  value', '', '1', '2']);
  });

  it('lower-cases well-known and unknown names alike, in any case, and tells near-misses apart', () => {
    const h = req('GET / HTTP/1.1', 'HOST: a', 'CoNtEnT-LeNgTh: 7', 'Content-Lengtx: 9', 'X-Forwarded-FOR: 1.2.3.4', 'Connection: Keep-Alive');
    assert.deepEqual(h.names, ['host', 'content-length', 'content-lengtx', 'x-forwarded-for', 'connection']);
    assert.equal(h.host, 'a');
    assert.equal(h.contentLength, 7);
    assert.deepEqual(h.connectionTokens, ['keep-alive']);
  });

  it('trims only spaces and tabs around a value (RFC 9110 §5.6.3 OWS), not obs-text', () => {
    const h = req('GET / HTTP/1.1', 'Host: a', 'X-A: \xa0v\xa0 ');
    assert.equal(h.values[1], '\xa0v\xa0');
  });

  it('accepts obs-text (bytes 0x80-0xFF) in values and in the target', () => {
    const h = req('GET /caf\xe9 HTTP/1.1', 'Host: a', 'X-Name: Jos\xe9');
    assert.equal(h.target, '/caf\xe9');
    assert.equal(h.values[1], 'Jos\xe9');
  });
});

describe('parseRequestHead: rejections', () => {
  it('bad_request_line: missing parts, extra spaces, bad method, bad target bytes', () => {
    assert.equal(reqErr('GET /', 'Host: a'), 'bad_request_line');
    assert.equal(reqErr('GET', 'Host: a'), 'bad_request_line');
    assert.equal(reqErr(''), 'bad_request_line');
    assert.equal(reqErr('GET  / HTTP/1.1', 'Host: a'), 'bad_request_line');
    assert.equal(reqErr(' GET / HTTP/1.1', 'Host: a'), 'bad_request_line');
    assert.equal(reqErr('GET / HTTP/1.1 ', 'Host: a'), 'bad_request_line');
    assert.equal(reqErr('G(T / HTTP/1.1', 'Host: a'), 'bad_request_line');
    assert.equal(reqErr('GET /a b HTTP/1.1', 'Host: a'), 'bad_request_line');
    assert.equal(reqErr('GET /a\x01 HTTP/1.1', 'Host: a'), 'bad_request_line');
    assert.equal(reqErr('GET /a\tb HTTP/1.1', 'Host: a'), 'bad_request_line');
    assert.equal(reqErr('GET /a\x7f HTTP/1.1', 'Host: a'), 'bad_request_line');
  });

  it('bad_version: anything but HTTP/1.0 and HTTP/1.1', () => {
    for (const v of ['HTTP/2.0', 'HTTP/1.2', 'http/1.1', 'HTTP/1.10', 'HTTP/1']) {
      assert.equal(reqErr(`GET / ${v}`, 'Host: a'), 'bad_version', v);
    }
  });

  it('bad_header_bytes: NUL, DEL, bare CR, bare LF inside a line', () => {
    assert.equal(withLine('X: a\x00b'), 'bad_header_bytes');
    assert.equal(withLine('X: a\x7fb'), 'bad_header_bytes');
    assert.equal(withLine('X: a\rb'), 'bad_header_bytes');
    assert.equal(withLine('X: a\nb'), 'bad_header_bytes');
    assert.equal(withLine('X: a\nY: b'), 'bad_header_bytes');
    assert.equal(withLine('X: a\x1bb'), 'bad_header_bytes');
  });

  it('bad_header_name: space before the colon, empty name, non-token, no colon', () => {
    assert.equal(withLine('X-Thing : a'), 'bad_header_name');
    assert.equal(withLine(': a'), 'bad_header_name');
    assert.equal(withLine('X(Y): a'), 'bad_header_name');
    assert.equal(withLine('X\xe9: a'), 'bad_header_name');
    assert.equal(withLine('no colon here'), 'bad_header_name');
  });

  it('obs_fold: a line starting with space or tab', () => {
    assert.equal(withLine(' continued'), 'obs_fold');
    assert.equal(reqErr('GET / HTTP/1.1', 'Host: a', 'X-Long: one', '\ttwo'), 'obs_fold');
  });

  it('duplicate_host and missing_host', () => {
    assert.equal(reqErr('GET / HTTP/1.1', 'Host: a', 'Host: a'), 'duplicate_host');
    assert.equal(reqErr('GET / HTTP/1.0', 'Host: a', 'host: b'), 'duplicate_host');
    assert.equal(reqErr('GET / HTTP/1.1', 'X: y'), 'missing_host');
  });

  it('bad_content_length: negative, hex, empty, exponent, sign, too long, trailing comma', () => {
    for (const v of ['-1', '0x10', '', '1e3', '+5', '5 5', '1234567890123456', '5,']) {
      assert.equal(withLine(`Content-Length: ${v}`), 'bad_content_length', JSON.stringify(v));
    }
  });

  it('conflicting_content_length: differing duplicates, in one line or two', () => {
    assert.equal(withLine('Content-Length: 5, 6'), 'conflicting_content_length');
    assert.equal(reqErr('POST / HTTP/1.1', 'Host: a', 'Content-Length: 5', 'Content-Length: 6'), 'conflicting_content_length');
  });

  it('length_and_chunked: Content-Length with Transfer-Encoding in either order', () => {
    assert.equal(reqErr('POST / HTTP/1.1', 'Host: a', 'Content-Length: 5', 'Transfer-Encoding: chunked'), 'length_and_chunked');
    assert.equal(reqErr('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked', 'Content-Length: 5'), 'length_and_chunked');
  });

  it('bad_transfer_encoding: not ending in chunked, empty, or in an HTTP/1.0 request', () => {
    assert.equal(withLine('Transfer-Encoding: gzip'), 'bad_transfer_encoding');
    assert.equal(withLine('Transfer-Encoding: chunked, gzip'), 'bad_transfer_encoding');
    assert.equal(withLine('Transfer-Encoding: '), 'bad_transfer_encoding');
    assert.equal(reqErr('POST / HTTP/1.0', 'Transfer-Encoding: chunked'), 'bad_transfer_encoding');
  });

  it('unsupported_transfer_encoding: codings before chunked, in one line or two', () => {
    assert.equal(withLine('Transfer-Encoding: gzip, chunked'), 'unsupported_transfer_encoding');
    assert.equal(reqErr('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: gzip', 'Transfer-Encoding: chunked'), 'unsupported_transfer_encoding');
    assert.equal(withLine('Transfer-Encoding: chunked, chunked'), 'unsupported_transfer_encoding');
  });
});

describe('parseResponseHead', () => {
  it('parses status, reason (empty or with spaces) and framing', () => {
    const ok = resp('HTTP/1.1 200 OK', 'Content-Length: 12');
    assert.equal(ok.status, 200);
    assert.equal(ok.reason, 'OK');
    assert.equal(ok.contentLength, 12);
    assert.equal(ok.close, false);
    assert.equal(resp('HTTP/1.1 204').reason, '');
    assert.equal(resp('HTTP/1.1 204 ').reason, '');
    const nf = resp('HTTP/1.0 404 Not Found Here', 'Transfer-Encoding: chunked');
    assert.equal(nf.reason, 'Not Found Here');
    assert.equal(nf.minor, 0);
    assert.equal(nf.chunked, true);
    assert.equal(nf.close, true);
    assert.equal(resp('HTTP/1.0 200 OK', 'Connection: keep-alive').close, false);
  });

  it('needs no Host header', () => {
    assert.equal(resp('HTTP/1.1 301 Moved', 'Location: /x').status, 301);
  });

  // A bare CR or LF in the reason phrase would be forwarded inside the status line the client reads.
  it('bad_status_line: wrong version, code shape or range, separator, control bytes, bare CR or LF', () => {
    for (const line of ['HTTP/2 200 OK', 'HTTP/1.2 200 OK', 'ICY 200 OK', 'HTTP/1.1 20 OK', 'HTTP/1.1 2000 OK', 'HTTP/1.1 600 Nope', 'HTTP/1.1 099 Low', 'HTTP/1.1 200\tOK', 'HTTP/1.1 2x0 OK', 'HTTP/1.1 200 O\x01K', 'http/1.1 200 OK', 'HTTP/1.1 200 O\rK', 'HTTP/1.1 200 OK\n', 'HTTP/1.1 200 O\nX-Injected: 1']) {
      assert.equal(respErr(line), 'bad_status_line', JSON.stringify(line));
    }
  });

  it('applies the same field rules as requests', () => {
    assert.equal(respErr('HTTP/1.1 200 OK', 'Content-Length: 5', 'Transfer-Encoding: chunked'), 'length_and_chunked');
    assert.equal(respErr('HTTP/1.1 200 OK', 'Content-Length: 5', 'Content-Length: 4'), 'conflicting_content_length');
    assert.equal(respErr('HTTP/1.1 200 OK', 'Transfer-Encoding: gzip'), 'bad_transfer_encoding');
    assert.equal(respErr('HTTP/1.1 200 OK', 'X : y'), 'bad_header_name');
    assert.equal(respErr('HTTP/1.1 200 OK', 'X: a', ' b'), 'obs_fold');
    assert.equal(respErr('HTTP/1.1 200 OK', 'X: a\x00'), 'bad_header_bytes');
  });
});

describe('isIdempotent and responseHasNoBody', () => {
  it('treats only RFC 9110 idempotent methods as retryable, case-sensitively', () => {
    for (const m of ['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']) assert.equal(isIdempotent(m), true, m);
    for (const m of ['POST', 'PATCH', 'CONNECT', 'get', 'PROPFIND']) assert.equal(isIdempotent(m), false, m);
  });

  it('knows which responses never carry a body', () => {
    assert.equal(responseHasNoBody('HEAD', 200), true);
    assert.equal(responseHasNoBody('GET', 204), true);
    assert.equal(responseHasNoBody('GET', 304), true);
    assert.equal(responseHasNoBody('GET', 100), true);
    assert.equal(responseHasNoBody('GET', 103), true);
    assert.equal(responseHasNoBody('GET', 200), false);
    assert.equal(responseHasNoBody('POST', 201), false);
    assert.equal(responseHasNoBody('GET', 404), false);
    assert.equal(responseHasNoBody('GET', 205), false);
  });
});
