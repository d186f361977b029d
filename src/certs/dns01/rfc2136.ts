import dnsPacket from 'dns-packet';
import { StarlingError } from '../../shared/index.js';
import { TSIG_ERRORS, encodeName, findTsig, signMessage, verifyReplyMac, type TsigKey } from './tsig.js';

/**
 * RFC 2136 dynamic updates for the ACME DNS-01 TXT record, I/O-free: the bytes to send and the
 * verdict on the bytes that come back. The transport is in ./solver.ts.
 *
 * An update is: header with opcode UPDATE (5); zone section = one entry, the zone's name with
 * type SOA class IN (§2.3); no prerequisites; update section = one RR, either an add (class IN,
 * TTL 60, §2.5.1) or the delete of exactly that TXT RR (class NONE, TTL 0, §2.5.4); then the TSIG
 * RR. dns-packet has no class NONE (254), so the update is written here; dns-packet encodes and
 * decodes the plain queries (the TXT and SOA look-ups).
 */
export const TXT_TTL = 60;
const OPCODE_UPDATE = 5;
const TYPE_SOA = 6;
const TYPE_TXT = 16;
const CLASS_IN = 1;
const CLASS_NONE = 254;

const RCODES: Record<number, string> = {
  0: 'NOERROR', 1: 'FORMERR', 2: 'SERVFAIL', 3: 'NXDOMAIN', 4: 'NOTIMP', 5: 'REFUSED',
  6: 'YXDOMAIN', 7: 'YXRRSET', 8: 'NXRRSET', 9: 'NOTAUTH', 10: 'NOTZONE',
};
const MEANING: Record<string, string> = {
  REFUSED: 'the server does not allow this key to update this name (bind9: allow-update or update-policy)',
  NOTAUTH: 'the server is not authoritative for the zone, or did not accept the TSIG signature',
  NOTZONE: 'the name is not inside the zone',
  SERVFAIL: 'the server failed to apply the update',
  FORMERR: 'the server could not parse the update',
  NOTIMP: 'the server does not implement dynamic updates',
  BADSIG: "the TSIG secret differs from the server's for this key",
  BADKEY: 'the server does not know this TSIG key name or algorithm',
  BADTIME: "the signing time is outside the server's fudge window: check both clocks",
};

export type UpdateAction = 'add' | 'delete';

export interface UpdateRequest {
  id: number;
  zone: string;
  /** `_acme-challenge.<name>`. */
  fqdn: string;
  /** The TXT content (for ACME: base64url SHA-256 of the key authorization, 43 characters). */
  value: string;
  action: UpdateAction;
}

/** What the reply is checked against, and named in errors (never the secret). */
export interface UpdateContext {
  server: string;
  zone: string;
  fqdn: string;
  action: UpdateAction;
  key: TsigKey;
  id: number;
  /** The request's MAC: part of the reply's MAC input. */
  requestMac: Buffer;
  /** Seconds since the epoch, for the reply's time check. */
  nowSeconds: number;
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

/** One TXT character-string per 255 octets (RFC 1035 §3.3.14). */
function txtRdata(value: string): Buffer {
  const raw = Buffer.from(value, 'utf8');
  const parts: Buffer[] = [];
  for (let i = 0; i < raw.length || i === 0; i += 255) {
    const chunk = raw.subarray(i, i + 255);
    parts.push(Buffer.from([chunk.length]), chunk);
  }
  return Buffer.concat(parts);
}

/** The unsigned UPDATE message. */
export function buildUpdate(req: UpdateRequest): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(req.id, 0);
  header.writeUInt16BE(OPCODE_UPDATE << 11, 2);
  header.writeUInt16BE(1, 4); // ZOCOUNT
  header.writeUInt16BE(0, 6); // PRCOUNT
  header.writeUInt16BE(1, 8); // UPCOUNT
  header.writeUInt16BE(0, 10); // ADCOUNT
  const zone = Buffer.concat([encodeName(req.zone), u16(TYPE_SOA), u16(CLASS_IN)]);
  const rdata = txtRdata(req.value);
  const ttl = Buffer.alloc(4);
  ttl.writeUInt32BE(req.action === 'add' ? TXT_TTL : 0);
  const klass = req.action === 'add' ? CLASS_IN : CLASS_NONE;
  const rr = Buffer.concat([encodeName(req.fqdn), u16(TYPE_TXT), u16(klass), ttl, u16(rdata.length), rdata]);
  return Buffer.concat([header, zone, rr]);
}

/** The UPDATE message signed with `key` at `timeSigned` (seconds), and the MAC to check the reply with. */
export function signedUpdate(req: UpdateRequest, key: TsigKey, timeSigned: number): { message: Buffer; mac: Buffer } {
  const { signed, mac } = signMessage(buildUpdate(req), key, timeSigned);
  return { message: signed, mac };
}

/** The rcode's name (NOERROR, REFUSED, NOTAUTH, NOTZONE, …). */
export function rcodeName(rcode: number): string {
  return RCODES[rcode] ?? `RCODE${rcode}`;
}

/**
 * Checks the server's reply to an update: throws ERR_DNS_UPDATE naming the server, the zone, the
 * record and what went wrong, unless the update was applied (NOERROR, with a valid TSIG MAC).
 */
export function checkUpdateReply(reply: Buffer, ctx: UpdateContext): void {
  const what = `${ctx.action === 'add' ? 'adding' : 'deleting'} TXT ${ctx.fqdn} in zone ${ctx.zone}`;
  const fail = (detail: string, hint?: string): never => {
    throw new StarlingError('ERR_DNS_UPDATE', `DNS server ${ctx.server} refused ${what}: ${detail}`, { hint });
  };
  let tsig;
  try {
    if (reply.length < 12) throw new RangeError('shorter than a DNS header');
    tsig = findTsig(reply);
  } catch (e) {
    return fail(`its reply is not a DNS message (${(e as Error).message})`);
  }
  const flags = reply.readUInt16BE(2);
  if (reply.readUInt16BE(0) !== ctx.id || (flags & 0x8000) === 0 || ((flags >> 11) & 0xf) !== OPCODE_UPDATE) {
    return fail('its reply does not answer our update (ID, QR or opcode differ)');
  }
  const rcode = rcodeName(flags & 0xf);
  const keyNote = `TSIG key ${ctx.key.name} (${ctx.key.algorithm})`;
  if (tsig !== undefined && tsig.error !== 0) {
    const err = TSIG_ERRORS[tsig.error] ?? `TSIG error ${tsig.error}`;
    const skew = err === 'BADTIME' && tsig.other.length === 6 ? `; the server's time is ${tsig.other.readUIntBE(0, 6)} s, ours ${ctx.nowSeconds} s` : '';
    return fail(`${rcode}, ${err} for ${keyNote}: ${MEANING[err] ?? 'see the server log'}${skew}`);
  }
  if (tsig === undefined || tsig.mac.length === 0) {
    if (rcode === 'NOERROR') return fail(`its NOERROR reply is not TSIG-signed, so it cannot be trusted (${keyNote})`);
    return fail(`${rcode}: ${MEANING[rcode] ?? 'see the server log'} (${keyNote}; the reply is unsigned)`);
  }
  if (tsig.keyName !== normal(ctx.key.name) || tsig.algorithm !== ctx.key.algorithm) {
    return fail(`its reply is signed with key ${tsig.keyName} (${tsig.algorithm}), not ${keyNote}`);
  }
  if (!verifyReplyMac(reply, tsig, ctx.key, ctx.requestMac)) {
    return fail(`${rcode}, but the reply's TSIG MAC does not verify with ${keyNote}`);
  }
  if (Math.abs(ctx.nowSeconds - tsig.timeSigned) > tsig.fudge) {
    return fail(`the reply's TSIG time (${tsig.timeSigned} s) is more than ${tsig.fudge} s from ours (${ctx.nowSeconds} s)`);
  }
  if (rcode !== 'NOERROR') return fail(`${rcode}: ${MEANING[rcode] ?? 'see the server log'} (${keyNote})`);
}

function normal(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

/** A plain query (no RD: the server is asked as the authority). */
export function buildQuery(id: number, name: string, type: 'TXT' | 'SOA'): Buffer {
  return dnsPacket.encode({ type: 'query', id, flags: 0, questions: [{ type, name, class: 'IN' }] });
}

/** The TXT values (character-strings joined) for `name` in a query reply. */
export function txtValues(reply: Buffer, name: string): string[] {
  const p = dnsPacket.decode(reply);
  const want = normal(name);
  const out: string[] = [];
  for (const a of p.answers ?? []) {
    if (a.type !== 'TXT' || normal(a.name) !== want) continue;
    const data = Array.isArray(a.data) ? a.data : [a.data];
    out.push(data.map((d) => (typeof d === 'string' ? d : d.toString('utf8'))).join(''));
  }
  return out;
}

/**
 * The zone a name is in, from a SOA query for it at an authoritative server: the owner of the SOA
 * in the answer (the name is the apex) or in the authority section (NXDOMAIN or no data below it).
 */
export function zoneFromSoaReply(reply: Buffer): { rcode: string; zone: string | undefined } {
  const rcode = rcodeName(reply.readUInt16BE(2) & 0xf);
  const p = dnsPacket.decode(reply);
  const soa = [...(p.answers ?? []), ...(p.authorities ?? [])].find((a) => a.type === 'SOA');
  return { rcode, zone: soa === undefined ? undefined : normal(soa.name) };
}
