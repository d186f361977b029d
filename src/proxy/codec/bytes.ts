/**
 * Byte classes for the head scanner (head.ts) and the interned spellings of well-known field names.
 *
 * A field name is kept lower-case. For the names most messages carry, the scanner returns one shared
 * constant instead of slicing and lower-casing the line: no new string per field, and the later
 * set/map lookups (core/headers.ts) find the hash already computed. Unknown names take the slow way.
 */

/** RFC 9110 §5.6.2 tchar. */
export const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TCHAR[c.charCodeAt(0)] = 1;

/** Control bytes other than HTAB, CR and LF; CR and LF are checked separately (they must pair). */
export const CTL = new Uint8Array(256);
for (let c = 0; c < 32; c++) if (c !== 9 && c !== 10 && c !== 13) CTL[c] = 1;
CTL[0x7f] = 1;

/** Bytes a field value may hold (RFC 9110 §5.5): HTAB, SP, VCHAR and obs-text. */
export const FIELD_VALUE = new Uint8Array(256);
FIELD_VALUE[9] = 1;
for (let c = 0x20; c < 0x7f; c++) FIELD_VALUE[c] = 1;
for (let c = 0x80; c < 0x100; c++) FIELD_VALUE[c] = 1;

const KNOWN = [
  // requests
  'host', 'user-agent', 'accept', 'accept-encoding', 'accept-language', 'authorization', 'cookie',
  'referer', 'origin', 'if-none-match', 'if-modified-since', 'range', 'content-type', 'content-length',
  'transfer-encoding', 'connection', 'upgrade', 'keep-alive', 'te', 'x-forwarded-for', 'via',
  'x-request-id', 'sec-fetch-mode', 'sec-fetch-site', 'sec-fetch-dest', 'dnt', 'priority', 'pragma',
  'cache-control', 'x-requested-with', 'sec-websocket-key', 'sec-websocket-version',
  // responses
  'server', 'date', 'last-modified', 'etag', 'accept-ranges', 'content-encoding', 'vary', 'expires',
  'location', 'set-cookie', 'age', 'x-content-type-options', 'strict-transport-security',
  'content-security-policy', 'x-frame-options', 'access-control-allow-origin', 'www-authenticate',
  'retry-after', 'trailer', 'sec-websocket-accept', 'fly-replay', 'starling-replay',
];

const BUCKETS = 512;
const table: (string[] | undefined)[] = new Array<string[] | undefined>(BUCKETS);
function bucket(len: number, first: number, last: number): number {
  return ((len << 4) ^ (first | 0x20) ^ ((last | 0x20) << 2)) & (BUCKETS - 1);
}
for (const name of KNOWN) {
  const k = bucket(name.length, name.charCodeAt(0), name.charCodeAt(name.length - 1));
  (table[k] ??= []).push(name);
}

/**
 * The interned lower-case spelling of the field name `buf[from, to)`, or undefined when it is not a
 * well-known one. The bytes have passed the tchar scan, so `| 0x20` only folds letters: for the
 * characters of a known name (a–z, 0–9, '-') no other tchar byte folds to the same value.
 */
export function knownName(buf: Buffer, from: number, to: number): string | undefined {
  const len = to - from;
  const cands = table[bucket(len, buf[from]!, buf[to - 1]!)];
  if (cands === undefined) return undefined;
  for (let c = 0; c < cands.length; c++) {
    const name = cands[c]!;
    if (name.length !== len) continue;
    let i = 0;
    while (i < len && (buf[from + i]! | 0x20) === name.charCodeAt(i)) i++;
    if (i === len) return name;
  }
  return undefined;
}
