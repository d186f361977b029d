import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { buildUpdate, checkUpdateReply, signedUpdate, txtValues, zoneFromSoaReply, type UpdateContext } from '../../src/certs/dns01/rfc2136.js';
import { findTsig, type TsigKey } from '../../src/certs/dns01/tsig.js';
import { isStarlingError } from '../../src/shared/index.js';

/**
 * The RFC 2136 + TSIG core on bytes. The expected MAC is computed here from bytes written out by
 * hand (RFC 8945 §4.3.3), not with the code under test.
 */
const SECRET_B64 = 'c3RhcmxpbmctdGVzdC1zZWNyZXQtMzItb2N0ZXRzLWxvbmc=';
const key: TsigKey = { name: 'starling-acme', algorithm: 'hmac-sha256', secret: Buffer.from(SECRET_B64, 'base64') };
const TIME = 1_764_662_400; // 2025-12-02T08:00:00Z
const ID = 0x1234;
const VALUE = 'LPsIwTo7o8BoG0-vjCyGQGBWSVIPxI-i_X336eUOQZo';
const req = { id: ID, zone: 'example.test', fqdn: '_acme-challenge.example.test', value: VALUE, action: 'add' as const };

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const name = (...labels: string[]) => Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from([0])]);
const u16 = (n: number) => hex(n.toString(16).padStart(4, '0'));

describe('RFC 2136 update messages', () => {
  it('an add is opcode UPDATE, zone = SOA of the zone, one TXT RR with TTL 60 in the update section', () => {
    const msg = buildUpdate(req);
    const expected = Buffer.concat([
      hex('1234 2800 0001 0000 0001 0000'), // ID, opcode 5, ZO=1, PR=0, UP=1, AD=0
      name('example', 'test'), hex('0006 0001'), // zone: SOA IN
      name('_acme-challenge', 'example', 'test'), hex('0010 0001 0000003c'), // TXT IN TTL 60
      u16(VALUE.length + 1), Buffer.from([VALUE.length]), Buffer.from(VALUE),
    ]);
    assert.deepEqual(msg, expected);
  });

  it('a cleanup deletes exactly that TXT RR: class NONE (254), TTL 0, same RDATA (§2.5.4)', () => {
    const msg = buildUpdate({ ...req, action: 'delete' });
    const rr = msg.subarray(12 + name('example', 'test').length + 4 + name('_acme-challenge', 'example', 'test').length);
    assert.deepEqual(rr.subarray(0, 8), hex('0010 00fe 00000000'));
    assert.equal(rr.subarray(10).toString('latin1'), `${String.fromCharCode(VALUE.length)}${VALUE}`);
  });

  for (const [algorithm, hash, macLen] of [['hmac-sha256', 'sha256', 32], ['hmac-sha512', 'sha512', 64]] as const) {
    it(`signs with TSIG ${algorithm}: the MAC verifies with node:crypto over the message and the TSIG variables`, () => {
      const k = { ...key, algorithm };
      const { message, mac } = signedUpdate(req, k, TIME);
      const unsigned = buildUpdate(req);
      const tsigVars = Buffer.concat([
        name('starling-acme'), hex('00ff 00000000'), name(...algorithm.split('.')),
        hex(TIME.toString(16).padStart(12, '0')), hex('012c'), hex('0000 0000'), // fudge 300, error 0, other len 0
      ]);
      const independent = createHmac(hash, k.secret).update(unsigned).update(tsigVars).digest();
      assert.equal(mac.length, macLen);
      assert.deepEqual(mac, independent);
      // The message: the unsigned one with ARCOUNT 1, then the TSIG RR.
      assert.equal(message.readUInt16BE(10), 1);
      assert.deepEqual(message.subarray(12, unsigned.length), unsigned.subarray(12));
      const rr = message.subarray(unsigned.length);
      const rdata = Buffer.concat([
        name(...algorithm.split('.')), hex(TIME.toString(16).padStart(12, '0')), hex('012c'), u16(macLen), independent,
        u16(ID), hex('0000 0000'),
      ]);
      assert.deepEqual(rr, Buffer.concat([name('starling-acme'), hex('00fa 00ff 00000000'), u16(rdata.length), rdata]));
      const parsed = findTsig(message);
      assert.equal(parsed?.keyName, 'starling-acme');
      assert.equal(parsed?.algorithm, algorithm);
      assert.equal(parsed?.offset, unsigned.length);
    });
  }
});

/** A server's reply to the signed request: header + zone section echoed, then a TSIG RR signed (or not) by `signWith`. */
function reply(rcode: number, opts: { tsigError?: number; signWith?: Buffer | undefined; requestMac: Buffer; time?: number; id?: number }): Buffer {
  const body = Buffer.concat([hex('1234'), u16(0xa800 | rcode), hex('0001 0000 0000 0000'), name('example', 'test'), hex('0006 0001')]);
  if (opts.id !== undefined) body.writeUInt16BE(opts.id, 0);
  const time = opts.time ?? TIME;
  const error = opts.tsigError ?? 0;
  const vars = Buffer.concat([name('starling-acme'), hex('00ff 00000000'), name('hmac-sha256'), hex(time.toString(16).padStart(12, '0')), hex('012c'), u16(error), hex('0000')]);
  const mac = opts.signWith
    ? createHmac('sha256', opts.signWith).update(u16(opts.requestMac.length)).update(opts.requestMac).update(body).update(vars).digest()
    : Buffer.alloc(0);
  const rdata = Buffer.concat([name('hmac-sha256'), hex(time.toString(16).padStart(12, '0')), hex('012c'), u16(mac.length), mac, u16(ID), u16(error), hex('0000')]);
  const out = Buffer.concat([body, name('starling-acme'), hex('00fa 00ff 00000000'), u16(rdata.length), rdata]);
  out.writeUInt16BE(1, 10);
  return out;
}

describe('RFC 2136 replies', () => {
  const { mac: requestMac } = signedUpdate(req, key, TIME);
  const ctx: UpdateContext = { server: '192.0.2.53:53', zone: 'example.test', fqdn: req.fqdn, action: 'add', key, id: ID, requestMac, nowSeconds: TIME + 1 };
  const refused = (buf: Buffer, pattern: RegExp) =>
    assert.throws(() => checkUpdateReply(buf, ctx), (e: unknown) => {
      assert.ok(isStarlingError(e, 'ERR_DNS_UPDATE'), String(e));
      assert.match(e.message, /^DNS server 192\.0\.2\.53:53 refused adding TXT _acme-challenge\.example\.test in zone example\.test: /);
      assert.match(e.message, pattern);
      assert.ok(!e.message.includes(SECRET_B64) && !e.message.includes(key.secret.toString('latin1')), 'never the secret');
      return true;
    });

  it('accepts NOERROR signed by the server with the request MAC in its input', () => {
    checkUpdateReply(reply(0, { signWith: key.secret, requestMac }), ctx);
  });

  it('refuses a NOERROR whose MAC does not cover the request MAC, or is unsigned', () => {
    refused(reply(0, { signWith: key.secret, requestMac: Buffer.alloc(32) }), /NOERROR, but the reply's TSIG MAC does not verify with TSIG key starling-acme \(hmac-sha256\)/);
    refused(reply(0, { signWith: Buffer.from('other'), requestMac }), /does not verify/);
    refused(reply(0, { requestMac }), /not TSIG-signed/);
  });

  it('REFUSED (signed): the key may not update the name', () => {
    refused(reply(5, { signWith: key.secret, requestMac }), /REFUSED: the server does not allow this key to update this name \(bind9: allow-update/);
  });

  it('NOTAUTH with TSIG BADSIG (unsigned, as servers send it): the secret differs', () => {
    refused(reply(9, { tsigError: 16, requestMac }), /NOTAUTH, BADSIG for TSIG key starling-acme \(hmac-sha256\): the TSIG secret differs/);
  });

  it('NOTAUTH with BADKEY, and BADTIME', () => {
    refused(reply(9, { tsigError: 17, requestMac }), /NOTAUTH, BADKEY .*does not know this TSIG key/);
    refused(reply(9, { tsigError: 18, signWith: key.secret, requestMac }), /BADTIME .*check both clocks/);
  });

  it('NOTAUTH and NOTZONE without TSIG errors, and a reply to another ID', () => {
    refused(reply(9, { signWith: key.secret, requestMac }), /NOTAUTH: the server is not authoritative for the zone/);
    refused(reply(10, { signWith: key.secret, requestMac }), /NOTZONE: the name is not inside the zone/);
    refused(reply(0, { signWith: key.secret, requestMac, id: 0x4321 }), /does not answer our update/);
    refused(Buffer.from('junk'), /not a DNS message/);
  });

  it("a signed reply far outside the fudge window is refused", () => {
    refused(reply(0, { signWith: key.secret, requestMac, time: TIME - 3600 }), /TSIG time .* more than 300 s/);
  });
});

describe('query replies', () => {
  it('reads TXT values and the zone from a SOA in the authority section', () => {
    const txt = Buffer.concat([
      hex('0001 8400 0001 0001 0000 0000'), name('_acme-challenge', 'example', 'test'), hex('0010 0001'),
      hex('c00c 0010 0001 0000003c'), u16(VALUE.length + 1), Buffer.from([VALUE.length]), Buffer.from(VALUE),
    ]);
    assert.deepEqual(txtValues(txt, '_acme-challenge.example.test.'), [VALUE]);
    const soaRdata = Buffer.concat([name('ns', 'example', 'test'), name('root', 'example', 'test'), hex('00000001 00000e10 00000258 00093a80 0000003c')]);
    const nx = Buffer.concat([
      hex('0002 8403 0001 0000 0001 0000'), name('_acme-challenge', 'example', 'test'), hex('0006 0001'),
      name('example', 'test'), hex('0006 0001 0000003c'), u16(soaRdata.length), soaRdata,
    ]);
    assert.deepEqual(zoneFromSoaReply(nx), { rcode: 'NXDOMAIN', zone: 'example.test' });
  });
});
