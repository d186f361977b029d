/**
 * The field lines of an HTTP/1.1 head (RFC 9112 §5), scanned once byte by byte against the tables of
 * bytes.ts. head.ts parses the first line and hands the rest here.
 */
import { CTL, FIELD_VALUE, knownName, TCHAR } from './bytes.js';
import { HeadError, type HeadErrorCode, type HeadFields } from './head-types.js';

const CRLF = '\r\n';

/** Where the line from `from` ends: its CRLF, or the end of the text. */
export function lineEnd(text: string, from: number): number {
  const i = text.indexOf(CRLF, from);
  return i < 0 ? text.length : i;
}

/**
 * The field lines of `text`, which is `buf` from `base` decoded as latin1: the scan reads the bytes
 * (a typed-array load is cheaper than `charCodeAt`), the names and values are slices of the text.
 */
export function parseFields(buf: Buffer, base: number, text: string, from: number, head: HeadFields): HeadError | undefined {
  const len = text.length;
  let pos = from;
  let te: string | undefined;
  while (pos < len) {
    const lineStart = pos;
    let c = buf[base + pos]!;
    if (c === 32 || c === 9) return fieldError(text, from, lineStart, 'obs_fold');
    while (pos < len && TCHAR[(c = buf[base + pos]!)] === 1) pos++;
    if (pos === lineStart || c !== 58 || pos >= len) return fieldError(text, from, lineStart, 'bad_header_name');
    const nameEnd = pos;
    pos++;
    while (pos < len && ((c = buf[base + pos]!) === 32 || c === 9)) pos++;
    const valueStart = pos;
    while (pos < len && FIELD_VALUE[(c = buf[base + pos]!)] === 1) pos++;
    let valueEnd = pos;
    while (valueEnd > valueStart && ((c = buf[base + valueEnd - 1]!) === 32 || c === 9)) valueEnd--;
    if (pos < len) {
      if (buf[base + pos] !== 13 || pos + 1 >= len || buf[base + pos + 1] !== 10) {
        return fieldError(text, from, lineStart, 'bad_header_bytes');
      }
      pos += 2;
    }
    const known = knownName(buf, base + lineStart, base + nameEnd);
    const name = known ?? text.slice(lineStart, nameEnd).toLowerCase();
    const value = text.slice(valueStart, valueEnd);
    head.names.push(name);
    head.values.push(value);
    switch (name) {
      case 'content-length': {
        const err = contentLength(value, head);
        if (err) return laterControlByte(text, pos) ?? err;
        break;
      }
      case 'transfer-encoding':
        te = te === undefined ? value : `${te},${value}`;
        break;
      case 'connection':
        connection(value, head);
        break;
      case 'upgrade':
        head.upgrade = value;
        break;
    }
  }
  return te === undefined ? undefined : transferEncoding(te, head);
}

/**
 * A field line is wrong: the code for the first problem in the order the rules are checked — a
 * control byte anywhere in the fields, then a bare CR or LF in this line, then what the scan found.
 */
function fieldError(text: string, from: number, lineStart: number, found: HeadErrorCode): HeadError {
  const ctl = laterControlByte(text, from);
  if (ctl) return ctl;
  const line = text.slice(lineStart, lineEnd(text, lineStart));
  if (line.indexOf('\r') >= 0 || line.indexOf('\n') >= 0) {
    return new HeadError('bad_header_bytes', 'bare CR or LF in the head');
  }
  if (found === 'obs_fold') return new HeadError('obs_fold', 'obsolete line folding');
  if (found === 'bad_header_name') {
    const colon = line.indexOf(':');
    return new HeadError('bad_header_name', `bad header name "${(colon < 0 ? line : line.slice(0, colon)).slice(0, 40)}"`);
  }
  return new HeadError('bad_header_bytes', 'control byte in the head');
}

/** A control byte at or after `from` is reported before any other problem of the fields. */
function laterControlByte(text: string, from: number): HeadError | undefined {
  for (let i = from; i < text.length; i++) {
    if (CTL[text.charCodeAt(i)] === 1) return new HeadError('bad_header_bytes', 'control byte in the head');
  }
  return undefined;
}

/** Content-Length: a list of identical values ("5, 5") is allowed by RFC 9110 §8.6; nothing else is. */
function contentLength(value: string, head: HeadFields): HeadError | undefined {
  const parts = value.indexOf(',') < 0 ? [value] : value.split(',');
  for (const part of parts) {
    const n = decimal(part);
    if (n < 0) return new HeadError('bad_content_length', 'Content-Length is not a number');
    if (head.contentLength >= 0 && head.contentLength !== n) {
      return new HeadError('conflicting_content_length', 'Content-Length values differ');
    }
    head.contentLength = n;
  }
  return undefined;
}

function connection(value: string, head: HeadFields): void {
  const lower = value.toLowerCase();
  for (const t of lower.indexOf(',') < 0 ? [lower] : lower.split(',')) {
    const tok = t.trim();
    if (tok === '') continue;
    head.connectionTokens.push(tok);
    if (tok === 'close') head.close = true;
    // `close` wins over `keep-alive` wherever it appears (RFC 9112 §9.3).
    else if (tok === 'keep-alive' && head.minor === 0 && !head.connectionTokens.includes('close')) head.close = false;
  }
}

/** A non-negative decimal of 1–15 digits between optional white space, or -1. */
function decimal(s: string): number {
  let i = 0;
  let j = s.length;
  while (i < j && (s.charCodeAt(i) === 32 || s.charCodeAt(i) === 9)) i++;
  while (j > i && (s.charCodeAt(j - 1) === 32 || s.charCodeAt(j - 1) === 9)) j--;
  if (j === i || j - i > 15) return -1;
  let n = 0;
  for (; i < j; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

function transferEncoding(te: string, head: HeadFields): HeadError | undefined {
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
  return undefined;
}

