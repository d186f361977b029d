/**
 * The `.internal` resolver (I/O-free): one question, the platform's view and who asks → the rcode
 * and the records. The wire format is message.ts's; this file works on dns-packet's objects.
 *
 * Org isolation: only instances and apps of the asker's org are ever looked at. Another org's app
 * is NXDOMAIN with the same authority section as a name nobody has, so a machine cannot learn that
 * it exists.
 */
import type { Answer, SoaAnswer } from 'dns-packet';
import { parseIp, RttTable } from '../shared/index.js';
import { parseInternalName, ZONE, zoneOf, type InternalName } from './names.js';
import { INTERNAL_TTL_S, type DnsAsker, type DnsInstance, type DnsView } from './view.js';

export type DnsRcode = 'NOERROR' | 'NXDOMAIN' | 'REFUSED';

export interface DnsQuestion {
  name: string;
  /** dns-packet's type name: AAAA, TXT, ANY, …, UNKNOWN_<n>. */
  type: string;
  /** IN when absent. */
  class?: string | undefined;
}

export interface DnsAnswer {
  rcode: DnsRcode;
  /** In a stable order: a test can compare them as they are. */
  answers: Answer[];
  /** The zone's SOA on a negative answer (RFC 2308 §3), so resolvers cache it for the SOA minimum. */
  authorities: Answer[];
}

export interface ResolverOptions {
  /** Region RTTs for `top<N>.nearest.of`: the catalog's model unless measured figures are laid over it. */
  rtt?: RttTable;
}

type Rr = { type: 'AAAA'; data: string } | { type: 'TXT'; data: Buffer[] } | { type: 'SOA' };

const MODEL = new RttTable();
/** A character-string holds at most 255 octets (RFC 1035 §3.3, §3.3.14). */
const CHARACTER_STRING_MAX = 255;

/** The zone's SOA (`internal`, or `flycast`). No zone transfers happen, so the serial never has to move. */
export function soaRecord(zone = ZONE): SoaAnswer {
  return {
    type: 'SOA', name: zone, ttl: INTERNAL_TTL_S, class: 'IN',
    data: { mname: zone, rname: `hostmaster.${zone}`, serial: 1, refresh: 3600, retry: 600, expire: 86_400, minimum: INTERNAL_TTL_S },
  };
}

/** A TXT value as character-strings of at most 255 octets each, as RFC 1035 requires. */
export function characterStrings(value: string): Buffer[] {
  const raw = Buffer.from(value, 'utf8');
  const out: Buffer[] = [];
  for (let i = 0; i < raw.length || i === 0; i += CHARACTER_STRING_MAX) out.push(raw.subarray(i, i + CHARACTER_STRING_MAX));
  return out;
}

const byId = (a: DnsInstance, b: DnsInstance): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
const sorted = (xs: Iterable<string>): string[] => [...xs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

/** AAAA records of these instances in this order, each address once, IPv6 only. */
function aaaa(list: readonly { address: string }[]): Rr[] {
  const seen = new Set<string>();
  const out: Rr[] = [];
  for (const i of list) {
    const text = ipv6Text(i.address);
    if (text === undefined || seen.has(text)) continue;
    seen.add(text);
    out.push({ type: 'AAAA', data: text });
  }
  return out;
}

/**
 * An address's canonical IPv6 text, or undefined when it is not IPv6. Kept: parsing was half the
 * time of a query (bench:mesh's profile), and the same addresses are asked for again and again.
 * Cleared whole when it grows past what any platform's machines need.
 */
const PARSED = new Map<string, string | undefined>();
const PARSED_MAX = 100_000;
function ipv6Text(address: string): string | undefined {
  if (PARSED.has(address)) return PARSED.get(address);
  if (PARSED.size >= PARSED_MAX) PARSED.clear();
  const ip = parseIp(address);
  const text = ip?.family === 6 ? ip.text : undefined;
  PARSED.set(address, text);
  return text;
}

const txt = (value: string): Rr => ({ type: 'TXT', data: characterStrings(value) });

/** Started instances nearest-first from `from`: by region RTT, then by id within a region. */
export function nearestFirst(list: readonly DnsInstance[], from: string, rtt: RttTable = MODEL): DnsInstance[] {
  const rank = new Map(rtt.nearestFirst(from, new Set(list.map((i) => i.region))).map((r, n) => [r, n]));
  return [...list].sort((a, b) => (rank.get(a.region) ?? 0) - (rank.get(b.region) ?? 0) || byId(a, b));
}

/** The records at a name, or undefined when the name does not exist (for this asker). */
function recordsAt(view: DnsView, name: InternalName, asker: DnsAsker, rtt: RttTable): Rr[] | undefined {
  const mine = view.instances.filter((i) => i.org === asker.org).sort(byId);
  const started = mine.filter((i) => i.started);
  const apps = new Set([...view.apps.filter((a) => a.org === asker.org).map((a) => a.name.toLowerCase()), ...mine.map((i) => i.app.toLowerCase())]);
  switch (name.kind) {
    case 'apex':
      return [{ type: 'SOA' }];
    case 'apps':
      return apps.size === 0 ? [] : [txt(sorted(apps).join(','))];
    case 'instances':
      // One record per instance: a resolver hands each one back whole, however many there are.
      return [...started]
        .sort((a, b) => (a.app < b.app ? -1 : a.app > b.app ? 1 : byId(a, b)))
        .flatMap((i) => {
          const ip = parseIp(i.address);
          return ip?.family === 6 ? [txt(`instance=${i.id};app=${i.app};ip=${ip.text};region=${i.region}`)] : [];
        });
    case 'none':
      return undefined;
  }
  if (!apps.has(name.app)) return undefined;
  const all = mine.filter((i) => i.app.toLowerCase() === name.app);
  const up = started.filter((i) => i.app.toLowerCase() === name.app);
  switch (name.kind) {
    case 'app':
      return aaaa(up);
    case 'region': {
      // A region exists for the app while a machine of it is there, started or not.
      if (!all.some((i) => i.region.toLowerCase() === name.region)) return undefined;
      return aaaa(up.filter((i) => i.region.toLowerCase() === name.region));
    }
    case 'nearest':
      return aaaa(nearestFirst(up, asker.region, rtt)).slice(0, name.count);
    case 'vm': {
      const vm = all.find((i) => i.id.toLowerCase() === name.id);
      return vm === undefined ? undefined : aaaa([vm]);
    }
    case 'process': {
      if (!all.some((i) => i.group.toLowerCase() === name.group)) return undefined;
      return aaaa(up.filter((i) => i.group.toLowerCase() === name.group));
    }
    case 'vms':
      return up.length === 0 ? [] : [txt(up.map((i) => `${i.id} ${i.region}`).join(','))];
    case 'regions': {
      const regions = sorted(new Set(up.map((i) => i.region)));
      return regions.length === 0 ? [] : [txt(regions.join(','))];
    }
    case 'flycast': {
      const service = view.services?.find((x) => x.org === asker.org && x.app.toLowerCase() === name.app);
      return service === undefined ? [] : aaaa([service]);
    }
    case 'between':
      // vm. and process. have names below them only while the app has machines; of. and
      // nearest.of. always do (top<N> answers, possibly with nothing).
      return all.length === 0 && (name.below === 'vm' || name.below === 'process') ? undefined : [];
  }
}

function toAnswer(rr: Rr, owner: string): Answer {
  if (rr.type === 'SOA') return { ...soaRecord(zoneOf(owner)), name: owner };
  if (rr.type === 'AAAA') return { type: 'AAAA', name: owner, ttl: INTERNAL_TTL_S, class: 'IN', data: rr.data };
  return { type: 'TXT', name: owner, ttl: INTERNAL_TTL_S, class: 'IN', data: rr.data };
}

/**
 * Answers one question about a name under `internal.` for `asker`. A name outside the zone, or a
 * class other than IN (or ANY), is REFUSED: the server forwards outside names before asking here.
 * An existing name without records of the asked type is NODATA: NOERROR, no answers, the SOA.
 */
export function answer(view: DnsView, question: DnsQuestion, asker: DnsAsker, opts: ResolverOptions = {}): DnsAnswer {
  const parsed = parseInternalName(question.name);
  const klass = question.class ?? 'IN';
  if (parsed === undefined || (klass !== 'IN' && klass !== 'ANY')) return { rcode: 'REFUSED', answers: [], authorities: [] };
  const records = recordsAt(view, parsed, asker, opts.rtt ?? MODEL);
  const soa = soaRecord(zoneOf(question.name));
  if (records === undefined) return { rcode: 'NXDOMAIN', answers: [], authorities: [soa] };
  const matching = records.filter((r) => question.type === 'ANY' || r.type === question.type);
  if (matching.length === 0) return { rcode: 'NOERROR', answers: [], authorities: [soa] };
  // The owner is the name as asked: resolvers that randomise its case (0x20) check it comes back so.
  const owner = question.name.endsWith('.') ? question.name.slice(0, -1) : question.name;
  return { rcode: 'NOERROR', answers: matching.map((r) => toAnswer(r, owner)), authorities: [] };
}
