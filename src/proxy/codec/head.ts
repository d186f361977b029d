/**
 * HTTP/1.1 message heads, parsed strictly and without I/O (RFC 9110, RFC 9112).
 *
 * The proxy forwards only what it understands; every ambiguity a front end and a back end could read
 * differently (request smuggling, RFC 9112 §6.3 and §11.2) is rejected here with a stable code:
 * both Content-Length and Transfer-Encoding, differing Content-Length values, obs-fold (§5.2), white
 * space before a header colon (§5.1), bare CR or LF, control bytes, and non-token names.
 */
import { CTL, TCHAR } from './bytes.js';
import { lineEnd, parseFields } from './fields.js';
import { HeadError, type HeadFields, type RequestHead, type ResponseHead } from './head-types.js';

export { HeadError, type HeadErrorCode, type HeadFields, type RequestHead, type ResponseHead } from './head-types.js';

export const MAX_HEAD_BYTES = 64 * 1024;
const CRLF = '\r\n';

// The head is scanned once, byte by byte, against the tables of bytes.ts rather than with regular
// expressions and per-line string work (docs/proxy-performance.md has the before and after).
// Every rule is unchanged.
/** Index just past the blank line that ends the head, or -1 while it is incomplete. */
export function findHeadEnd(buf: Buffer, from = 0): number {
  const i = buf.indexOf('\r\n\r\n', from, 'latin1');
  return i < 0 ? -1 : i + 4;
}

export function parseRequestHead(buf: Buffer, start: number, end: number): RequestHead | HeadError {
  const text = buf.toString('latin1', start, end - 4);
  const len = text.length;
  let sp1 = 0;
  while (sp1 < len && TCHAR[text.charCodeAt(sp1)] === 1) sp1++;
  let sp2 = sp1 + 1;
  let c = 0;
  while (sp2 < len && (c = text.charCodeAt(sp2)) > 0x20 && c !== 0x7f) sp2++;
  const eol = lineEnd(text, sp1);
  if (sp1 === 0 || text.charCodeAt(sp1) !== 32 || sp2 === sp1 + 1 || text.charCodeAt(sp2) !== 32) {
    return requestLineError(text, eol);
  }
  const version = text.slice(sp2 + 1, eol);
  const minor = version === 'HTTP/1.1' ? 1 : version === 'HTTP/1.0' ? 0 : -1;
  if (minor < 0) {
    if (version.indexOf(' ') >= 0) return requestLineError(text, eol);
    return new HeadError('bad_version', `unsupported version "${version.slice(0, 16)}"`);
  }
  const head: RequestHead = {
    method: text.slice(0, sp1),
    target: text.slice(sp1 + 1, sp2),
    host: undefined,
    // Written out rather than spread from one template: a spread costs ~150 ns a head, a literal ~5.
    minor: minor as 0 | 1,
    names: [],
    values: [],
    contentLength: -1,
    chunked: false,
    close: minor === 0,
    connectionTokens: [],
    upgrade: undefined,
  };
  const err = parseFields(buf, start, text, eol < len ? eol + 2 : len, head);
  if (err) return err;
  let hosts = 0;
  for (let i = 0; i < head.names.length; i++) {
    if (head.names[i] === 'host') {
      hosts++;
      head.host = head.values[i];
    }
  }
  if (hosts > 1) return new HeadError('duplicate_host', 'more than one Host header');
  if (hosts === 0 && minor === 1) return new HeadError('missing_host', 'HTTP/1.1 request without Host');
  if (head.chunked && minor === 0) {
    // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 request is a sign of smuggling.
    return new HeadError('bad_transfer_encoding', 'Transfer-Encoding in an HTTP/1.0 request');
  }
  return head;
}

/** The request line is wrong: say which part (the rare path, so plain string work is fine). */
function requestLineError(text: string, eol: number): HeadError {
  const parts = text.slice(0, eol).split(' ');
  if (parts.length !== 3 || parts[0] === '') {
    return new HeadError('bad_request_line', 'request line is not "METHOD target HTTP/1.x"');
  }
  for (let i = 0; i < parts[0]!.length; i++) {
    if (TCHAR[parts[0]!.charCodeAt(i)] !== 1) return new HeadError('bad_request_line', 'method is not a token');
  }
  return new HeadError('bad_request_line', 'request target has bad bytes');
}

export function parseResponseHead(buf: Buffer, start: number, end: number): ResponseHead | HeadError {
  const text = buf.toString('latin1', start, end - 4);
  const eol = lineEnd(text, 0);
  // "HTTP/1.1 200 OK" — the reason phrase may be empty or contain spaces.
  const minor = text.startsWith('HTTP/1.1 ') ? 1 : text.startsWith('HTTP/1.0 ') ? 0 : -1;
  const d0 = text.charCodeAt(9) - 48;
  const d1 = text.charCodeAt(10) - 48;
  const d2 = text.charCodeAt(11) - 48;
  if (minor < 0 || eol < 12 || !(d0 >= 1 && d0 <= 5) || !(d1 >= 0 && d1 <= 9) || !(d2 >= 0 && d2 <= 9) || (eol > 12 && text.charCodeAt(12) !== 32)) {
    return new HeadError('bad_status_line', 'status line is not "HTTP/1.x NNN reason"');
  }
  for (let i = 13; i < eol; i++) {
    // RFC 9112 §4: HTAB, SP, VCHAR and obs-text only — a bare CR or LF would split the head we forward.
    const c = text.charCodeAt(i);
    if (CTL[c] === 1 || c === 10 || c === 13) return new HeadError('bad_status_line', 'reason phrase has control bytes');
  }
  const head: ResponseHead = {
    status: d0 * 100 + d1 * 10 + d2,
    reason: text.slice(13, eol),
    minor: minor as 0 | 1,
    names: [],
    values: [],
    contentLength: -1,
    chunked: false,
    close: minor === 0,
    connectionTokens: [],
    upgrade: undefined,
  };
  const err = parseFields(buf, start, text, eol < text.length ? eol + 2 : text.length, head);
  return err ?? head;
}

/** Methods whose repetition has no extra effect (RFC 9110 §9.2.2): safe to retry after sending. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);
export function isIdempotent(method: string): boolean {
  return IDEMPOTENT.has(method);
}

/** Whether a response to `method` with `status` carries no body whatever its headers say (§6.3). */
export function responseHasNoBody(method: string, status: number): boolean {
  return method === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200);
}

export function headerValue(h: HeadFields, name: string): string | undefined {
  const i = h.names.indexOf(name);
  return i < 0 ? undefined : h.values[i];
}

export { CRLF };
