/**
 * The TCP services' byte-level cores: the PROXY protocol header (v1 text, v2 binary, HAProxy's
 * spec), the check for a client's own PROXY header, PostgreSQL's SSLRequest opening, and the peer
 * tunnel's request and answer.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pgFatal, proxyHeaderV1, proxyHeaderV2, readPgOpening, startsWithProxyHeader } from '../../src/proxy/tcp/index.js';

const v4 = { srcAddress: '192.0.2.10', srcPort: 50000, dstAddress: '203.0.113.1', dstPort: 5432 };

describe('PROXY protocol headers', () => {
  it('writes v1 for IPv4, IPv6, mapped and unknown addresses', () => {
    assert.equal(proxyHeaderV1(v4).toString(), 'PROXY TCP4 192.0.2.10 203.0.113.1 50000 5432\r\n');
    assert.equal(proxyHeaderV1({ ...v4, srcAddress: '::ffff:192.0.2.10', dstAddress: '::ffff:203.0.113.1' }).toString(), 'PROXY TCP4 192.0.2.10 203.0.113.1 50000 5432\r\n');
    assert.equal(proxyHeaderV1({ ...v4, srcAddress: '2001:db8::1', dstAddress: '2001:db8::2' }).toString(), 'PROXY TCP6 2001:db8::1 2001:db8::2 50000 5432\r\n');
    assert.equal(proxyHeaderV1({ ...v4, srcAddress: '' }).toString(), 'PROXY UNKNOWN\r\n');
  });

  it('writes v2 with the signature, family, length, addresses and ports', () => {
    const b = proxyHeaderV2(v4);
    assert.equal(b.toString('hex'), '0d0a0d0a000d0a515549540a' + '21' + '11' + '000c' + 'c000020a' + 'cb007101' + 'c350' + '1538');
    const six = proxyHeaderV2({ ...v4, srcAddress: '2001:db8::1', dstAddress: '192.0.2.1' });
    assert.equal(six[13], 0x21, 'TCP over IPv6 when either end is IPv6');
    assert.equal(six.readUInt16BE(14), 36);
    assert.equal(six.subarray(16, 32).toString('hex'), '20010db8000000000000000000000001');
    assert.equal(six.subarray(32, 48).toString('hex'), '00000000000000000000ffffc0000201', 'the IPv4 end IPv4-mapped');
    assert.equal(proxyHeaderV2({ ...v4, dstAddress: 'nonsense' }).subarray(12).toString('hex'), '20000000', 'LOCAL without addresses');
  });

  it("recognises a client's header in either version, from its first bytes", () => {
    assert.equal(startsWithProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4')), 'yes');
    assert.equal(startsWithProxyHeader(Buffer.from('PRO')), 'more');
    assert.equal(startsWithProxyHeader(proxyHeaderV2(v4).subarray(0, 5)), 'more');
    assert.equal(startsWithProxyHeader(proxyHeaderV2(v4)), 'yes');
    assert.equal(startsWithProxyHeader(Buffer.from('PROXZ')), 'no');
    assert.equal(startsWithProxyHeader(Buffer.from('GET / HTTP/1.1\r\n')), 'no');
    assert.equal(startsWithProxyHeader(Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x01])), 'no');
  });
});

describe("PostgreSQL's opening (pg_tls)", () => {
  const req = (code: number): Buffer => {
    const b = Buffer.alloc(8);
    b.writeUInt32BE(8, 0);
    b.writeUInt32BE(code, 4);
    return b;
  };
  it('tells SSLRequest, GSSENCRequest, direct TLS and a plain startup apart', () => {
    assert.equal(readPgOpening(req(80877103)).kind, 'ssl');
    assert.equal(readPgOpening(req(80877104)).kind, 'gssenc');
    assert.equal(readPgOpening(req(80877103).subarray(0, 5)).kind, 'more');
    assert.equal(readPgOpening(Buffer.from([0x16, 0x03, 0x01])).kind, 'direct-tls');
    const startup = Buffer.alloc(16);
    startup.writeUInt32BE(16, 0);
    startup.writeUInt32BE(196608, 4); // protocol 3.0
    assert.equal(readPgOpening(startup).kind, 'plain');
  });
  it('refuses in the protocol: an ErrorResponse with its length, severity and code', () => {
    const e = pgFatal('SSL required');
    assert.equal(e[0], 0x45);
    assert.equal(e.readUInt32BE(1), e.length - 1);
    assert.match(e.toString('utf8', 5), /^SFATAL\0VFATAL\0C08P01\0MSSL required\0\0$/);
  });
});
