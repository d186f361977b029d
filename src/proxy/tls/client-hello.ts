// An I/O-free reader for the TLS ClientHello, so the proxy can see SNI and ALPN before it picks a TLS
// context. Node's SNICallback sees only the server name, but ACME TLS-ALPN-01 (RFC 8737) needs the
// ALPN list: a client offering `acme-tls/1` must get the validation certificate instead of the app's.
//
// The caller hands over everything read from the socket so far and calls again with more bytes on
// 'incomplete'. Nothing is consumed or copied out of `buf` beyond the handshake fragments; `length`
// in the result says how many bytes of records held the hello, so whatever follows (0-RTT records,
// say) is the caller's to keep. No input makes this throw.
//
// Formats: records RFC 8446 §5.1, ClientHello RFC 8446 §4.1.2, server_name RFC 6066 §3,
// ALPN RFC 7301 §3.1, supported_versions RFC 8446 §4.2.1.

export type ClientHelloErrorCode = 'not_tls' | 'not_client_hello' | 'malformed' | 'too_large';

export type ClientHelloResult =
  | { kind: 'incomplete' }
  | {
      kind: 'hello';
      /** The host_name from server_name, lowercased; undefined when the client sent none. */
      serverName: string | undefined;
      /** ALPN protocol names in the client's order (bytes read as latin1); empty without the extension. */
      alpn: string[];
      /** supported_versions, e.g. 0x0304 for TLS 1.3; empty without the extension (TLS ≤ 1.2 clients). */
      tlsVersions: number[];
      /** Bytes of `buf` taken by the records that carried the hello. */
      length: number;
    }
  | { kind: 'error'; code: ClientHelloErrorCode; detail: string };

const RECORD_HEADER = 5;
const CONTENT_HANDSHAKE = 22;
/** Plaintext records carry at most 2^14 bytes (RFC 8446 §5.1). */
const MAX_PLAINTEXT = 1 << 14;
/** The largest ClientHello handshake message (header included) this reader accepts. */
export const MAX_CLIENT_HELLO = 64 * 1024;
const HS_CLIENT_HELLO = 1;
const EXT_SERVER_NAME = 0;
const EXT_ALPN = 16;
const EXT_SUPPORTED_VERSIONS = 43;
const NAME_TYPE_HOST = 0;

const INCOMPLETE: ClientHelloResult = Object.freeze({ kind: 'incomplete' });

function fail(code: ClientHelloErrorCode, detail: string): ClientHelloResult {
  return { kind: 'error', code, detail };
}

export function readClientHello(buf: Buffer): ClientHelloResult {
  const fragments: Buffer[] = [];
  let have = 0; // handshake bytes gathered so far
  let need = -1; // 4 + handshake length, once known
  let off = 0;
  for (;;) {
    if (buf.length - off < 1) return INCOMPLETE;
    const type = buf[off]!;
    if (type !== CONTENT_HANDSHAKE) {
      if (off > 0) return fail('malformed', `record of type ${type} inside the ClientHello`);
      // 20..24 are TLS content types; anything else (an HTTP verb, SSLv2 0x80) is not TLS.
      if (type < 20 || type > 24) return fail('not_tls', `first byte 0x${hex2(type)} is no TLS record type`);
      if (buf.length > 1 && buf[1] !== 3) return fail('not_tls', `record version major ${buf[1]!}`);
      return fail('not_client_hello', `first record has content type ${type}, not handshake`);
    }
    if (buf.length - off < 2) return INCOMPLETE;
    if (buf[off + 1] !== 3) {
      return fail(off === 0 ? 'not_tls' : 'malformed', `record version major ${buf[off + 1]!}`);
    }
    if (buf.length - off < RECORD_HEADER) return INCOMPLETE;
    const len = buf.readUInt16BE(off + 3);
    if (len === 0) return fail('malformed', 'empty handshake record');
    if (len > MAX_PLAINTEXT) return fail('malformed', `record length ${len} over 2^14`);
    const start = off + RECORD_HEADER;
    // Look at the handshake header as soon as its bytes arrive, even from a partial record.
    const avail = Math.min(len, buf.length - start);
    if (need < 0 && have + avail >= 1) {
      const t = have > 0 ? fragments[0]![0]! : buf[start]!;
      if (t !== HS_CLIENT_HELLO) return fail('not_client_hello', `handshake type ${t}`);
      if (have + avail >= 4) {
        const head = Buffer.concat([...fragments, buf.subarray(start, start + avail)]);
        need = 4 + head.readUIntBE(1, 3);
        if (need > MAX_CLIENT_HELLO) return fail('too_large', `ClientHello of ${need} bytes`);
      }
    }
    if (avail < len) return INCOMPLETE;
    fragments.push(buf.subarray(start, start + len));
    have += len;
    off = start + len;
    if (need >= 0 && have >= need) {
      if (have > need) return fail('malformed', `${have - need} bytes after the ClientHello in its record`);
      const hs = fragments.length === 1 ? fragments[0]! : Buffer.concat(fragments, have);
      return parseBody(hs.subarray(4), off);
    }
  }
}

class Malformed extends Error {}

/** A bounds-checked cursor over one structure; every overrun is a Malformed. */
class Reader {
  private pos = 0;
  constructor(private readonly b: Buffer) {}
  get left(): number {
    return this.b.length - this.pos;
  }
  u8(what: string): number {
    return this.bytes(1, what)[0]!;
  }
  u16(what: string): number {
    return this.bytes(2, what).readUInt16BE(0);
  }
  bytes(n: number, what: string): Buffer {
    if (n > this.left) throw new Malformed(`${what}: ${n} bytes needed, ${this.left} left`);
    const out = this.b.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  /** A vector with a 1- or 2-byte length prefix, returned as its own Reader. */
  vec(prefix: 1 | 2, what: string): Reader {
    const n = prefix === 1 ? this.u8(what) : this.u16(what);
    return new Reader(this.bytes(n, what));
  }
  end(what: string): void {
    if (this.left !== 0) throw new Malformed(`${this.left} stray bytes after ${what}`);
  }
}

function parseBody(body: Buffer, length: number): ClientHelloResult {
  try {
    const r = new Reader(body);
    const major = r.u8('legacy_version');
    r.u8('legacy_version');
    if (major !== 3) throw new Malformed(`legacy_version major ${major}`);
    r.bytes(32, 'random');
    const sid = r.vec(1, 'session_id');
    if (sid.left > 32) throw new Malformed(`session_id of ${sid.left} bytes`);
    const suites = r.vec(2, 'cipher_suites');
    if (suites.left < 2 || suites.left % 2 !== 0) throw new Malformed(`cipher_suites of ${suites.left} bytes`);
    const comp = r.vec(1, 'compression_methods');
    if (comp.left < 1) throw new Malformed('no compression methods');
    let serverName: string | undefined;
    let alpn: string[] = [];
    let tlsVersions: number[] = [];
    // Extensions may be absent altogether in hellos from before TLS 1.3 (RFC 5246 §7.4.1.2).
    if (r.left > 0) {
      const exts = r.vec(2, 'extensions');
      r.end('extensions');
      const seen = new Set<number>();
      while (exts.left > 0) {
        const type = exts.u16('extension type');
        const data = exts.vec(2, `extension ${type}`);
        if (seen.has(type)) throw new Malformed(`extension ${type} twice`);
        seen.add(type);
        if (type === EXT_SERVER_NAME) serverName = parseServerName(data);
        else if (type === EXT_ALPN) alpn = parseAlpn(data);
        else if (type === EXT_SUPPORTED_VERSIONS) tlsVersions = parseVersions(data);
      }
    }
    return { kind: 'hello', serverName, alpn, tlsVersions, length };
  } catch (err) {
    if (err instanceof Malformed) return fail('malformed', err.message);
    throw err;
  }
}

/** RFC 6066 §3. Names of other types are skipped; only host_name (0) is defined. */
function parseServerName(data: Reader): string | undefined {
  const list = data.vec(2, 'server_name_list');
  data.end('server_name_list');
  if (list.left === 0) throw new Malformed('empty server_name_list');
  let host: string | undefined;
  while (list.left > 0) {
    const nameType = list.u8('name_type');
    const name = list.vec(2, 'server name');
    if (nameType !== NAME_TYPE_HOST) continue;
    if (host !== undefined) throw new Malformed('two host_name entries');
    host = hostName(name.bytes(name.left, 'host_name'));
  }
  return host;
}

/** A DNS name: 1..253 bytes of [a-z0-9.-] (ASCII case folded), labels 1..63, no trailing dot. */
function hostName(raw: Buffer): string {
  if (raw.length === 0 || raw.length > 253) throw new Malformed(`host_name of ${raw.length} bytes`);
  let label = 0;
  for (const c of raw) {
    const lower = c >= 0x41 && c <= 0x5a ? c + 0x20 : c;
    if (lower === 0x2e) {
      if (label === 0) throw new Malformed('host_name has an empty label');
      label = 0;
      continue;
    }
    const ok = (lower >= 0x61 && lower <= 0x7a) || (lower >= 0x30 && lower <= 0x39) || lower === 0x2d;
    if (!ok) throw new Malformed(`host_name byte 0x${hex2(c)}`);
    if (++label > 63) throw new Malformed('host_name label over 63 bytes');
  }
  if (label === 0) throw new Malformed('host_name has an empty label');
  return raw.toString('latin1').toLowerCase();
}

/** RFC 7301 §3.1: ProtocolName protocol_name_list<2..2^16-1>, each name<1..2^8-1>. */
function parseAlpn(data: Reader): string[] {
  const list = data.vec(2, 'protocol_name_list');
  data.end('protocol_name_list');
  if (list.left === 0) throw new Malformed('empty protocol_name_list');
  const out: string[] = [];
  while (list.left > 0) {
    const name = list.vec(1, 'protocol name');
    if (name.left === 0) throw new Malformed('empty protocol name');
    out.push(name.bytes(name.left, 'protocol name').toString('latin1'));
  }
  return out;
}

/** RFC 8446 §4.2.1, ClientHello form: ProtocolVersion versions<2..254>. */
function parseVersions(data: Reader): number[] {
  const list = data.vec(1, 'supported_versions');
  data.end('supported_versions');
  if (list.left < 2 || list.left % 2 !== 0) throw new Malformed(`supported_versions of ${list.left} bytes`);
  const out: number[] = [];
  while (list.left > 0) out.push(list.u16('version'));
  return out;
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}
