/**
 * The private DNS on bytes: what handleQuery does with a message (answer, drop, forward), its
 * header flags, FORMERR and NOTIMP, REFUSED, SERVFAIL, truncation by transport and EDNS size, TXT
 * character-strings on the wire; and the TCP length framing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import dnsPacket, { type Answer, type Packet } from 'dns-packet';
import { frame, FrameReader, handleQuery, type Decision, type DnsInstance, type DnsView, type QueryContext } from '../../src/private-dns/index.js';

const inst = (id: string, app: string, address: string, region = 'fra'): DnsInstance => ({ id, app, org: 'acme', region, group: 'app', address, started: true });
const many = (app: string, n: number): DnsInstance[] => Array.from({ length: n }, (_, i) => inst(`${app}${String(i).padStart(3, '0')}`, app, `fdaa:1::${(i + 1).toString(16)}`));
const view: DnsView = {
  apps: [{ name: 'web', org: 'acme' }, { name: 'hidden', org: 'globex' }],
  instances: [inst('w1', 'web', 'fdaa:1::1'), inst('w2', 'web', 'fdaa:1::2', 'ams'), ...many('big', 30), ...many('huge', 60)],
};
const ctx = (over: Partial<QueryContext> = {}): QueryContext => ({ view: () => view, asker: { org: 'acme', region: 'fra' }, transport: 'udp', forwarding: false, ...over });

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const label = (l: string) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]);
/** A query written out by hand: id, flags, QDCOUNT, then `name` type class. */
const rawQuery = (id: number, flags: number, qdcount: number, name: string[], type: number) =>
  Buffer.concat([hex(`${id.toString(16).padStart(4, '0')} ${flags.toString(16).padStart(4, '0')} ${qdcount.toString(16).padStart(4, '0')} 0000 0000 0000`), ...name.map(label), Buffer.from([0]), hex(`${type.toString(16).padStart(4, '0')} 0001`)]);
const query = (name: string, type: 'AAAA' | 'TXT' | 'A' | 'SOA', extra: Partial<Packet> = {}) =>
  dnsPacket.encode({ type: 'query', id: 0x4242, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type, class: 'IN' }], ...extra });
const edns = (size: number): Partial<Packet> => ({ additionals: [{ type: 'OPT', name: '.', udpPayloadSize: size, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }] });

function reply(d: Decision): Buffer {
  assert.equal(d.kind, 'reply', JSON.stringify(d));
  return (d as { bytes: Buffer }).bytes;
}
const rcodeOf = (b: Buffer) => b.readUInt16BE(2) & 0xf;
const answersOf = (b: Buffer): Answer[] => dnsPacket.decode(b).answers ?? [];

describe('private DNS messages: answers', () => {
  it('answers a hand-written AAAA query: id echoed, QR+AA+RD, four counts, the question copied', () => {
    const q = rawQuery(0xbeef, 0x0100, 1, ['web', 'internal'], 28);
    const r = reply(handleQuery(q, ctx()));
    assert.deepEqual(r.subarray(0, 12), hex('beef 8500 0001 0002 0000 0000'));
    assert.deepEqual(r.subarray(12, q.length), q.subarray(12), 'the question, byte for byte');
    assert.deepEqual(answersOf(r).map((a) => [a.type, (a as { data: unknown }).data]), [['AAAA', 'fdaa:1::1'], ['AAAA', 'fdaa:1::2']]);
  });

  it('each owner name is a pointer to the question (0xC00C), so records are 28 octets per AAAA', () => {
    const q = rawQuery(0xbeef, 0x0100, 1, ['web', 'internal'], 28);
    const r = reply(handleQuery(q, ctx()));
    assert.deepEqual(r.subarray(q.length), hex('c00c 001c 0001 00000005 0010 fdaa0001000000000000000000000001 c00c 001c 0001 00000005 0010 fdaa0001000000000000000000000002'));
  });

  it('RA is set when names outside internal. are forwarded (recursion available)', () => {
    const r = reply(handleQuery(rawQuery(1, 0x0100, 1, ['web', 'internal'], 28), ctx({ forwarding: true })));
    assert.equal(r.readUInt16BE(2), 0x8580);
  });

  it('NXDOMAIN (rcode 3) and NODATA (rcode 0, no answers) both carry the SOA', () => {
    const nx = reply(handleQuery(query('nope.internal', 'AAAA'), ctx()));
    assert.equal(rcodeOf(nx), 3);
    assert.equal(dnsPacket.decode(nx).authorities?.[0]?.type, 'SOA');
    const nodata = reply(handleQuery(query('web.internal', 'A'), ctx()));
    assert.equal(rcodeOf(nodata), 0);
    assert.deepEqual(answersOf(nodata), []);
    assert.equal(dnsPacket.decode(nodata).authorities?.[0]?.type, 'SOA');
  });

  it("another org's app is NXDOMAIN on the wire too, byte-identical to a name nobody has", () => {
    const theirs = reply(handleQuery(rawQuery(7, 0, 1, ['hidden', 'internal'], 28), ctx()));
    const nobodys = reply(handleQuery(rawQuery(7, 0, 1, ['nobody', 'internal'], 28), ctx()));
    assert.equal(rcodeOf(theirs), 3);
    assert.equal(theirs.length, nobodys.length);
    assert.deepEqual(theirs.subarray(0, 12), nobodys.subarray(0, 12));
  });

  it('the owner name comes back in the case it was asked in', () => {
    const r = reply(handleQuery(query('WEB.Internal', 'AAAA'), ctx()));
    assert.deepEqual(answersOf(r).map((a) => a.name), ['WEB.Internal', 'WEB.Internal']);
  });

  it('a long TXT value is several character-strings on the wire', () => {
    const r = reply(handleQuery(query('vms.big.internal', 'TXT'), ctx({ transport: 'tcp' })));
    const [txt] = answersOf(r);
    const strings = (txt as { data: Buffer[] }).data;
    const whole = many('big', 30).map((i) => `${i.id} fra`).join(',');
    assert.deepEqual(strings.map((s) => s.length), [255, whole.length - 255]);
    // The RDATA as bytes: <255><255 octets><rest length><rest>.
    const at = r.indexOf(Buffer.from('big000 fra'));
    assert.equal(r[at - 1], 255);
    assert.equal(r[at + 255], whole.length - 255);
  });
});

describe('private DNS messages: errors and refusals', () => {
  it('QDCOUNT 0 or 2 is FORMERR, id echoed', () => {
    const none = Buffer.concat([hex('1111 0100 0000 0000 0000 0000')]);
    assert.deepEqual(reply(handleQuery(none, ctx())), hex('1111 8101 0000 0000 0000 0000'));
    const two = Buffer.concat([hex('2222 0100 0002 0000 0000 0000'), label('web'), label('internal'), Buffer.from([0]), hex('001c 0001'), label('web'), label('internal'), Buffer.from([0]), hex('001c 0001')]);
    const r = reply(handleQuery(two, ctx()));
    assert.equal(r.readUInt16BE(0), 0x2222);
    assert.equal(rcodeOf(r), 1);
  });

  it('an opcode other than QUERY is NOTIMP, with its opcode and question copied', () => {
    for (const opcode of [1, 2, 4, 5]) {
      const q = rawQuery(0x3333, (opcode << 11) | 0x0100, 1, ['web', 'internal'], 6);
      const r = reply(handleQuery(q, ctx()));
      assert.equal(r.readUInt16BE(2), 0x8000 | (opcode << 11) | 0x0100 | 4, `opcode ${opcode}`);
      assert.deepEqual(r.subarray(12), q.subarray(12));
    }
  });

  it('drops what cannot be answered: short, a response, a question that does not parse', () => {
    assert.equal(handleQuery(Buffer.alloc(0), ctx()).kind, 'drop');
    assert.equal(handleQuery(hex('0001 0100 0001 0000'), ctx()).kind, 'drop');
    assert.equal(handleQuery(rawQuery(1, 0x8000, 1, ['web', 'internal'], 28), ctx()).kind, 'drop', 'QR set');
    assert.equal(handleQuery(hex('0001 0100 0001 0000 0000 0000 3f 6162'), ctx()).kind, 'drop', 'a label past the end');
    assert.equal(handleQuery(hex('0001 0100 0001 0000 0000 0000 03 776562 00 00'), ctx()).kind, 'drop', 'type cut short');
    assert.equal(handleQuery(Buffer.from('not dns at all'), ctx()).kind, 'drop', 'text whose header reads as opcode 14');
    assert.equal(handleQuery(hex('0001 2800 0003 0000 0000 0000 03 776562 00'), ctx()).kind, 'drop', 'an UPDATE whose sections do not parse');
    assert.equal(handleQuery(hex('0001 0100 0001 0001 0000 0000 03 776562 00 001c 0001'), ctx()).kind, 'drop', 'a query carrying an answer record');
    assert.equal(handleQuery(hex('0001 0100 0001 0000 0000 0002 03 776562 00 001c 0001'), ctx()).kind, 'drop', 'two additional records');
  });

  it('an unknown asker is REFUSED for every name, ours or not, and nothing is forwarded', () => {
    for (const name of ['web.internal', 'example.com']) {
      const r = reply(handleQuery(query(name, 'AAAA'), ctx({ asker: undefined, forwarding: true })));
      assert.equal(rcodeOf(r), 5, name);
      assert.deepEqual(answersOf(r), []);
    }
  });

  it('a name outside internal.: forwarded when an upstream is set, else REFUSED without AA', () => {
    assert.deepEqual(handleQuery(query('example.com', 'A'), ctx({ forwarding: true })), { kind: 'forward', id: 0x4242 });
    const r = reply(handleQuery(query('example.com', 'A'), ctx()));
    assert.equal(r.readUInt16BE(2), 0x8105);
  });

  it('a view that throws is SERVFAIL with the question, and says why', () => {
    const d = handleQuery(query('web.internal', 'AAAA'), ctx({ view: () => { throw new Error('cache gone'); } }));
    const r = reply(d);
    assert.equal(rcodeOf(r), 2);
    assert.equal(dnsPacket.decode(r).questions?.[0]?.name, 'web.internal');
    assert.match(String((d as { error?: unknown }).error), /cache gone/);
  });
});

describe('private DNS messages: sizes', () => {
  it('over UDP without EDNS a reply over 512 octets is TC with no records; over TCP it is whole', () => {
    const q = query('big.internal', 'AAAA');
    const udp = handleQuery(q, ctx());
    const r = reply(udp);
    assert.equal((udp as { truncated: boolean }).truncated, true);
    assert.ok(r.length <= 512);
    assert.equal(r.readUInt16BE(2) & 0x0200, 0x0200, 'TC');
    assert.deepEqual(answersOf(r), []);
    const tcp = reply(handleQuery(q, ctx({ transport: 'tcp' })));
    assert.ok(tcp.length > 512);
    assert.equal(tcp.readUInt16BE(2) & 0x0200, 0);
    assert.equal(answersOf(tcp).length, 30);
  });

  it("EDNS raises the UDP limit to the client's size, capped at 1232, and the reply carries an OPT", () => {
    const fits = reply(handleQuery(query('big.internal', 'AAAA', edns(4096)), ctx()));
    assert.ok(fits.length > 512 && fits.length <= 1232, `${fits.length}`);
    assert.equal(answersOf(fits).length, 30);
    const opt = dnsPacket.decode(fits).additionals?.find((a) => a.type === 'OPT') as { udpPayloadSize: number } | undefined;
    assert.equal(opt?.udpPayloadSize, 1232);
    const huge = reply(handleQuery(query('huge.internal', 'AAAA', edns(4096)), ctx()));
    assert.ok(huge.length <= 1232);
    assert.equal(huge.readUInt16BE(2) & 0x0200, 0x0200, '60 records exceed 1232 octets whatever the client says');
    assert.equal(answersOf(reply(handleQuery(query('huge.internal', 'AAAA', edns(4096)), ctx({ transport: 'tcp' })))).length, 60);
    const small = reply(handleQuery(query('big.internal', 'AAAA', edns(600)), ctx()));
    assert.equal(small.readUInt16BE(2) & 0x0200, 0x0200, 'a client that says 600 gets at most 600');
  });
});

describe('private DNS over TCP: framing', () => {
  it('takes messages out of a stream however it is cut, and frames them back', () => {
    const msgs = [Buffer.from('one'), Buffer.alloc(300, 7), Buffer.from('x')];
    const stream = Buffer.concat(msgs.map(frame));
    assert.deepEqual(stream.subarray(0, 5), Buffer.from([0, 3, 0x6f, 0x6e, 0x65]));
    for (const step of [1, 2, 5, stream.length]) {
      const r = new FrameReader();
      const got: Buffer[] = [];
      for (let i = 0; i < stream.length; i += step) got.push(...r.push(stream.subarray(i, i + step)));
      assert.deepEqual(got, msgs, `chunks of ${step}`);
      assert.equal(r.pending, 0);
    }
  });
});

describe('private DNS messages: names that do not survive the round trip', () => {
  it('a label holding a dot is FORMERR, not a reply whose names are cut short (found by the fuzz test)', () => {
    const q = hex('1234 0100 0001 0000 0000 0000 03 766d2e 03 774862 08 696e7465726e616c 00 0006 0001');
    const d = handleQuery(q, ctx());
    assert.equal(d.kind, 'reply');
    assert.equal((d as { rcode: string }).rcode, 'FORMERR');
    assert.doesNotThrow(() => dnsPacket.decode((d as { bytes: Buffer }).bytes));
  });
});
