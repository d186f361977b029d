/**
 * One DNS message in, what to do with it out (I/O-free): drop it, send these reply bytes, or
 * forward it upstream. The server adapter (server.ts) owns the sockets and the forwarding.
 *
 * Order of the checks, each for a reason:
 * - shorter than a header, or a response (QR set): dropped. Answering a response could loop two
 *   servers into each other; a header too short has no id to answer to.
 * - answer or authority records, or more than one additional: dropped before anything is decoded
 *   (no resolver sends them in a query; garbage with large counts is costly to decode). Then a
 *   QUERY with QDCOUNT other than 1: FORMERR; another opcode with it: dropped.
 * - the message does not parse: dropped (a UDP datagram) or the connection closed (TCP,
 *   server.ts), since nothing trustworthy can be said back. This comes before the opcode's
 *   verdict so that random bytes are not answered as an odd opcode.
 * - a question name with a dot inside a label: FORMERR (its text would be written back as other
 *   labels).
 * - opcode other than QUERY: NOTIMP (RFC 1035 §4.1.1); NOTIFY, UPDATE and the rest are not ours.
 * - QDCOUNT other than 1: FORMERR (RFC 9619 makes one question the only meaning a query has).
 * - asker unknown (the source is no machine of this host): REFUSED, for every name, so the server
 *   is never an open resolver for whoever reaches its address.
 * - a name outside `internal.`: forwarded when an upstream is configured, REFUSED when not, as
 *   recursive servers answer names they have no way to resolve (RFC 8906 §3.1.1).
 */
import dnsPacket, { type Answer, type DecodedPacket, type OptAnswer, type Packet } from 'dns-packet';
import type { RttTable } from '../shared/index.js';
import { compressOwners } from './compress.js';
import { isInternalName } from './names.js';
import { answer, type DnsAnswer } from './resolver.js';
import type { DnsAsker, DnsView } from './view.js';

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
export type RcodeName = keyof typeof RCODE;

/** A reply over UDP without EDNS fits in 512 octets (RFC 1035 §4.2.1). */
export const UDP_PLAIN_MAX = 512;
/**
 * The largest UDP reply sent, whatever a client's EDNS says: 1232 octets fits the IPv6 minimum MTU
 * with its headers, so a reply is never fragmented (DNS Flag Day 2020's figure). It is also what
 * our OPT record advertises.
 */
export const UDP_EDNS_MAX = 1232;
/** TCP frames a message with a 2-octet length (RFC 1035 §4.2.2): nothing larger can be sent. */
export const TCP_MAX = 65_535;

const QR = 1 << 15;
const AA = dnsPacket.AUTHORITATIVE_ANSWER;
const TC = dnsPacket.TRUNCATED_RESPONSE;
const RD = dnsPacket.RECURSION_DESIRED;
const RA = dnsPacket.RECURSION_AVAILABLE;

export type Transport = 'udp' | 'tcp';

export interface QueryContext {
  view: () => DnsView;
  /** Who the source address is, or undefined for an address that is no machine of this host. */
  asker: DnsAsker | undefined;
  transport: Transport;
  /** Whether names outside `internal.` are forwarded upstream (recursion is then available). */
  forwarding: boolean;
  rtt?: RttTable | undefined;
}

export type Decision =
  | { kind: 'drop'; reason: string }
  /** `error`: why a SERVFAIL was answered, for the log. */
  | { kind: 'reply'; bytes: Buffer; rcode: RcodeName; truncated: boolean; error?: unknown }
  /** Relay the query's own bytes upstream, and the upstream's reply back under the query's id. */
  | { kind: 'forward'; id: number };

/** A reply of only a header (and the question, when there is one): FORMERR, NOTIMP, SERVFAIL. */
export function headerReply(query: Buffer, rcode: RcodeName, questionToo = false): Buffer {
  const flags = query.readUInt16BE(2);
  const out = Buffer.alloc(12);
  out.writeUInt16BE(query.readUInt16BE(0), 0);
  // Keep the opcode and RD of the query (RFC 1035 §4.1.1: "copied into the response").
  out.writeUInt16BE(QR | (flags & 0x7800) | (flags & RD) | RCODE[rcode], 2);
  if (!questionToo) return out;
  const end = questionEnd(query);
  if (end === undefined) return out;
  out.writeUInt16BE(1, 4);
  return Buffer.concat([out, query.subarray(12, end)]);
}

/** Where the first question of a message ends, or undefined when it does not parse. */
function questionEnd(msg: Buffer): number | undefined {
  let at = 12;
  for (let hops = 0; hops < 128; hops++) {
    const len = msg[at];
    if (len === undefined) return undefined;
    if (len === 0) return at + 5 <= msg.length ? at + 5 : undefined;
    if ((len & 0xc0) !== 0) return undefined; // no compression pointer in the first name of a message
    at += 1 + len;
  }
  return undefined;
}

/** SERVFAIL for a query whose answer could not be had (the view failed, the upstream timed out). */
export function servfail(query: Buffer): Buffer {
  return headerReply(query, 'SERVFAIL', true);
}

function clientUdpLimit(packet: DecodedPacket): { limit: number; opt: boolean } {
  const opt = (packet.additionals ?? []).find((a): a is OptAnswer => a.type === 'OPT');
  if (opt === undefined) return { limit: UDP_PLAIN_MAX, opt: false };
  return { limit: Math.min(UDP_EDNS_MAX, Math.max(UDP_PLAIN_MAX, opt.udpPayloadSize)), opt: true };
}

/** The reply's bytes, truncated (TC, no records) when they exceed what the transport carries. */
function encodeReply(packet: DecodedPacket, result: DnsAnswer, ctx: QueryContext): { bytes: Buffer; truncated: boolean } {
  const { limit, opt } = clientUdpLimit(packet);
  const max = ctx.transport === 'udp' ? limit : TCP_MAX;
  const additionals: Answer[] = opt
    ? [{ type: 'OPT', name: '.', udpPayloadSize: UDP_EDNS_MAX, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }]
    : [];
  const flags = (result.rcode === 'REFUSED' ? 0 : AA) | ((packet.flags ?? 0) & RD) | (ctx.forwarding ? RA : 0) | RCODE[result.rcode];
  const reply: Packet = {
    type: 'response', id: packet.id ?? 0, flags,
    questions: packet.questions ?? [], answers: result.answers, authorities: result.authorities, additionals,
  };
  const bytes = compressOwners(dnsPacket.encode(reply));
  if (bytes.length <= max) return { bytes, truncated: false };
  // RFC 2181 §9: a reply that does not fit is sent with TC and without a partial answer set, so
  // the client asks again over TCP rather than use half of it.
  return { bytes: dnsPacket.encode({ ...reply, flags: flags | TC, answers: [], authorities: [] }), truncated: true };
}

/**
 * Whether the question's name, written again from its text, is the labels the client sent: not
 * when a label holds a dot (dns-packet's text of it would split there). From the header's end.
 */
function sameName(msg: Buffer, name: string): boolean {
  const labels: string[] = [];
  for (let at = 12; at < msg.length; ) {
    const len = msg[at]!;
    if (len === 0) return labels.join('.').toLowerCase() === name.toLowerCase() || (labels.length === 0 && (name === '' || name === '.'));
    if ((len & 0xc0) !== 0 || at + 1 + len > msg.length) return false;
    const label = msg.subarray(at + 1, at + 1 + len);
    if (label.includes(0x2e)) return false;
    labels.push(label.toString('utf8')); // as dns-packet reads it
    at += 1 + len;
  }
  return false;
}

/** What to do with one message a client sent. Never throws. */
export function handleQuery(msg: Buffer, ctx: QueryContext): Decision {
  if (msg.length < 12) return { kind: 'drop', reason: 'shorter than a DNS header' };
  const flags = msg.readUInt16BE(2);
  if ((flags & QR) !== 0) return { kind: 'drop', reason: 'a response, not a query' };
  // Judged on the header before anything is decoded: garbage with large counts costs dns-packet
  // a millisecond or more to reject, which a flood of it would turn into the server's whole CPU.
  // No resolver sends answer or authority records in a query, nor more than one additional (OPT).
  if (msg.readUInt16BE(6) !== 0 || msg.readUInt16BE(8) !== 0 || msg.readUInt16BE(10) > 1) return { kind: 'drop', reason: 'records no query carries' };
  if (msg.readUInt16BE(4) !== 1) {
    // A QUERY without exactly one question is FORMERR; anything else with odd counts is not ours to answer.
    return ((flags >> 11) & 0xf) === 0 ? { kind: 'reply', bytes: headerReply(msg, 'FORMERR', false), rcode: 'FORMERR', truncated: false } : { kind: 'drop', reason: 'not a query' };
  }
  let packet: DecodedPacket;
  try {
    packet = dnsPacket.decode(msg);
  } catch (e) {
    return { kind: 'drop', reason: `malformed: ${(e as Error).message}` };
  }
  const reply = (rcode: RcodeName, questionToo: boolean): Decision => ({ kind: 'reply', bytes: headerReply(msg, rcode, questionToo), rcode, truncated: false });
  if (((flags >> 11) & 0xf) !== 0) return reply('NOTIMP', true);
  const question = packet.questions?.[0];
  if (question === undefined) return { kind: 'drop', reason: 'malformed: no question' };
  // A name that does not survive decoding (a label holding a dot or an empty label) would be
  // written back as other labels, and the reply's pointers would point into nonsense: FORMERR.
  if (!sameName(msg, question.name)) return reply('FORMERR', false);
  const send = (result: DnsAnswer): Decision => {
    const { bytes, truncated } = encodeReply(packet, result, ctx);
    return { kind: 'reply', bytes, rcode: result.rcode, truncated };
  };
  const refused: DnsAnswer = { rcode: 'REFUSED', answers: [], authorities: [] };
  if (ctx.asker === undefined) return send(refused);
  if (!isInternalName(question.name)) return ctx.forwarding ? { kind: 'forward', id: packet.id ?? 0 } : send(refused);
  try {
    return send(answer(ctx.view(), question, ctx.asker, ctx.rtt === undefined ? {} : { rtt: ctx.rtt }));
  } catch (e) {
    // The view (the agent's cache) failed, or a record would not encode: the client may retry.
    return { kind: 'reply', bytes: servfail(msg), rcode: 'SERVFAIL', truncated: false, error: e };
  }
}
