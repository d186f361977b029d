import { extname } from 'node:path';
import { z } from 'zod';
import { readToml, ConfigIssuesError, contains, fromZod, hostBits, parsePrefix, readConfigText, type SchemaIssue } from '../shared/index.js';
import { DEFAULT_ANYCAST6, formatIpv4, LAB_RANGES, LAB_RANGES6, LAB_SPACE6, network6, parseIpv4Prefix, prefixesOverlap } from './lab-addresses.js';

/**
 * A lab topology: the cities of a small simulated internet, the links between their transit
 * routers, and where the PoPs are (docs/lab-topology.md). Zod checks each value; `crossCheck` then
 * looks across the document (unknown cities in links, duplicates, connectivity). Both always run,
 * so every problem is reported at once, each with its path.
 */

export interface TopologyCity {
  /** 2-5 lowercase letters; also the region code of the PoP hosts in this city. */
  code: string;
  name: string;
  lat: number;
  lon: number;
  /** The city router's AS number (the file's value, or 64601 + index). */
  asn: number;
  /** PoP hosts in this city; 0 means no PoP here. */
  pop_hosts: number;
  /** Whether a client namespace lives in this city. */
  clients: boolean;
}

export interface TopologyLink {
  a: string;
  b: string;
  /** BGP path length added by crossing the link: the exporting router prepends itself cost - 1 times. */
  cost: number;
}

export interface Topology {
  name: string;
  /** The PoP hosts' shared anycast prefix (canonical CIDR); the service address is its .1. */
  anycast: string;
  /** Its IPv6 twin (canonical CIDR), announced next to it by every PoP host; the service address is its ::1. */
  anycast6: string;
  /** The one ASN every PoP host announces from, as real anycast networks do. */
  pop_asn: number;
  cities: TopologyCity[];
  links: TopologyLink[];
}

export const DEFAULT_ANYCAST = '10.200.0.0/24';
export const DEFAULT_POP_ASN = 65000;
/** First default city ASN; city i gets FIRST_CITY_ASN + i unless the file says otherwise. */
export const FIRST_CITY_ASN = 64601;
export const MAX_CITIES = 16;
export const MAX_POP_HOSTS = 4;

// ---- schema ---------------------------------------------------------------------------------------

/** Private-use ASNs only (RFC 6996), so a lab can never be mistaken for, or leak as, a real network. */
const isPrivateAsn = (n: number): boolean => (n >= 64512 && n <= 65534) || (n >= 4200000000 && n <= 4294967294);
const asn = z
  .number()
  .int('must be an integer AS number')
  .refine(isPrivateAsn, 'must be a private AS number: 64512-65534 or 4200000000-4294967294 (RFC 6996)');

const CODE = /^[a-z]{2,5}$/;
const code = z.string().regex(CODE, 'must be 2-5 lowercase letters, like "fra"');
const int = (lo: number, hi: number) => z.number().int(`must be an integer from ${lo} to ${hi}`).min(lo, `must be from ${lo} to ${hi}`).max(hi, `must be from ${lo} to ${hi}`);

const anycast = z
  .string()
  .superRefine((s, ctx) => {
    const p = parseIpv4Prefix(s);
    const fail = (message: string): void => ctx.addIssue({ code: 'custom', message });
    if (!p) return fail(`"${s}" is not an IPv4 prefix like 10.200.0.0/24`);
    if (p.len > 30) return fail('must be /30 or shorter: its .1 is the service address');
    if (p.base !== p.network) return fail(`"${s}" has host bits set: the network is ${formatIpv4(p.network)}/${p.len}`);
    if (p.len < 8 || Math.floor(p.network / 2 ** 24) !== 10) return fail('must lie inside 10.0.0.0/8: the lab routers accept nothing else');
    const clash = LAB_RANGES.find((r) => prefixesOverlap(p, parseIpv4Prefix(r.prefix)!));
    if (clash) fail(`overlaps ${clash.prefix}, which the lab uses for ${clash.use}`);
  })
  .transform((s) => {
    const p = parseIpv4Prefix(s);
    return p ? `${formatIpv4(p.network)}/${p.len}` : s;
  });

const anycast6 = z
  .string()
  .superRefine((s, ctx) => {
    const p = parsePrefix(s);
    const fail = (message: string): void => ctx.addIssue({ code: 'custom', message });
    if (!p || p.family !== 6) return fail(`"${s}" is not an IPv6 prefix like ${DEFAULT_ANYCAST6}`);
    if (p.len > 127) return fail('must be /127 or shorter: its ::1 is the service address');
    if (hostBits(p) !== 0n) return fail(`"${s}" has host bits set: the network is ${network6(p)}`);
    if (!contains(parsePrefix(LAB_SPACE6)!, p)) return fail(`must lie inside ${LAB_SPACE6} (the documentation prefix, RFC 3849): the lab routers accept nothing else`);
    const clash = LAB_RANGES6.find((r) => {
      const q = parsePrefix(r.prefix)!;
      return contains(q, p) || contains(p, q);
    });
    if (clash) fail(`overlaps ${clash.prefix}, which the lab uses for ${clash.use}`);
  })
  .transform((s) => parsePrefix(s)?.text ?? s);

const city = z.strictObject({
  code,
  name: z
    .string()
    .min(1, 'must not be empty')
    .max(40, 'must be at most 40 characters')
    // The name is written into BIRD configs as a description string, which has no escapes.
    // eslint-disable-next-line no-control-regex
    .refine((s) => !/["\\\u0000-\u001f\u007f]/.test(s), 'must not contain ", \\ or control characters'),
  lat: z.number().min(-90, 'must be a latitude from -90 to 90').max(90, 'must be a latitude from -90 to 90'),
  lon: z.number().min(-180, 'must be a longitude from -180 to 180').max(180, 'must be a longitude from -180 to 180'),
  asn: asn.optional(),
  pop_hosts: int(0, MAX_POP_HOSTS).default(0),
  clients: z.boolean().default(true),
});

const Schema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, 'must be 1-32 characters of a-z, 0-9 and "-"').default('custom'),
  anycast: anycast.default(DEFAULT_ANYCAST),
  anycast6: anycast6.default(DEFAULT_ANYCAST6),
  pop_asn: asn.default(DEFAULT_POP_ASN),
  cities: z.array(city).min(1, 'must list at least one city ([[cities]])'),
  links: z.array(z.strictObject({ a: code, b: code, cost: int(1, 10).default(1) })).default([]),
});

/** The topology was read but is not valid; `issues` holds every problem with its path. */
export class TopologyError extends ConfigIssuesError {
  constructor(source: string, issues: SchemaIssue[], cause?: unknown) {
    super('ERR_LAB_TOPOLOGY', source, issues, 'docs/lab-topology.md describes the topology file', cause);
  }
}

export type TopologyFormat = 'toml' | 'json';

export function parseTopology(text: string, o: { format: TopologyFormat; source: string }): Topology {
  if (o.format === 'toml') {
    const toml = readToml(text);
    if (!toml.ok) throw new TopologyError(o.source, [toml.issue], toml.cause);
    return checkTopology(toml.doc, o.source);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new TopologyError(o.source, [{ path: '(syntax)', message: `invalid JSON: ${e instanceof Error ? e.message : String(e)}` }], e);
  }
  return checkTopology(doc, o.source);
}

/** Validates an already-parsed document (a file's contents, or a built-in preset). */
export function checkTopology(doc: unknown, source: string): Topology {
  const result = Schema.safeParse(doc);
  const missing = (i: SchemaIssue): SchemaIssue => (/received undefined$/.test(i.message) ? { path: i.path, message: 'is required' } : i);
  const issues = [...(result.success ? [] : fromZod(result.error).map(missing)), ...crossCheck(doc)];
  if (!result.success || issues.length > 0) throw new TopologyError(source, sortIssues(issues));
  const t = result.data;
  return {
    name: t.name,
    anycast: t.anycast,
    anycast6: t.anycast6,
    pop_asn: t.pop_asn,
    cities: t.cities.map((c, i) => ({ ...c, asn: c.asn ?? FIRST_CITY_ASN + i })),
    links: t.links,
  };
}

/** Reads a topology file: JSON when it ends in .json, TOML otherwise. */
export async function loadTopology(path: string): Promise<Topology> {
  const text = await readConfigText(path, {
    code: 'ERR_LAB_TOPOLOGY_READ',
    what: 'lab topology',
    hint: 'check the path of the topology file, or use a built-in preset by name',
  });
  return parseTopology(text, { format: extname(path).toLowerCase() === '.json' ? 'json' : 'toml', source: path });
}

// ---- checks across the document ---------------------------------------------------------------------
// They walk the raw document defensively (zod reports wrong shapes), so they run even when zod fails.

const obj = (v: unknown): Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

function crossCheck(doc: unknown): SchemaIssue[] {
  const issues: SchemaIssue[] = [];
  const add = (path: string, message: string): number => issues.push({ path, message });
  const top = obj(doc);
  const cities = arr(top.cities).map(obj);
  const popAsn = top.pop_asn === undefined ? DEFAULT_POP_ASN : top.pop_asn;

  if (cities.length > MAX_CITIES) add('cities', `at most ${MAX_CITIES} cities (there are ${cities.length}): the lab numbers them into its address plan`);
  const byCode = new Map<string, number>();
  const byAsn = new Map<number, number>();
  cities.forEach((c, i) => {
    const label = (j: number): string => `cities[${j}]${str(cities[j]?.code) ? ` (${str(cities[j]?.code)})` : ''}`;
    const code = str(c.code);
    const first = byCode.get(code);
    if (code !== '' && first !== undefined) add(`cities[${i}].code`, `"${code}" is already used by cities[${first}]`);
    else if (code !== '') byCode.set(code, i);

    const explicit = typeof c.asn === 'number';
    const asn = explicit ? (c.asn as number) : c.asn === undefined ? FIRST_CITY_ASN + i : undefined;
    if (asn === undefined) return;
    const where = explicit ? `cities[${i}].asn` : `cities[${i}]`;
    const what = explicit ? `AS ${asn}` : `its default AS number ${asn} (${FIRST_CITY_ASN} + index)`;
    const owner = byAsn.get(asn);
    if (owner !== undefined) add(where, `${what} is already used by ${label(owner)}${explicit ? '' : '; set asn explicitly'}`);
    else byAsn.set(asn, i);
    if (asn === popAsn) add(where, `${what} equals pop_asn: the router would drop its own PoP's routes as a loop`);
  });
  if (cities.length > 0 && !cities.some((c) => typeof c.pop_hosts === 'number' && c.pop_hosts > 0)) {
    add('cities', 'no city has a PoP: set pop_hosts = 1 (or more) on at least one city');
  }
  if (cities.length > 0 && !cities.some((c) => c.clients === undefined || c.clients === true)) {
    add('cities', 'no city has a client namespace: leave clients = true on at least one city');
  }

  const seen = new Map<string, number>();
  let dangling = false;
  const adjacency = new Map<string, string[]>([...byCode.keys()].map((k) => [k, []]));
  arr(top.links).forEach((raw, i) => {
    const link = obj(raw);
    const ends = [str(link.a), str(link.b)];
    for (const [k, end] of [['a', ends[0]], ['b', ends[1]]] as const) {
      if (end !== '' && CODE.test(end!) && !byCode.has(end!)) {
        add(`links[${i}].${k}`, `unknown city "${end}"`);
        dangling = true;
      }
    }
    const [a = '', b = ''] = ends;
    if (a === '' || b === '') return;
    if (a === b) return void add(`links[${i}]`, `links ${a} to itself`);
    const key = [a, b].sort().join('-');
    const first = seen.get(key);
    if (first !== undefined) return void add(`links[${i}]`, `duplicate of links[${first}] (${a}–${b}): cities are joined at most once`);
    seen.set(key, i);
    adjacency.get(a)?.push(b);
    adjacency.get(b)?.push(a);
  });

  // A link to an unknown city may be the one meant to connect the graph: report that first.
  const [start] = byCode.keys();
  if (!dangling && start !== undefined) {
    const reached = new Set([start]);
    const queue = [start];
    for (let c = queue.shift(); c !== undefined; c = queue.shift()) {
      for (const n of adjacency.get(c) ?? []) {
        if (reached.has(n)) continue;
        reached.add(n);
        queue.push(n);
      }
    }
    const cut = [...byCode.keys()].filter((c) => !reached.has(c));
    if (cut.length > 0) add('links', `the cities are not all connected: ${cut.join(', ')} cannot reach ${start}; add links`);
  }
  return issues;
}

/** Issues in document order: top-level keys first, then each city and each link in turn. */
function sortIssues(issues: SchemaIssue[]): SchemaIssue[] {
  const sections = ['(top level)', 'name', 'anycast', 'anycast6', 'pop_asn', 'cities', 'links'];
  const rank = (p: string): number => {
    const item = /^\w+\[(\d+)\]/.exec(p);
    const s = sections.indexOf(p.split(/[.[]/)[0] ?? '');
    return (s < 0 ? 0 : s) * 1e6 + (item ? Number(item[1]) + 1 : 0);
  };
  return [...issues].sort((a, b) => rank(a.path) - rank(b.path));
}
