import { isIP } from 'node:net';
import { isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { isBirdReservedWord, type AnnouncerSpec } from '../announcer/index.js';
import { DEFAULT_UID_BASE, DRIVER_NAMES, UID_BLOCK_SIZE, type DriverName } from '../runtime/index.js';
import { readToml, ConfigIssuesError, fromZod, readConfigText, type SchemaIssue } from '../shared/index.js';
import { contains, formatNet, hostBits, parseHostPort, parseIp, parsePrefix, reachable } from './addresses.js';
import { controlIssues, controlSchema, resolveControl, type ControlSection } from './config-control.js';
import { meshIssues, meshSchema, resolveMesh, type MeshSection } from './config-mesh.js';
import { parseDuration } from '../contract/index.js';
import { DEFAULT_LIMITS, RESPONSE_IDLE_TIMEOUT_RANGE_MS } from '../proxy/index.js';

export { parseHostPort } from './addresses.js';
export type { ControlSection } from './config-control.js';
export type { MeshSection } from './config-mesh.js';

/**
 * The agent's static config, `agent.toml`: what it needs at boot (docs/agent-toml.md). Zod checks
 * each value; `crossCheck` then looks across the file (overlapping prefixes, duplicate peers, a peer
 * whose address family has no prefix, iBGP, a `[control]` without a reachable proxy address). Both
 * always run, so every problem is reported at once. Addresses: addresses.ts; `[control]`:
 * config-control.ts.
 */

export interface AgentConfig {
  agent: { region: string; state_dir: string; admin_listen: string; token_file: string };
  /** `response_idle_timeout` is in ms here (written "60s" in the file). */
  /**
   * `tls_listen`: the HTTPS port (HTTP/1.1 and HTTP/2 by ALPN) with the control plane's certificates;
   * unset: plain HTTP only. `default_cert`: what a handshake for a name without a certificate gets.
   */
  proxy: {
    listen: string;
    tls_listen: string | undefined;
    default_cert: 'refuse' | 'self-signed';
    routes: string;
    admin: string;
    max_connections: number;
    max_connections_per_ip: number;
    response_idle_timeout: number;
  };
  announcer: AnnouncerSpec;
  /**
   * Machines on this host: `sandbox` (bubblewrap + network namespaces) or `none` (proxy only).
   * `uid_base`: first host uid of the per-app uid blocks; `allow_host_root`: run machines as the
   * host's uid 0 where the host cannot give them a user namespace (the non-root lab).
   */
  runtime: { driver: DriverName | 'none'; data_dir: string; bridge: string; network: string; uid_base: number; allow_host_root: boolean; image_gc_after_ms: number; max_image_bytes: number };
  /** The control plane this host follows; absent: the agent serves the routes file only. */
  control?: ControlSection;
  /** This host on the WireGuard mesh; absent: not on it. */
  mesh?: MeshSection;
}

// ---- schema ------------------------------------------------------------------------------------

const PEER_NAME = /^[a-z][a-z0-9_]{0,31}$/;
const MIN_UID_BLOCKS = 1024;
/** The last block may not hold 2^32-1 ((uid_t)-1): 1024 whole blocks fit from 0xfbff0000 up. */
const MAX_UID_BASE = 2 ** 32 - (MIN_UID_BLOCKS + 1) * UID_BLOCK_SIZE;
const int = (what = 'an integer') => z.number().int(`must be ${what}`);
const range = (lo: number, hi: number, unit = '') =>
  int().min(lo, `must be from ${lo} to ${hi}${unit}`).max(hi, `must be from ${lo} to ${hi}${unit}`);
const absPath = z.string().refine((p) => isAbsolute(p), 'must be an absolute path');
const hostPort = z.string().refine((s) => parseHostPort(s) !== undefined, 'must be HOST:PORT (IPv6 in brackets: [::1]:9190)');
const ipAddress = z
  .string()
  .refine((s) => parseIp(s) !== undefined, 'must be an IPv4 or IPv6 address (no zone id)')
  .transform((s) => parseIp(s)?.text ?? s);

/** A duration as the agent's Machines API takes it ("60s", "1m30s", "500ms", or a number of seconds) → ms. */
const responseIdleTimeout = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const ms = parseDuration(v);
  if (ms === undefined || ms < RESPONSE_IDLE_TIMEOUT_RANGE_MS.min || ms > RESPONSE_IDLE_TIMEOUT_RANGE_MS.max) {
    ctx.addIssue({ code: 'custom', message: 'must be a duration from 1s to 24h such as "60s", "2m" or "1m30s" (a number is seconds)' });
  }
  return ms ?? 0;
});

const asn = z
  .number()
  .int('must be an integer AS number')
  .min(1, 'must be an AS number from 1 to 4294967295 (0 is reserved, RFC 7607)')
  .max(4294967295, 'must be an AS number from 1 to 4294967295')
  .refine((n) => n !== 23456, 'AS 23456 is AS_TRANS (RFC 6793), a placeholder for 4-byte ASNs, not a real AS');

const prefix = z
  .string()
  .superRefine((s, ctx) => {
    const p = parsePrefix(s);
    if (!p) ctx.addIssue({ code: 'custom', message: `"${s}" is not a CIDR prefix like 192.0.2.0/24 or 2001:db8::/48` });
    else if (hostBits(p) !== 0n) {
      const network = `${formatNet(p.family, p.value - hostBits(p))}/${p.len}`;
      ctx.addIssue({ code: 'custom', message: `"${s}" has host bits set: the network is ${network}` });
    }
  })
  .transform((s) => parsePrefix(s)?.text ?? s);

const password = z
  .string()
  .min(1, 'must not be empty (leave the key out for no password)')
  .refine((s) => !/["\\]/.test(s), 'must not contain " or \\ (BIRD strings have no escapes)')
  // eslint-disable-next-line no-control-regex
  .refine((s) => !/[\u0000-\u001f\u007f]/.test(s), 'must not contain control characters')
  .refine((s) => Buffer.byteLength(s) <= 80, 'must be at most 80 bytes (the TCP MD5 key limit)');

const peer = z.strictObject({
  name: z
    .string()
    .regex(PEER_NAME, 'must be 1-32 characters of a-z, 0-9 and "_", starting with a letter')
    .refine((n) => !isBirdReservedWord(n), { error: (i) => `"${String(i.input)}" is a reserved word in BIRD's config; choose another name` })
    .refine((n) => !n.startsWith('starling'), 'names starting with "starling" are kept for the protocols Starling generates'),
  address: ipAddress,
  asn,
  password: password.optional(),
  multihop: range(1, 255, ' (the TTL: hops to the peer)').optional(),
  source_address: ipAddress.optional(),
  hold_time: int('an integer number of seconds')
    .refine((h) => h === 0 || (h >= 3 && h <= 65535), 'must be 0 (no hold timer) or from 3 to 65535 seconds')
    .default(9),
  keepalive_time: range(1, 65535, ' seconds').optional(),
  bfd: z
    .strictObject({ enabled: z.boolean().default(false), interval_ms: range(10, 60000, ' ms').default(100), multiplier: range(1, 255).default(3) })
    .prefault({}),
});

const Schema = z.strictObject({
  agent: z.strictObject({
    region: z.string().regex(/^[a-z]{3}$/, 'must be a three-letter lowercase region code, like "fra"'),
    state_dir: absPath.default('/var/lib/starling/agent'),
    admin_listen: hostPort.default('127.0.0.1:9190'),
    token_file: absPath.optional(),
  }),
  proxy: z
    .strictObject({
      listen: hostPort.default('0.0.0.0:80'),
      tls_listen: hostPort.optional(),
      default_cert: z.enum(['refuse', 'self-signed']).default('refuse'),
      routes: absPath,
      admin: hostPort.default('127.0.0.1:9191'),
      max_connections: int('a whole number').min(1, 'must be at least 1').default(DEFAULT_LIMITS.maxConnections),
      max_connections_per_ip: int('a whole number').min(1, 'must be at least 1').default(DEFAULT_LIMITS.maxConnectionsPerIp),
      response_idle_timeout: responseIdleTimeout.default(DEFAULT_LIMITS.responseIdleTimeoutMs),
    })
    .superRefine((p, ctx) => {
      if (p.tls_listen !== undefined && p.tls_listen === p.listen) ctx.addIssue({ code: 'custom', path: ['tls_listen'], message: 'must differ from listen (the plain HTTP port)' });
      if (p.max_connections_per_ip <= p.max_connections) return;
      const dflt = p.max_connections_per_ip === DEFAULT_LIMITS.maxConnectionsPerIp ? ` (its default is ${DEFAULT_LIMITS.maxConnectionsPerIp}: set it too)` : '';
      ctx.addIssue({ code: 'custom', path: ['max_connections_per_ip'], message: `must be at most max_connections (${p.max_connections})${dflt}` });
    }),
  bgp: z.strictObject({
    asn,
    router_id: z.string().refine((s) => isIP(s) === 4 && s !== '0.0.0.0', 'must be a non-zero IPv4 address in dotted form (RFC 6286)'),
    prefixes: z.array(prefix).min(1, 'must list at least one prefix to announce'),
    drain_prepend: range(0, 10).default(3),
    bird: z.string().min(1, 'must name the bird binary').default('/usr/sbin/bird'),
    peers: z.array(peer).min(1, 'must list at least one peer ([[bgp.peers]])'),
  }),
  health: z
    .strictObject({
      url: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).optional(),
      interval_ms: range(10, 600000, ' ms').default(200),
      timeout_ms: range(1, 600000, ' ms').default(150),
      rise: range(1, 100).default(2),
      fall: range(1, 100).default(2),
      damping_ms: range(0, 3600000, ' ms').default(5000),
    })
    .prefault({}),
  drain: z.strictObject({ delay_ms: range(0, 3600000, ' ms').default(30000) }).prefault({}),
  runtime: z
    .strictObject({
      driver: z.enum(['none', ...DRIVER_NAMES] as ['none', ...DriverName[]]).default('sandbox'),
      data_dir: z.string().startsWith('/', 'must be an absolute path').optional(),
      bridge: z.string().regex(/^[a-z][a-z0-9]{0,11}$/, 'must be an interface name of a-z and 0-9, at most 12 characters').default('starling0'),
      network: z
        .string()
        .regex(/^\d{1,3}(\.\d{1,3}){3}\/(1[2-9]|2[0-4])$/, 'must be an IPv4 CIDR of size /12 to /24, e.g. 172.31.0.0/16')
        .default('172.31.0.0/16'),
      // Blocks of 65536 host uids per app from here up (runtime/drivers/sandbox-userns.ts): aligned,
      // above the host's own users, with room for MIN_UID_BLOCKS apps below 2^32-1.
      uid_base: int()
        .superRefine((n, ctx) => {
          const issue = (message: string): void => ctx.addIssue({ code: 'custom', message });
          if (n < UID_BLOCK_SIZE) issue(`must be at least ${UID_BLOCK_SIZE}: the first 65536 ids are the host's own users`);
          else if (n > MAX_UID_BASE) issue(`must be at most ${MAX_UID_BASE} (0x${MAX_UID_BASE.toString(16)}): room for ${MIN_UID_BLOCKS} apps' blocks of ${UID_BLOCK_SIZE} uids below 2^32-1`);
          else if (n % UID_BLOCK_SIZE !== 0) issue(`must be a multiple of ${UID_BLOCK_SIZE} (the default is ${DEFAULT_UID_BASE}, 0x70000000)`);
        })
        .default(DEFAULT_UID_BASE),
      allow_host_root: z.boolean().default(false),
      // The host image store (src/images): an image no machine has used for this long is removed
      // (its unpacked root filesystems, then the blobs no kept image needs); checked hourly.
      image_gc_after: z
        .union([z.string(), z.number()])
        .transform((v, ctx) => {
          const ms = parseDuration(v);
          if (ms === undefined || ms < 60_000) ctx.addIssue({ code: 'custom', message: 'must be a duration of at least 1m such as "24h" or "30m" (a number is seconds)' });
          return ms ?? 0;
        })
        .default(24 * 3600_000),
      // The largest image (its compressed blobs; unpacked, a layer may be at most 4× its share) a host pulls.
      max_image_bytes: int().min(1 << 20, 'must be at least 1 MiB').default(4 * 1024 ** 3),
    })
    .prefault({}),
  control: controlSchema.optional(),
  mesh: meshSchema.optional(),
});

/** agent.toml was read but is not valid; `issues` holds every problem with its path. */
export class AgentConfigError extends ConfigIssuesError {
  constructor(source: string, issues: SchemaIssue[], cause?: unknown) {
    super('ERR_AGENT_CONFIG', source, issues, 'docs/agent-toml.md lists every key, its default and its constraints', cause);
  }
}

export function parseAgentConfig(text: string, source: string): AgentConfig {
  const toml = readToml(text);
  if (!toml.ok) throw new AgentConfigError(source, [toml.issue], toml.cause);
  const doc = toml.doc;
  const result = Schema.safeParse(doc);
  // Zod words a missing key as "expected string, received undefined"; say what the reader must do.
  const missing = (i: SchemaIssue): SchemaIssue =>
    /received undefined$/.test(i.message) ? { path: i.path, message: i.path.includes('.') ? 'is required' : `is required: add the [${i.path}] section` } : i;
  const issues = [...(result.success ? [] : fromZod(result.error).map(missing)), ...crossCheck(doc)];
  if (!result.success || issues.length > 0) throw new AgentConfigError(source, sortIssues(issues));
  const { agent, proxy, bgp, health, drain, runtime, control: ctl, mesh } = result.data;
  // RFC 4271 4.4 suggests a keepalive of a third of the hold time; with hold time 0, none are sent.
  const peers = bgp.peers.map(({ keepalive_time, bfd, ...p }) => ({ ...p, keepalive_time: keepalive_time ?? Math.floor(p.hold_time / 3), bfd }));
  return {
    agent: { ...agent, token_file: agent.token_file ?? join(agent.state_dir, 'admin.token') },
    proxy: { ...proxy, tls_listen: proxy.tls_listen },
    announcer: {
      bgp: { ...bgp, peers },
      health: { ...health, url: health.url ?? `http://${reachable(proxy.admin)}/healthz` },
      drain,
      state_dir: join(agent.state_dir, 'bird'),
    },
    runtime: (({ image_gc_after, ...rest }) => ({ ...rest, image_gc_after_ms: image_gc_after, data_dir: rest.data_dir ?? join(agent.state_dir, 'machines') }))(runtime),
    ...(ctl ? { control: resolveControl(ctl, agent, proxy.listen) } : {}),
    ...(ctl && mesh ? { mesh: resolveMesh(mesh, agent.state_dir, ctl.proxy_address ?? proxy.listen) } : {}),
  };
}

export async function loadAgentConfig(path: string): Promise<AgentConfig> {
  const text = await readConfigText(path, {
    code: 'ERR_AGENT_CONFIG_READ',
    what: 'agent config',
    hint: 'check the path given for agent.toml and that the agent may read it',
  });
  return parseAgentConfig(text, path);
}

// ---- checks across the file -----------------------------------------------------------------------
// They walk the raw document defensively (zod reports wrong shapes), so they run even when zod fails.

const obj = (v: unknown): Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const num = (v: unknown, dflt?: number): number | undefined => (v === undefined ? dflt : typeof v === 'number' ? v : undefined);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

function crossCheck(doc: unknown): SchemaIssue[] {
  const issues: SchemaIssue[] = [];
  const add = (path: string, message: string): number => issues.push({ path, message });
  const bgp = obj(obj(doc).bgp);
  const prefixes = arr(bgp.prefixes).map((p, i) => ({ p: parsePrefix(str(p)), i }));
  for (const { p, i } of prefixes) {
    const earlier = p ? prefixes.slice(0, i).filter(({ p: q }) => q && (contains(q, p) || contains(p, q))) : [];
    const dup = earlier.find(({ p: q }) => q?.text === p?.text);
    const other = dup ?? earlier[0];
    if (!p || !other?.p) continue;
    if (dup) add(`bgp.prefixes[${i}]`, `duplicate of bgp.prefixes[${other.i}]`);
    else add(`bgp.prefixes[${i}]`, `"${p.text}" overlaps "${other.p.text}" (bgp.prefixes[${other.i}]): one contains the other`);
  }
  const families = new Set(prefixes.flatMap(({ p }) => (p ? [p.family] : [])));

  const firstUse = new Map<string, number>();
  arr(bgp.peers).forEach((raw, i) => {
    const peer = obj(raw);
    const at = (k: string): string => `bgp.peers[${i}].${k}`;
    const label = str(peer.name) || `#${i}`;
    const addr = parseIp(str(peer.address));
    for (const [key, value] of [['name', str(peer.name)], ['address', addr?.text ?? '']] as const) {
      const first = firstUse.get(`${key}:${value}`);
      if (value !== '' && first !== undefined) add(at(key), `${key} ${value} is already used by bgp.peers[${first}]`);
      else if (value !== '') firstUse.set(`${key}:${value}`, i);
    }
    if (addr && prefixes.length > 0 && !families.has(addr.family)) {
      add(at('address'), `peer ${label} is IPv${addr.family} but no IPv${addr.family} prefix is configured`);
    }
    const src = parseIp(str(peer.source_address));
    if (addr && src && src.family !== addr.family) add(at('source_address'), `must be IPv${addr.family}, like the peer's address`);
    if (num(bgp.asn) !== undefined && num(peer.asn) === num(bgp.asn)) {
      add(at('asn'), `peer ${label} is in the local AS ${num(bgp.asn)}: iBGP is not supported yet (eBGP peers only)`);
    }
    const hold = num(peer.hold_time, 9);
    const keepalive = num(peer.keepalive_time);
    if (hold === 0 && keepalive !== undefined) {
      add(at('keepalive_time'), 'must be left out when hold_time is 0 (then no keepalives are sent, RFC 4271 4.4)');
    } else if (hold !== undefined && keepalive !== undefined && keepalive >= hold) {
      add(at('keepalive_time'), `must be less than hold_time (${hold}); a third of it is usual`);
    }
    if (obj(peer.bfd).enabled === true && peer.multihop !== undefined && peer.source_address === undefined) {
      add(at('source_address'), 'is required for BFD over multihop: such sessions are keyed by the local address (RFC 5883)');
    }
  });

  issues.push(...controlIssues(doc), ...meshIssues(doc));

  const health = obj(obj(doc).health);
  const interval = num(health.interval_ms, 200);
  const timeout = num(health.timeout_ms, 150);
  if (interval !== undefined && timeout !== undefined && timeout >= interval) {
    add('health.timeout_ms', `must be less than interval_ms (${interval})${health.timeout_ms === undefined ? '; the default is 150' : ''}`);
  }
  return issues;
}

/** Issues grouped by section in file order, then by peer, so a peer's problems stand together. */
function sortIssues(issues: SchemaIssue[]): SchemaIssue[] {
  const sections = ['agent', 'proxy', 'bgp', 'health', 'drain', 'runtime', 'control', 'mesh'];
  const rank = (p: string): number => {
    const peer = /^bgp\.peers\[(\d+)\]/.exec(p);
    return sections.indexOf(p.split(/[.[]/)[0] ?? '') * 1e6 + (peer ? Number(peer[1]) + 1 : 0);
  };
  return [...issues].sort((a, b) => rank(a.path) - rank(b.path));
}
