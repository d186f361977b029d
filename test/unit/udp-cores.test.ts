/** The UDP services' pure parts: datagram framing over a stream, and the flood caps. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BURST, FlowLimits, frame, FrameReader, MAX_FLOWS_PER_ADDRESS, RATE } from '../../src/proxy/udp/index.js';

describe('datagram frames', () => {
  it('keep each datagram whole, however the stream cuts them', () => {
    const datagrams = [Buffer.from('a'), Buffer.alloc(0), Buffer.alloc(70_000 % 65_536, 7), Buffer.from('last')];
    const stream = Buffer.concat(datagrams.map(frame));
    const r = new FrameReader();
    const got: Buffer[] = [];
    for (let i = 0; i < stream.length; i += 3) got.push(...r.push(stream.subarray(i, i + 3)));
    assert.deepEqual(got, datagrams);
  });
});

describe('flow limits', () => {
  it('cap the flows of one address (an IPv6 /64 counts as one) and give them back on close', () => {
    const l = new FlowLimits(() => 0);
    for (let i = 0; i < MAX_FLOWS_PER_ADDRESS; i++) assert.ok(l.openFlow('2001:db8:1:2:aaaa::1'));
    assert.equal(l.openFlow('2001:db8:1:2:bbbb::9'), false, 'the same /64');
    assert.ok(l.openFlow('2001:db8:1:3::1'), 'another /64');
    // Compressed forms of one /64 are one address too (2001:db8:0:0::/64).
    const m = new FlowLimits(() => 0);
    for (let i = 0; i < MAX_FLOWS_PER_ADDRESS; i++) assert.ok(m.openFlow(`2001:db8::${(i + 1).toString(16)}`));
    assert.equal(m.openFlow('2001:db8::ffff'), false);
    l.closeFlow('2001:db8:1:2:aaaa::1');
    assert.ok(l.openFlow('2001:db8:1:2:cccc::1'));
  });
  it('let an address send a burst, then RATE datagrams per second', () => {
    let now = 0;
    const l = new FlowLimits(() => now);
    let sent = 0;
    while (l.admitDatagram('192.0.2.1')) sent++;
    assert.equal(sent, BURST);
    now += 500;
    sent = 0;
    while (l.admitDatagram('192.0.2.1')) sent++;
    assert.equal(sent, RATE / 2);
    assert.ok(l.admitDatagram('192.0.2.2'), 'another address has its own budget');
  });
});
