/**
 * HTTP/1.1 message heads, parsed strictly and without I/O (RFC 9110, RFC 9112).
 *
 * The proxy forwards only what it understands; every ambiguity a front end and a back end could read
 * differently (request smuggling, RFC 9112 §6.3 and §11.2) is rejected here with a stable code:
 * both Content-Length and Transfer-Encoding, differing Content-Length values, obs-fold (§5.2), white
 * space before a header colon (§5.1), bare CR or LF, control bytes, and non-token names.
 */
export const MAX_HEAD_BYTES = 64 * 1024;
const CRLF = '\r\n';

export type HeadErrorCode =
  | 'bad_request_line'
  | 'bad_version'
  | 'bad_header_bytes'
  | 'bad_header_name'
  | 'obs_fold'
  | 'duplicate_host'
  | 'missing_host'
  | 'bad_content_length'
  | 'conflicting_content_length'
  | 'length_and_chunked'
  | 'bad_transfer_encoding'
  | 'unsupported_transfer_encoding'
  | 'bad_status_line';

export class HeadError {
  constructor(
    readonly code: HeadErrorCode,
    readonly detail: string,
  ) {}
}

/** Fields common to requests and responses. `names` are lower-case; `lines` keep the original text. */
export interface HeadFields {
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minor: 0 | 1;
  names: string[];
  values: string[];
  /** Content-Length, or -1 when absent. */
  contentLength: number;
  chunked: boolean;
  /** `Connection: close` (or HTTP/1.0 without keep-alive). */
  close: boolean;
  /** Lower-case tokens of the Connection header (hop-by-hop names among them). */
  connectionTokens: string[];
  upgrade: string | undefined;
}

export interface RequestHead extends HeadFields {
  method: string;
  target: string;
  host: string | undefined;
}

export interface ResponseHead extends HeadFields {
  status: number;
  reason: string;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Control bytes other than HTAB, CR and LF; CR and LF are checked separately (they must pair).
// eslint-disable-next-line no-control-regex -- matching control bytes is the point
const CTL = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/;
const TARGET = /^[\x21-\x7e\x80-\xff]+$/;
const DIGITS = /^[0-9]{1,15}$/;
const STATUS = /^[1-5][0-9][0-9]$/;

/** Index just past the blank line that ends the head, or -1 while it is incomplete. */
export function findHeadEnd(buf: Buffer, from = 0): number {
  const i = buf.indexOf('\r\n\r\n', from, 'latin1');
  return i < 0 ? -1 : i + 4;
}

export function parseRequestHead(buf: Buffer, start: number, end: number): RequestHead | HeadError {
  const text = buf.toString('latin1', start, end - 4);
  const eol = text.indexOf(CRLF);
  const first = eol < 0 ? text : text.slice(0, eol);
  const sp1 = first.indexOf(' ');
  const sp2 = first.indexOf(' ', sp1 + 1);
  if (sp1 <= 0 || sp2 < 0 || first.indexOf(' ', sp2 + 1) >= 0) {
    return new HeadError('bad_request_line', 'request line is not "METHOD target HTTP/1.x"');
  }
  const method = first.slice(0, sp1);
  const target = first.slice(sp1 + 1, sp2);
  const version = first.slice(sp2 + 1);
  if (!TOKEN.test(method)) return new HeadError('bad_request_line', 'method is not a token');
  if (!TARGET.test(target)) return new HeadError('bad_request_line', 'request target has bad bytes');
  const minor = version === 'HTTP/1.1' ? 1 : version === 'HTTP/1.0' ? 0 : -1;
  if (minor < 0) return new HeadError('bad_version', `unsupported version "${version.slice(0, 16)}"`);
  const head: RequestHead = {
    method,
    target,
    host: undefined,
    ...emptyFields(minor as 0 | 1),
  };
  const err = parseFields(text, eol < 0 ? text.length : eol + 2, head);
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

export function parseResponseHead(buf: Buffer, start: number, end: number): ResponseHead | HeadError {
  const text = buf.toString('latin1', start, end - 4);
  const eol = text.indexOf(CRLF);
  const first = eol < 0 ? text : text.slice(0, eol);
  // "HTTP/1.1 200 OK" — the reason phrase may be empty or contain spaces.
  const minor = first.startsWith('HTTP/1.1 ') ? 1 : first.startsWith('HTTP/1.0 ') ? 0 : -1;
  const code = first.slice(9, 12);
  if (minor < 0 || !STATUS.test(code) || (first.length > 12 && first[12] !== ' ')) {
    return new HeadError('bad_status_line', 'status line is not "HTTP/1.x NNN reason"');
  }
  const reason = first.slice(13);
  if (CTL.test(reason)) return new HeadError('bad_status_line', 'reason phrase has control bytes');
  const head: ResponseHead = { status: Number(code), reason, ...emptyFields(minor as 0 | 1) };
  const err = parseFields(text, eol < 0 ? text.length : eol + 2, head);
  return err ?? head;
}

function emptyFields(minor: 0 | 1): HeadFields {
  return {
    minor,
    names: [],
    values: [],
    contentLength: -1,
    chunked: false,
    close: minor === 0,
    connectionTokens: [],
    upgrade: undefined,
  };
}

function parseFields(text: string, from: number, head: HeadFields): HeadError | undefined {
  if (CTL.test(text)) return new HeadError('bad_header_bytes', 'control byte in the head');
  let pos = from;
  let te: string | undefined;
  while (pos < text.length) {
    let eol = text.indexOf(CRLF, pos);
    if (eol < 0) eol = text.length;
    const line = text.slice(pos, eol);
    pos = eol + 2;
    if (line.indexOf('\r') >= 0 || line.indexOf('\n') >= 0) {
      return new HeadError('bad_header_bytes', 'bare CR or LF in the head');
    }
    const c0 = line.charCodeAt(0);
    if (c0 === 32 || c0 === 9) return new HeadError('obs_fold', 'obsolete line folding');
    const colon = line.indexOf(':');
    const rawName = colon < 0 ? line : line.slice(0, colon);
    if (colon <= 0 || !TOKEN.test(rawName)) {
      return new HeadError('bad_header_name', `bad header name "${rawName.slice(0, 40)}"`);
    }
    const name = rawName.toLowerCase();
    const value = line.slice(colon + 1).trim();
    head.names.push(name);
    head.values.push(value);
    switch (name) {
      case 'content-length': {
        // A list of identical values ("5, 5") is allowed by RFC 9110 §8.6; anything else is not.
        for (const part of value.split(',')) {
          const v = part.trim();
          if (!DIGITS.test(v)) return new HeadError('bad_content_length', 'Content-Length is not a number');
          const n = Number(v);
          if (head.contentLength >= 0 && head.contentLength !== n) {
            return new HeadError('conflicting_content_length', 'Content-Length values differ');
          }
          head.contentLength = n;
        }
        break;
      }
      case 'transfer-encoding':
        te = te === undefined ? value : `${te},${value}`;
        break;
      case 'connection':
        for (const t of value.toLowerCase().split(',')) {
          const tok = t.trim();
          if (tok === '') continue;
          head.connectionTokens.push(tok);
          if (tok === 'close') head.close = true;
          // `close` wins over `keep-alive` wherever it appears (RFC 9112 §9.3).
          else if (tok === 'keep-alive' && head.minor === 0 && !head.connectionTokens.includes('close')) head.close = false;
        }
        break;
      case 'upgrade':
        head.upgrade = value;
        break;
    }
  }
  if (te !== undefined) {
    const codings = te
      .toLowerCase()
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    if (codings.length === 0 || codings[codings.length - 1] !== 'chunked') {
      return new HeadError('bad_transfer_encoding', 'Transfer-Encoding does not end in chunked');
    }
    if (codings.length > 1) {
      return new HeadError('unsupported_transfer_encoding', `unsupported Transfer-Encoding "${te.slice(0, 40)}"`);
    }
    if (head.contentLength >= 0) {
      return new HeadError('length_and_chunked', 'both Content-Length and Transfer-Encoding');
    }
    head.chunked = true;
  }
  return undefined;
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
