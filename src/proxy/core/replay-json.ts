import { ChunkedScanner, type RequestHead, type ResponseHead } from '../codec/index.js';
import { HEADER_NAME_RE } from '../../contract/index.js';
import { edgeOwnsRequestField } from './headers.js';
import { durationMs, emptyDirective, hasTarget, type ReplayParse, type ReplayTransform } from './replay.js';

/**
 * fly's JSON replay form: a response of type `application/vnd.fly.replay+json` (or Starling's
 * `application/vnd.starling.replay+json`) whose body is the directive — the header's fields, plus
 * `transform` (the replayed request's path, headers deleted, headers set). `cache` is accepted and
 * not applied: fly calls its replay cache an optimisation an app must not rely on, and without it
 * every request still asks the app, which is always correct. Unknown fields are ignored, as in the
 * header form. The body is read whole before anything happens, up to MAX_BYTES.
 */
export const MAX_BYTES = 64 * 1024;
const MAX_LIST = 64;
const MAX_VALUE = 8192;
const TYPES = new Set(['application/vnd.fly.replay+json', 'application/vnd.starling.replay+json']);
// A path and query as a request target carries them: visible ASCII, no fragment.
const PATH = /^\/[\x21-\x22\x24-\x7e]*$/;
// A field value as HTTP/1.1 carries it (latin1 bytes, no control characters but HTAB).
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

/** Whether a response's Content-Type makes it a JSON replay (the media type, parameters aside). */
export function isReplayType(type: string): boolean {
  const semi = type.indexOf(';');
  return TYPES.has((semi < 0 ? type : type.slice(0, semi)).trim().toLowerCase());
}

/** Collects a JSON replay's body as the machine frames it (length, chunked or close). */
export class ReplayBody {
  private readonly parts: Buffer[] = [];
  private size = 0;
  private readonly scanner: ChunkedScanner | undefined;
  private remaining: number;

  constructor(resp: ResponseHead) {
    this.scanner = resp.chunked ? new ChunkedScanner() : undefined;
    this.remaining = resp.contentLength;
  }

  /** The bytes from `start`: the whole body's text, `undefined` while more is to come, or an error. */
  feed(buf: Buffer, start: number): string | undefined | Error {
    if (this.scanner) {
      const end = this.scanner.scan(buf, start, buf.length, (a, b) => this.keep(buf.subarray(a, b)));
      if (end < 0) return new Error(`bad chunked replay body: ${this.scanner.error}`);
      if (this.size > MAX_BYTES) return tooLarge();
      return this.scanner.done ? this.text() : undefined;
    }
    if (this.remaining < 0) {
      this.keep(buf.subarray(start));
      return this.size > MAX_BYTES ? tooLarge() : undefined;
    }
    if (this.remaining > MAX_BYTES) return tooLarge();
    const end = Math.min(buf.length, start + this.remaining);
    this.keep(buf.subarray(start, end));
    this.remaining -= end - start;
    return this.remaining === 0 ? this.text() : undefined;
  }

  /** The machine closed its side: the end of a body delimited by the close. */
  end(): string | Error {
    return this.remaining < 0 && !this.scanner ? this.text() : new Error('the machine closed before the replay body ended');
  }

  private keep(b: Buffer): void {
    if (b.length === 0) return;
    this.size += b.length;
    if (this.size <= MAX_BYTES) this.parts.push(b);
  }

  private text(): string {
    return Buffer.concat(this.parts).toString('utf8');
  }
}

function tooLarge(): Error {
  return new Error(`replay body over ${MAX_BYTES / 1024} KiB`);
}

/** The body's directive; its problems named by field, as the header form's are. */
export function parseReplayJson(text: string): ReplayParse {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    // Not the parser's words: they quote the body, which goes nowhere near a header.
    return { ok: false, reason: 'the replay body is not valid JSON' };
  }
  if (!isObject(v)) return { ok: false, reason: 'the replay body must be a JSON object' };
  const d = emptyDirective();
  const region = v['region'];
  if (region !== undefined) {
    const list = typeof region === 'string' ? region.split(',') : Array.isArray(region) ? region : undefined;
    if (!list || list.some((r) => typeof r !== 'string')) return { ok: false, reason: 'region must be a string of comma-separated region codes' };
    const regions = (list as string[]).map((r) => r.trim().toLowerCase()).filter((r) => r !== '');
    if (regions.length === 0) return { ok: false, reason: 'empty region list' };
    d.regions = regions;
  }
  for (const [key, set] of STRINGS) {
    const s = v[key];
    if (s === undefined) continue;
    if (typeof s !== 'string') return { ok: false, reason: `${key} must be a string` };
    set(d, s);
  }
  if (v['elsewhere'] !== undefined) {
    if (typeof v['elsewhere'] !== 'boolean') return { ok: false, reason: 'elsewhere must be true or false' };
    d.elsewhere = v['elsewhere'];
  }
  if (v['timeout'] !== undefined) {
    const ms = typeof v['timeout'] === 'string' ? durationMs(v['timeout']) : undefined;
    if (ms === undefined) return { ok: false, reason: 'timeout must be a duration such as "2s" or "800ms"' };
    d.timeoutMs = ms;
  }
  const fallback = v['fallback'];
  if (fallback !== undefined) {
    if (fallback !== 'force_self' && fallback !== 'prefer_self') return { ok: false, reason: 'fallback must be "force_self" or "prefer_self"' };
    d.fallback = fallback;
  }
  if (v['transform'] !== undefined) {
    const t = parseTransform(v['transform']);
    if (typeof t === 'string') return { ok: false, reason: t };
    d.transform = t;
  }
  if (!hasTarget(d)) return { ok: false, reason: 'no target (region, instance, prefer_instance, app or elsewhere)' };
  return { ok: true, directive: d };
}

const STRINGS: readonly [string, (d: ReturnType<typeof emptyDirective>, s: string) => void][] = [
  ['instance', (d, s) => (d.instance = s)],
  ['prefer_instance', (d, s) => (d.preferInstance = s)],
  ['app', (d, s) => (d.app = s)],
  ['state', (d, s) => (d.state = s)],
];

function parseTransform(t: unknown): ReplayTransform | string {
  if (!isObject(t)) return 'transform must be an object';
  const out: ReplayTransform = { path: undefined, deleteHeaders: [], setHeaders: [] };
  if (t['path'] !== undefined) {
    const p = t['path'];
    if (typeof p !== 'string' || p.length > MAX_VALUE || !PATH.test(p)) return 'transform.path must be a path and query starting with "/" (visible ASCII, no fragment)';
    out.path = p;
  }
  const del = t['delete_headers'];
  if (del !== undefined) {
    if (!Array.isArray(del) || del.length > MAX_LIST) return `transform.delete_headers must be a list of at most ${MAX_LIST} header names`;
    for (const [i, n] of del.entries()) {
      const problem = nameProblem(n);
      if (problem) return `transform.delete_headers[${i}] ${problem}`;
      out.deleteHeaders.push((n as string).toLowerCase());
    }
  }
  const set = t['set_headers'];
  if (set !== undefined) {
    if (!Array.isArray(set) || set.length > MAX_LIST) return `transform.set_headers must be a list of at most ${MAX_LIST} {name, value} objects`;
    for (const [i, h] of set.entries()) {
      if (!isObject(h)) return `transform.set_headers[${i}] must be an object with name and value`;
      const problem = nameProblem(h['name']);
      if (problem) return `transform.set_headers[${i}].name ${problem}`;
      const value = h['value'];
      if (typeof value !== 'string' || value.length > MAX_VALUE || BAD_VALUE.test(value)) return `transform.set_headers[${i}].value must be a string without control characters`;
      out.setHeaders.push([(h['name'] as string).toLowerCase(), value.trim()]);
    }
  }
  return out;
}

/** A header an app may have the replay delete or set: a name, not the Host, framing or the edge's own. */
function nameProblem(n: unknown): string | undefined {
  if (typeof n !== 'string' || !HEADER_NAME_RE.test(n.toLowerCase())) return 'must be a header name';
  const name = n.toLowerCase();
  if (name === 'host' || edgeOwnsRequestField(name)) return `"${name}" is the proxy's to set (Host, framing, hop-by-hop or forwarding fields)`;
  return undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The request the replay sends: the transform applied to a copy (the original stays for a fallback). */
export function transformed(head: RequestHead, t: ReplayTransform): RequestHead {
  const names: string[] = [];
  const values: string[] = [];
  for (let i = 0; i < head.names.length; i++) {
    const name = head.names[i]!;
    if (t.deleteHeaders.includes(name) || t.setHeaders.some(([n]) => n === name)) continue;
    names.push(name);
    values.push(head.values[i]!);
  }
  for (const [n, value] of t.setHeaders) {
    names.push(n);
    values.push(value);
  }
  return { ...head, target: t.path ?? head.target, names, values };
}
