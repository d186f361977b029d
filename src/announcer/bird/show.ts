import type { BirdReply } from './protocol.js';

/**
 * Parsers for the outputs of `show protocols [all]` and `show route [all]`, as BIRD 2.0 prints them
 * (nest/proto.c proto_cmd_show(), nest/rt-show.c rt_show_rte(), nest/rt-attr.c ea_show()). Unknown
 * lines are skipped, not fatal: BIRD adds detail lines between versions.
 */

// Codes (see ReplyCode in protocol.ts; repeated here so the two modules do not import each other).
const PROTOCOL_LIST = 1002;
const PROTOCOL_DETAILS = 1006;
const ROUTE_LIST = 1007;
const ROUTE_DETAILS = 1008;
const ROUTE_ATTRIBUTES = 1012;

export interface ChannelInfo {
  /** ipv4, ipv6, … */
  name: string;
  state: string | undefined;
  table: string | undefined;
  preference: number | undefined;
  inputFilter: string | undefined;
  outputFilter: string | undefined;
  /** From `Routes: 1 imported, 0 exported, 1 preferred` (only while the channel is up). */
  routes: { imported: number; exported: number; preferred: number; filtered: number } | undefined;
}

export interface BgpDetails {
  /** Idle, Connect, Active, OpenSent, OpenConfirm, Established, Down, … */
  state: string;
  neighborAddress: string | undefined;
  neighborAs: number | undefined;
  localAs: number | undefined;
  neighborId: string | undefined;
  sourceAddress: string | undefined;
  lastError: string | undefined;
  /** Seconds left and the negotiated hold time (only while established). */
  holdTimer: { remaining: number; total: number } | undefined;
  keepaliveTimer: { remaining: number; total: number } | undefined;
}

export interface BirdProtocol {
  name: string;
  /** BGP, Static, Device, … */
  proto: string;
  /** `---` when the protocol has no single table. */
  table: string;
  /** up, start, down, stop, … */
  state: string;
  /** BIRD's own time format (`21:03:51.585` today, a date when older). */
  since: string;
  /** The summary's last column, e.g. `Active        Socket: No route to host` (trimmed). */
  info: string;
  /** `Key: value` lines above the channels (first occurrence); empty without `all`. */
  details: Record<string, string>;
  channels: ChannelInfo[];
  /** BGP protocols shown with `all`. */
  bgp: BgpDetails | undefined;
}

/** `show protocols` and `show protocols all [name]`. */
export function parseProtocols(reply: BirdReply): BirdProtocol[] {
  const out: BirdProtocol[] = [];
  let current: BirdProtocol | undefined;
  let channel: ChannelInfo | undefined;
  for (const line of reply.lines) {
    if (line.code === PROTOCOL_LIST) {
      current = summary(line.text);
      channel = undefined;
      if (current) out.push(current);
    } else if (line.code === PROTOCOL_DETAILS && current) {
      const ch = /^\s*Channel (\S+)$/.exec(line.text);
      if (ch) {
        channel = newChannel(ch[1] ?? '');
        current.channels.push(channel);
        continue;
      }
      const kv = /^\s*([^:]+?):\s+(.*)$/.exec(line.text);
      if (!kv) continue;
      const key = kv[1] ?? '';
      const value = (kv[2] ?? '').trim();
      if (channel) setChannelField(channel, key, value);
      else if (!(key in current.details)) current.details[key] = value;
    }
  }
  for (const p of out) p.bgp = bgpDetails(p);
  return out;
}

function summary(text: string): BirdProtocol | undefined {
  const m = /^(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(.*)$/.exec(text);
  if (!m) return undefined;
  // `since` is one token in BIRD's default formats; `timeformat protocol iso long` adds a time.
  const rest = m[5] ?? '';
  const since = /^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?|\S+)\s*(.*)$/.exec(rest);
  return {
    name: m[1] ?? '',
    proto: m[2] ?? '',
    table: m[3] ?? '',
    state: m[4] ?? '',
    since: since?.[1] ?? '',
    info: (since?.[2] ?? '').trim(),
    details: {},
    channels: [],
    bgp: undefined,
  };
}

function newChannel(name: string): ChannelInfo {
  const c = { name, state: undefined, table: undefined, preference: undefined };
  return { ...c, inputFilter: undefined, outputFilter: undefined, routes: undefined };
}

function setChannelField(c: ChannelInfo, key: string, value: string): void {
  if (key === 'State') c.state = value;
  else if (key === 'Table') c.table = value;
  else if (key === 'Preference') c.preference = int(value);
  else if (key === 'Input filter') c.inputFilter = value;
  else if (key === 'Output filter') c.outputFilter = value;
  else if (key === 'Routes') {
    // "1 imported, 2 filtered, 0 exported, 1 preferred" (filtered only with `import keep filtered`).
    const n: Record<string, number> = {};
    for (const m of value.matchAll(/(\d+) (\w+)/g)) n[m[2] ?? ''] = Number(m[1]);
    c.routes = { imported: n.imported ?? 0, exported: n.exported ?? 0, preferred: n.preferred ?? 0, filtered: n.filtered ?? 0 };
  }
}

function bgpDetails(p: BirdProtocol): BgpDetails | undefined {
  const d = p.details;
  const state = d['BGP state'];
  if (p.proto !== 'BGP' || state === undefined) return undefined;
  return {
    state,
    neighborAddress: d['Neighbor address'],
    neighborAs: int(d['Neighbor AS']),
    localAs: int(d['Local AS']),
    neighborId: d['Neighbor ID'],
    sourceAddress: d['Source address'],
    lastError: d['Last error'],
    holdTimer: timer(d['Hold timer']),
    keepaliveTimer: timer(d['Keepalive timer']),
  };
}

/** "186.064/240" → { remaining: 186.064, total: 240 }. */
function timer(v: string | undefined): { remaining: number; total: number } | undefined {
  const m = v === undefined ? null : /^([\d.]+)\/(\d+)/.exec(v);
  return m ? { remaining: Number(m[1]), total: Number(m[2]) } : undefined;
}

function int(v: string | undefined): number | undefined {
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
}

export interface NextHop {
  via: string | undefined;
  iface: string | undefined;
  weight: number | undefined;
}

export interface BirdRoute {
  table: string;
  prefix: string;
  /** unicast, blackhole, unreachable, prohibited. */
  type: string;
  /** The `via … on …` / `dev …` lines of a unicast route. */
  nextHops: NextHop[];
  protocol: string;
  since: string;
  /** The BGP neighbor it was learnt from, when BIRD shows it. */
  from: string | undefined;
  /** The best route for the prefix (`*`). */
  primary: boolean;
  preference: number | undefined;
  /** What follows the preference, e.g. `[AS65001i]` for BGP. */
  info: string;
  /** With `all`: `Type`, `BGP.origin`, `BGP.as_path`, `BGP.community`, … as BIRD prints them. */
  attributes: Record<string, string>;
  /** From BGP.as_path (AS_SET members included, braces dropped). */
  asPath: number[] | undefined;
  /** From BGP.community: `(65535,0)` → [65535, 0]. */
  communities: [number, number][] | undefined;
}

/** `show route [all] [for …] [where …]`. An empty table prints no lines at all. */
export function parseRoutes(reply: BirdReply): BirdRoute[] {
  const out: BirdRoute[] = [];
  let table = '';
  let prefix = '';
  let route: BirdRoute | undefined;
  let lastAttr: string | undefined;
  for (const line of reply.lines) {
    const t = line.text;
    if (line.code === ROUTE_LIST) {
      const tm = /^Table (\S+):$/.exec(t);
      if (tm) {
        table = tm[1] ?? '';
        route = undefined;
      } else if (t.startsWith('\t')) {
        if (route) addNextHop(route, t.trim());
      } else {
        route = routeLine(t, table, prefix);
        if (route) {
          prefix = route.prefix;
          out.push(route);
        }
      }
    } else if ((line.code === ROUTE_DETAILS || line.code === ROUTE_ATTRIBUTES) && route) {
      // Long community lists go on with "\t\t" lines (rt-attr.c ea_show_int_set()).
      if (t.startsWith('\t\t') && lastAttr !== undefined) {
        route.attributes[lastAttr] += ` ${t.trim()}`;
        continue;
      }
      const kv = /^\t?([^:]+?):\s?(.*)$/.exec(t);
      if (!kv) continue;
      lastAttr = kv[1] ?? '';
      route.attributes[lastAttr] = kv[2] ?? '';
    }
  }
  for (const r of out) decodeBgp(r);
  return out;
}

/** `198.51.100.0/24      unicast [b4 21:04:19.917 from 127.0.0.1] * (100) [AS65001i]`; a line
 * starting with blanks is another route for the prefix above. */
function routeLine(t: string, table: string, prevPrefix: string): BirdRoute | undefined {
  const m = /^(\S*)\s+(\S+) \[(\S+) (.+?)(?: from (\S+))?\]( [*!])?\s*(.*)$/.exec(t);
  if (!m) return undefined;
  const pref = /^\((\d+)(?:\/[^)]*)?\)\s*(.*)$/.exec(m[7] ?? '');
  return {
    table,
    prefix: m[1] || prevPrefix,
    type: m[2] ?? '',
    nextHops: [],
    protocol: m[3] ?? '',
    since: m[4] ?? '',
    from: m[5],
    primary: m[6] === ' *',
    preference: pref ? Number(pref[1]) : undefined,
    info: pref ? (pref[2] ?? '') : (m[7] ?? ''),
    attributes: {},
    asPath: undefined,
    communities: undefined,
  };
}

function addNextHop(r: BirdRoute, t: string): void {
  const via = /^via (\S+) on (\S+)(?:.*? weight (\d+))?/.exec(t);
  if (via) r.nextHops.push({ via: via[1], iface: via[2], weight: via[3] ? Number(via[3]) : undefined });
  const dev = /^dev (\S+)/.exec(t);
  if (dev) r.nextHops.push({ via: undefined, iface: dev[1], weight: undefined });
}

function decodeBgp(r: BirdRoute): void {
  const path = r.attributes['BGP.as_path'];
  if (path !== undefined) r.asPath = [...path.matchAll(/\d+/g)].map((m) => Number(m[0]));
  const comms = r.attributes['BGP.community'];
  if (comms !== undefined) {
    r.communities = [...comms.matchAll(/\((\d+),\s*(\d+)\)/g)].map((m): [number, number] => [Number(m[1]), Number(m[2])]);
  }
}
