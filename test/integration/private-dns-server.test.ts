/**
 * Tier 3: the private DNS server on loopback, asked by the real dig (bind9's tools) over UDP and
 * TCP, forwarding to a real named. The asker is told by source address: dig binds 127.0.0.1 (org
 * acme, in fra), 127.0.0.3 (org globex) or 127.0.0.2 (no machine of this host).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import dnsPacket from 'dns-packet';
import { FORWARD_TIMEOUT_MS, frame, FrameReader, startPrivateDns, TCP_IDLE_MS, type DnsAsker, type DnsInstance, type DnsView, type PrivateDns } from '../../src/private-dns/index.js';
import { isStarlingError, ManualClock, silentLogger, SystemClock } from '../../src/shared/index.js';
import { startBind9, type Bind9 } from '../helpers/bind9.js';
import { waitFor } from '../helpers/wait.js';

const DIG = '/usr/bin/dig';
const run = promisify(execFile);

const inst = (id: string, app: string, region: string, address: string, org = 'acme'): DnsInstance => ({ id, app, org, region, group: 'app', address, started: true });
const view: DnsView = {
  apps: [{ name: 'web', org: 'acme' }, { name: 'secret', org: 'globex' }],
  instances: [
    inst('w1', 'web', 'syd', 'fdaa:1::1'),
    inst('w2', 'web', 'ams', 'fdaa:1::2'),
    inst('w3', 'web', 'iad', 'fdaa:1::3'),
    inst('s1', 'secret', 'fra', 'fdaa:9::1', 'globex'),
    // 60 AAAA records: over the 1232 octets of a UDP reply even with EDNS.
    ...Array.from({ length: 60 }, (_, i) => inst(`h${String(i).padStart(2, '0')}`, 'huge', 'fra', `fdaa:2::${(i + 1).toString(16)}`)),
  ],
};
const ASKERS: Record<string, DnsAsker> = { '127.0.0.1': { org: 'acme', region: 'fra' }, '127.0.0.3': { org: 'globex', region: 'fra' } };
const askerOf = (a: string): DnsAsker | undefined => ASKERS[a];

interface Dug {
  status: string;
  flags: string[];
  answers: string[];
  output: string;
}

/** dig against `server`, its output parsed: status, header flags, answer records as "TYPE data". */
async function dig(server: PrivateDns, args: string[], from = '127.0.0.1'): Promise<Dug> {
  const { stdout } = await run(DIG, ['-p', String(server.address.port), '@127.0.0.1', '-b', from, '+time=10', '+tries=1', ...args]);
  const status = /status: ([A-Z]+)/.exec(stdout)?.[1] ?? '(none)';
  const flags = (/;; flags: ([a-z ]*);/.exec(stdout)?.[1] ?? '').split(' ').filter((f) => f !== '');
  const section = /;; ANSWER SECTION:\n([\s\S]*?)\n\n/.exec(stdout)?.[1] ?? '';
  const answers = section.split('\n').filter((l) => l !== '').map((l) => l.split(/\s+/).slice(3).join(' '));
  return { status, flags, answers, output: stdout };
}

/** A raw TCP client: send framed messages, read framed replies, see the close. */
async function tcpClient(port: number) {
  const sock = net.connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
  const reader = new FrameReader();
  const replies: Buffer[] = [];
  let closed = false;
  sock.on('data', (b: Buffer) => replies.push(...reader.push(b)));
  sock.on('close', () => (closed = true));
  sock.on('error', () => undefined);
  return { sock, replies, isClosed: () => closed };
}
const query = (id: number, name: string, type: 'AAAA' | 'TXT') => dnsPacket.encode({ type: 'query', id, questions: [{ name, type, class: 'IN' }] });

describe('private DNS server, asked by dig', { timeout: 120_000 }, () => {
  let bind: Bind9;
  let server: PrivateDns;

  before(async () => {
    if (!existsSync(DIG)) throw new Error('dig is needed for this test: apt-get install -y bind9-dnsutils (or npm run setup)');
    bind = await startBind9({ zone: 'example.test', records: ['www IN AAAA 2001:db8::53', 'www IN TXT "from named"'] });
    // An idle timeout far beyond the test's: a connection closed here was closed for what it sent.
    server = await startPrivateDns({ listen: { host: '127.0.0.1', port: 0 }, view: () => view, askerOf, upstream: { host: '127.0.0.1', port: bind.port }, clock: new SystemClock(), logger: silentLogger, tcpIdleMs: 600_000 });
  });
  after(async () => {
    await server?.close();
    await bind?.stop();
  });

  it('answers AAAA <app>.internal over UDP: every started instance, authoritative, TTL 5', async () => {
    const r = await dig(server, ['web.internal', 'AAAA']);
    assert.equal(r.status, 'NOERROR', r.output);
    assert.ok(r.flags.includes('aa') && !r.flags.includes('tc'), r.output);
    assert.deepEqual(r.answers, ['AAAA fdaa:1::1', 'AAAA fdaa:1::2', 'AAAA fdaa:1::3']);
    assert.match(r.output, /^web\.internal\.\s+5\s+IN\s+AAAA/m);
  });

  it('answers over TCP (+tcp), and several questions on one kept-open connection', async () => {
    const r = await dig(server, ['+tcp', 'top2.nearest.of.web.internal', 'AAAA']);
    assert.equal(r.status, 'NOERROR', r.output);
    assert.deepEqual(r.answers, ['AAAA fdaa:1::2', 'AAAA fdaa:1::3'], 'fra: ams, then iad, not syd');
    const two = await dig(server, ['+tcp', '+keepopen', '_apps.internal', 'TXT', 'regions.web.internal', 'TXT']);
    assert.match(two.output, /_apps\.internal\.\s+5\s+IN\s+TXT\s+"huge,web"/);
    assert.match(two.output, /regions\.web\.internal\.\s+5\s+IN\s+TXT\s+"ams,iad,syd"/);
  });

  it('NXDOMAIN for a name nobody has, NODATA for another type', async () => {
    assert.equal((await dig(server, ['nope.internal', 'AAAA'])).status, 'NXDOMAIN');
    const nodata = await dig(server, ['web.internal', 'A']);
    assert.equal(nodata.status, 'NOERROR');
    assert.deepEqual(nodata.answers, []);
    assert.match(nodata.output, /AUTHORITY SECTION:\ninternal\.\s+5\s+IN\s+SOA/);
  });

  it('keeps orgs apart: each sees its own apps, and the other org\'s as NXDOMAIN', async () => {
    assert.equal((await dig(server, ['secret.internal', 'AAAA'])).status, 'NXDOMAIN');
    assert.equal((await dig(server, ['web.internal', 'AAAA'], '127.0.0.3')).status, 'NXDOMAIN');
    assert.deepEqual((await dig(server, ['secret.internal', 'AAAA'], '127.0.0.3')).answers, ['AAAA fdaa:9::1']);
  });

  it('a reply too big for UDP is truncated, and dig gets all of it over TCP', async () => {
    const udpOnly = await dig(server, ['+ignore', 'huge.internal', 'AAAA']);
    assert.ok(udpOnly.flags.includes('tc'), udpOnly.output);
    assert.deepEqual(udpOnly.answers, []);
    const r = await dig(server, ['huge.internal', 'AAAA']);
    assert.match(r.output, /Truncated, retrying in TCP mode/);
    assert.equal(r.answers.length, 60, r.output);
    assert.ok(!r.flags.includes('tc'));
  });

  it('forwards names outside internal. to the upstream (a real named) over UDP and TCP', async () => {
    const r = await dig(server, ['www.example.test', 'AAAA']);
    assert.equal(r.status, 'NOERROR', r.output);
    assert.deepEqual(r.answers, ['AAAA 2001:db8::53']);
    assert.ok(r.flags.includes('aa'), "named's own header comes back: it is the zone's authority");
    assert.deepEqual((await dig(server, ['+tcp', 'www.example.test', 'TXT'])).answers, ['TXT "from named"']);
    assert.equal((await dig(server, ['nope.example.test', 'AAAA'])).status, 'NXDOMAIN');
  });

  it('TCP: a client that half-closes after its query still gets the forwarded answer', async () => {
    const c = await tcpClient(server.address.port);
    c.sock.end(frame(query(9, 'www.example.test', 'AAAA')));
    await waitFor(() => c.isClosed(), 'the server to answer and close its side');
    assert.equal(c.replies.length, 1);
    const p = dnsPacket.decode(c.replies[0]!);
    assert.equal(p.id, 9);
    assert.deepEqual(p.answers?.map((a) => (a as { data: unknown }).data), ['2001:db8::53']);
  });

  it('REFUSED for an address that is no machine of this host, ours and forwarded names alike', async () => {
    for (const name of ['web.internal', 'www.example.test']) {
      const r = await dig(server, [name, 'AAAA'], '127.0.0.2');
      assert.equal(r.status, 'REFUSED', `${name}:\n${r.output}`);
      assert.deepEqual(r.answers, []);
    }
  });

  it('survives garbage: a bad datagram is dropped, a bad TCP message closes its connection, queries go on', async () => {
    const u = dgram.createSocket('udp4');
    for (const junk of [Buffer.alloc(0), Buffer.from('hello'), Buffer.from('0001010000010000000000003f6162', 'hex'), Buffer.alloc(600, 0xff)]) {
      await new Promise<void>((resolve, reject) => u.send(junk, server.address.port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
    }
    u.close();
    const c = await tcpClient(server.address.port);
    c.sock.write(frame(Buffer.from('not dns at all')));
    await waitFor(() => c.isClosed(), 'the server to close a connection that sent garbage');
    assert.deepEqual((await dig(server, ['web.internal', 'AAAA'])).answers.length, 3);
    assert.deepEqual((await dig(server, ['+tcp', 'web.internal', 'AAAA'])).answers.length, 3);
  });

  it('refuses an upstream that is not an IP literal', async () => {
    await assert.rejects(
      startPrivateDns({ listen: { host: '127.0.0.1', port: 0 }, view: () => view, askerOf, upstream: { host: 'dns.example', port: 53 }, clock: new SystemClock(), logger: silentLogger }),
      (e) => isStarlingError(e, 'ERR_PRIVATE_DNS_UPSTREAM'),
    );
  });
});

describe('private DNS server: timers on the injected clock', { timeout: 60_000 }, () => {
  it('an upstream that never answers: SERVFAIL once the forward timeout passes', async () => {
    const clock = new ManualClock();
    const silent = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
    let heard = 0;
    silent.on('message', () => heard++);
    const server = await startPrivateDns({ listen: { host: '127.0.0.1', port: 0 }, view: () => view, askerOf, upstream: { host: '127.0.0.1', port: silent.address().port }, clock, logger: silentLogger });
    try {
      const pending = dig(server, ['www.example.test', 'AAAA']);
      await waitFor(() => heard === 1, 'the query to reach the silent upstream');
      clock.advance(FORWARD_TIMEOUT_MS - 1);
      clock.advance(1);
      const r = await pending;
      assert.equal(r.status, 'SERVFAIL', r.output);
    } finally {
      await server.close();
      silent.close();
    }
  });

  it('without an upstream, names outside internal. are REFUSED', async () => {
    const server = await startPrivateDns({ listen: { host: '127.0.0.1', port: 0 }, view: () => view, askerOf, clock: new SystemClock(), logger: silentLogger });
    try {
      const r = await dig(server, ['www.example.test', 'AAAA']);
      assert.equal(r.status, 'REFUSED', r.output);
      assert.ok(!r.flags.includes('ra'), 'no recursion available');
    } finally {
      await server.close();
    }
  });

  it('TCP: several queries on one connection, then closed after TCP_IDLE_MS of silence', async () => {
    const clock = new ManualClock();
    const server = await startPrivateDns({ listen: { host: '127.0.0.1', port: 0 }, view: () => view, askerOf, clock, logger: silentLogger });
    try {
      const c = await tcpClient(server.address.port);
      // Two queries in one write, a third cut across two writes.
      c.sock.write(Buffer.concat([frame(query(1, 'web.internal', 'AAAA')), frame(query(2, 'vms.web.internal', 'TXT'))]));
      const third = frame(query(3, 'ams.web.internal', 'AAAA'));
      c.sock.write(third.subarray(0, 5));
      await waitFor(() => c.replies.length === 2, 'two replies');
      c.sock.write(third.subarray(5));
      await waitFor(() => c.replies.length === 3, 'the third reply');
      const decoded = c.replies.map((b) => dnsPacket.decode(b));
      assert.deepEqual(decoded.map((p) => p.id), [1, 2, 3]);
      assert.equal(decoded[0]?.answers?.length, 3);
      const data = (i: number) => (decoded[i]?.answers ?? []).map((a) => (a as { data: unknown }).data);
      assert.deepEqual((data(1)[0] as Buffer[]).map(String), ['w1 syd,w2 ams,w3 iad']);
      assert.deepEqual(data(2), ['fdaa:1::2']);
      // Just short of idle: still open, and the query it answers starts the idle time again.
      clock.advance(TCP_IDLE_MS - 1);
      c.sock.write(frame(query(4, 'web.internal', 'AAAA')));
      await waitFor(() => c.replies.length === 4, 'a reply just before the idle timeout');
      assert.equal(c.isClosed(), false);
      clock.advance(TCP_IDLE_MS);
      await waitFor(() => c.isClosed(), 'the idle connection to be closed');
    } finally {
      await server.close();
    }
  });
});
