import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { before, describe, it } from 'node:test';
import tls from 'node:tls';
import { readClientHello, type ClientHelloResult } from '../../src/proxy/tls/client-hello.js';

const OPENSSL = '/usr/bin/openssl';
const FIXTURE = new URL('../../../test/fixtures/client-hello-h2.hex', import.meta.url);

/** Test-side record walker: the handshake bytes and the bytes of records they took, once complete. */
function handshakeOf(buf: Buffer): { hs: Buffer; consumed: number } | undefined {
  const parts: Buffer[] = [];
  let off = 0;
  let have = 0;
  while (off + 5 <= buf.length) {
    const len = buf.readUInt16BE(off + 3);
    if (off + 5 + len > buf.length) return undefined;
    parts.push(buf.subarray(off + 5, off + 5 + len));
    have += len;
    off += 5 + len;
    const hs = Buffer.concat(parts);
    if (have >= 4 && have >= 4 + hs.readUIntBE(1, 3)) return { hs, consumed: off };
  }
  return undefined;
}

/** Listens on 127.0.0.1:0, runs `client(port)`, and resolves with the first complete hello sent. */
async function capture(client: (port: number) => () => void): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  let stop: (() => void) | undefined;
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no ClientHello within 10 s')), 10_000);
      server.on('connection', (sock) => {
        let got = Buffer.alloc(0);
        sock.on('error', () => {});
        sock.on('data', (d: Buffer) => {
          got = Buffer.concat([got, d]);
          const done = handshakeOf(got);
          if (!done) return;
          clearTimeout(timer);
          sock.destroy();
          resolve(got.subarray(0, done.consumed));
        });
      });
      stop = client(port);
    });
  } finally {
    stop?.();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

function nodeClient(opts: tls.ConnectionOptions): (port: number) => () => void {
  return (port) => {
    const sock = tls.connect({ host: '127.0.0.1', port, ...opts });
    sock.on('error', () => {});
    return () => sock.destroy();
  };
}

/** Rewrites the record layer: the same handshake bytes in records of `size` bytes each. */
function resplit(hello: Buffer, size: number): Buffer {
  const hs = handshakeOf(hello)!.hs;
  const out: Buffer[] = [];
  for (let i = 0; i < hs.length; i += size) {
    const frag = hs.subarray(i, i + size);
    const head = Buffer.from([22, 3, 1, 0, 0]);
    head.writeUInt16BE(frag.length, 3);
    out.push(head, frag);
  }
  return Buffer.concat(out);
}

/** [name, offset, width] of each length field in a one-record hello. */
function lengthFields(h: Buffer): [string, number, number][] {
  const fields: [string, number, number][] = [['record', 3, 2], ['handshake', 6, 3], ['session_id', 43, 1]];
  let p = 44 + h[43]!;
  fields.push(['cipher_suites', p, 2]);
  p += 2 + h.readUInt16BE(p);
  p += 1 + h[p]!; // compression methods
  fields.push(['extensions', p, 2]);
  const end = p + 2 + h.readUInt16BE(p);
  for (p += 2; p < end; p += 4 + h.readUInt16BE(p + 2)) {
    const type = h.readUInt16BE(p);
    if (type === 0) fields.push(['server_name_list', p + 4, 2]);
    if (type === 16) fields.push(['alpn_list', p + 4, 2]);
  }
  return fields;
}

function hello(r: ClientHelloResult): Extract<ClientHelloResult, { kind: 'hello' }> {
  assert.equal(r.kind, 'hello', JSON.stringify(r));
  return r;
}

function errorCode(r: ClientHelloResult): string {
  return r.kind === 'error' ? r.code : r.kind;
}

/** mulberry32: a small seeded PRNG so the fuzz inputs are the same on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('readClientHello on captured hellos', () => {
  const caps = new Map<string, Buffer>();
  before(async () => {
    caps.set('h2', await capture(nodeClient({ servername: 'App.Example.com', ALPNProtocols: ['h2', 'http/1.1'] })));
    caps.set('nosni', await capture(nodeClient({ ALPNProtocols: ['http/1.1'] })));
    caps.set('acme', await capture(nodeClient({ servername: 'app.example.com', ALPNProtocols: ['acme-tls/1'] })));
    caps.set('tls12', await capture(nodeClient({ servername: 'old.example.com', maxVersion: 'TLSv1.2' })));
    const many = Array.from({ length: 120 }, (_, i) => `proto-${i}-${'x'.repeat(8)}`);
    caps.set('big', await capture(nodeClient({ servername: 'big.example.com', ALPNProtocols: many })));
  });
  const cap = (name: string): Buffer => caps.get(name)!;

  it('reads SNI (lowercased), ALPN and supported_versions', () => {
    const h = hello(readClientHello(cap('h2')));
    assert.equal(h.serverName, 'app.example.com');
    assert.deepEqual(h.alpn, ['h2', 'http/1.1']);
    assert.ok(h.tlsVersions.includes(0x0304) && h.tlsVersions.includes(0x0303), String(h.tlsVersions));
    assert.equal(h.length, cap('h2').length);
  });

  it('variants: no servername, acme-tls/1, TLS 1.2 max, a hello over 1.5 KB', () => {
    const nosni = hello(readClientHello(cap('nosni')));
    assert.equal(nosni.serverName, undefined);
    assert.deepEqual(nosni.alpn, ['http/1.1']);
    const acme = hello(readClientHello(cap('acme')));
    assert.equal(acme.serverName, 'app.example.com');
    assert.deepEqual(acme.alpn, ['acme-tls/1']);
    const old = hello(readClientHello(cap('tls12')));
    assert.equal(old.serverName, 'old.example.com');
    assert.deepEqual(old.alpn, []);
    assert.ok(!old.tlsVersions.includes(0x0304), String(old.tlsVersions));
    assert.ok(cap('big').length > 1500);
    const big = hello(readClientHello(cap('big')));
    assert.equal(big.alpn.length, 120);
    assert.equal(big.alpn[119], 'proto-119-xxxxxxxx');
  });

  it('reads a hello captured from the openssl CLI', { skip: !existsSync(OPENSSL) }, async () => {
    const bytes = await capture((port) => {
      const args = ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'x.test', '-alpn', 'acme-tls/1'];
      const child = spawn(OPENSSL, args, { stdio: ['pipe', 'ignore', 'ignore'] });
      child.on('error', () => {});
      return () => child.kill();
    });
    const h = hello(readClientHello(bytes));
    assert.equal(h.serverName, 'x.test');
    assert.deepEqual(h.alpn, ['acme-tls/1']);
    assert.ok(h.tlsVersions.includes(0x0304));
  });

  it('parses the golden hex fixture', () => {
    const bytes = Buffer.from(readFileSync(FIXTURE, 'utf8').replace(/\s+/g, ''), 'hex');
    const h = hello(readClientHello(bytes));
    assert.deepEqual([h.serverName, h.alpn, h.length], ['app.example.com', ['h2', 'http/1.1'], bytes.length]);
    assert.ok(h.tlsVersions.includes(0x0304));
  });

  it('every proper prefix is incomplete', () => {
    for (const [name, bytes] of caps) {
      for (let n = 0; n < bytes.length; n++) {
        assert.equal(readClientHello(bytes.subarray(0, n)).kind, 'incomplete', `${name} prefix ${n}`);
      }
    }
  });

  it('parses the same hello split across many records, and its prefixes are incomplete', () => {
    for (const [name, bytes] of caps) {
      const want = hello(readClientHello(bytes));
      for (const size of [1, 7, 100, 1400]) {
        const split = resplit(bytes, size);
        assert.deepEqual(readClientHello(split), { ...want, length: split.length }, `${name} in ${size}s`);
      }
      const split = resplit(bytes, 100);
      for (let n = 0; n < split.length; n++) assert.equal(readClientHello(split.subarray(0, n)).kind, 'incomplete');
    }
  });

  it('leaves bytes after the hello to the caller', () => {
    const extra = Buffer.concat([cap('h2'), Buffer.from([23, 3, 3, 0, 2, 0xaa, 0xbb]), Buffer.from('junk')]);
    assert.equal(hello(readClientHello(extra)).length, cap('h2').length);
  });

  it('rejects what is not a TLS ClientHello', () => {
    assert.equal(errorCode(readClientHello(Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\n'))), 'not_tls');
    assert.equal(errorCode(readClientHello(Buffer.from('G'))), 'not_tls');
    assert.equal(errorCode(readClientHello(Buffer.from([22, 0x47, 0x45]))), 'not_tls');
    const serverHello = Buffer.from(cap('h2'));
    serverHello[5] = 2;
    assert.equal(errorCode(readClientHello(serverHello)), 'not_client_hello');
    assert.equal(errorCode(readClientHello(serverHello.subarray(0, 6))), 'not_client_hello');
    assert.equal(errorCode(readClientHello(Buffer.from([21, 3, 3, 0, 2, 2, 40]))), 'not_client_hello');
  });

  it('says too_large for a hello over 64 KiB from its header alone', () => {
    const head = Buffer.from([22, 3, 1, 0x40, 0, 1, 0x01, 0x00, 0x01]);
    assert.equal(errorCode(readClientHello(head)), 'too_large');
    assert.equal(errorCode(readClientHello(Buffer.from([22, 3, 1, 0x40, 0, 1, 0, 0xff, 0xfc]))), 'incomplete');
  });

  it('corrupt lengths give malformed or incomplete, never a throw or a hello', () => {
    for (const name of ['h2', 'acme', 'big']) {
      const bytes = cap(name);
      const fields = lengthFields(bytes);
      assert.equal(fields.length, 7, `${name}: all seven length fields found`);
      for (const [field, off, width] of fields) {
        const max = 2 ** (8 * width) - 1;
        const v = bytes.readUIntBE(off, width);
        for (const bad of [v + 1, v - 1, v + 16, 0, max]) {
          if (bad < 0 || bad > max || bad === v) continue;
          const mutated = Buffer.from(bytes);
          mutated.writeUIntBE(bad, off, width);
          const got = errorCode(readClientHello(mutated));
          const allowed = field === 'handshake' ? ['malformed', 'incomplete', 'too_large'] : ['malformed', 'incomplete'];
          assert.ok(allowed.includes(got), `${name} ${field} ${v} -> ${bad}: ${got}`);
        }
      }
    }
  });

  it('treats a server name that is no DNS name as malformed', () => {
    const bytes = cap('h2');
    const at = bytes.indexOf('App.Example.com');
    for (const bad of ['app..xample.com', 'app_example.com', 'app.example.co.', '.pp.example.com', 'app.exampl\0.com']) {
      const mutated = Buffer.from(bytes);
      mutated.write(bad, at, 'latin1');
      assert.equal(errorCode(readClientHello(mutated)), 'malformed', bad);
    }
  });

  it('never throws on random bytes or random mutations (seeded fuzz)', () => {
    const rand = prng(0x5eed);
    const pick = (n: number): number => Math.floor(rand() * n);
    const valid = /^(?:[a-z0-9-]{1,63}\.)*[a-z0-9-]{1,63}$/;
    const hellos = [...caps.values()];
    for (let i = 0; i < 4000; i++) {
      let input: Buffer;
      if (i % 2 === 0) {
        input = Buffer.from(Array.from({ length: pick(600) }, () => pick(256)));
        if (i % 4 === 0 && input.length >= 6) input.set([22, 3, 1, pick(0x42), pick(256), 1]);
      } else {
        const base = hellos[pick(hellos.length)]!;
        input = Buffer.from(base.subarray(0, base.length - (i % 3 === 0 ? pick(base.length) : 0)));
        for (let k = 1 + pick(4); k > 0 && input.length > 0; k--) input[pick(input.length)] = pick(256);
      }
      const r = readClientHello(input);
      if (r.kind === 'hello') {
        assert.ok(r.length <= input.length);
        assert.ok(r.serverName === undefined || valid.test(r.serverName), r.serverName);
      }
    }
  });
});
