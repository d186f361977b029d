/**
 * The private DNS against 100,000 packets nobody would send on purpose (issue 19's "bad input"):
 * random bytes, and well-formed queries mutated (bytes flipped, cut short, grown, counts changed).
 * handleQuery never throws; it drops the packet, or answers with a reply that is itself a valid
 * DNS message with the query's id — FORMERR, NOTIMP or an answer — never anything else. A seeded
 * generator, so a failure names a packet that can be replayed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import dnsPacket from 'dns-packet';
import { handleQuery, type DnsInstance, type DnsView } from '../../src/private-dns/index.js';

/** xorshift32: the same packets every run. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x1_0000_0000;
  };
}

const inst = (id: string, app: string, address: string): DnsInstance => ({ id, app, org: 'acme', region: 'fra', group: 'app', address, started: true });
const view: DnsView = { apps: [{ name: 'web', org: 'acme' }], instances: Array.from({ length: 40 }, (_, i) => inst(`m${i}`, 'web', `fdaa:1::${(i + 2).toString(16)}`)) };
const NAMES = ['web.internal', 'fra.web.internal', 'top3.nearest.of.web.internal', 'm1.vm.web.internal', 'vms.web.internal', '_apps.internal', '_instances.internal', 'example.com'];
const TYPES = ['AAAA', 'TXT', 'A', 'SOA', 'NS'] as const;

describe('private DNS: 100,000 malformed and mutated packets', () => {
  it('never throws, and answers only with well-formed replies carrying the query id', () => {
    const r = rng(0x5eed);
    const byte = (): number => Math.floor(r() * 256);
    const seeds = NAMES.flatMap((name) => TYPES.map((type) => dnsPacket.encode({ type: 'query', id: 0x1234, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type, class: 'IN' }] })));
    const counts = { drop: 0, reply: 0, forward: 0 };
    for (let n = 0; n < 100_000; n++) {
      let p: Buffer;
      if (n % 2 === 0) {
        p = Buffer.from(Array.from({ length: Math.floor(r() * 600) }, byte));
      } else {
        p = Buffer.from(seeds[Math.floor(r() * seeds.length)]!);
        const edits = 1 + Math.floor(r() * 6);
        for (let e = 0; e < edits; e++) {
          const k = r();
          if (k < 0.5 && p.length > 0) p[Math.floor(r() * p.length)] = byte();
          else if (k < 0.7) p = p.subarray(0, Math.floor(r() * p.length));
          else if (k < 0.85) p = Buffer.concat([p, Buffer.from(Array.from({ length: 1 + Math.floor(r() * 40) }, byte))]);
          else if (p.length >= 12) p.writeUInt16BE(Math.floor(r() * 65536), 4 + 2 * Math.floor(r() * 4)); // a count
        }
      }
      let d: ReturnType<typeof handleQuery>;
      try {
        d = handleQuery(p, { view: () => view, asker: { org: 'acme', region: 'fra' }, transport: n % 3 === 0 ? 'tcp' : 'udp', forwarding: n % 5 === 0 });
      } catch (e) {
        assert.fail(`packet ${n} (${p.toString('hex')}) threw: ${(e as Error).message}`);
      }
      counts[d.kind]++;
      if (d.kind !== 'reply') continue;
      assert.equal(d.bytes.readUInt16BE(0), p.readUInt16BE(0), `packet ${n}: the reply carries the query's id`);
      assert.doesNotThrow(() => dnsPacket.decode(d.bytes), `packet ${n} (${p.toString('hex')}): the reply is a DNS message`);
      assert.ok(['FORMERR', 'NOTIMP', 'NOERROR', 'NXDOMAIN', 'REFUSED', 'SERVFAIL'].includes(d.rcode), `packet ${n}: rcode ${d.rcode}`);
    }
    // Both kinds of input were exercised: most random bytes are dropped, many mutations still answered.
    assert.ok(counts.drop > 5000 && counts.reply > 5000, JSON.stringify(counts));
  });
});
