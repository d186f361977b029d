import { isIP } from 'node:net';
import { extname } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { z } from 'zod';
import { tomlSyntaxIssue, ConfigIssuesError, fromZod, isKnownRegion, type SchemaIssue } from '../../shared/index.js';
import { APP_NAME_RE, APP_NAME_RULE, HEADER_NAME_RE, RESERVED_RESPONSE_FIELDS, idleTimeoutSeconds, staticMapping, staticsList } from '../../contract/index.js';
import { MACHINE_STATES, type RoutesSpec } from './types.js';
import { tcpPortClashes, tcpServiceSchema } from './tcp-schema.js';

/**
 * The routes file's schema. Zod checks each value on its own; `crossCheck` then looks across the
 * file (duplicate names, hostnames claimed twice, regions nobody knows). Both run on every parse so
 * a person fixing the file sees every problem at once, not one per attempt.
 */

const MACHINE_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const REGION_CODE = /^[a-z]{3}$/;
// RFC 1123 labels, lowercase only; an optional leading `*.` claims every name one label deeper.
const DNS_NAME = /^(\*\.)?[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** The key a hostname is matched on: lowercase, IPv6 literals in brackets as in a Host header. */
function hostKey(h: string): string {
  const bare = h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h;
  return isIP(bare) === 6 ? `[${bare.toLowerCase()}]` : h.toLowerCase();
}

function hostnameProblem(h: string): string | undefined {
  const bare = h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h;
  if (isIP(bare) !== 0) return undefined;
  if (h !== h.toLowerCase()) return `hostname "${h}" must be written in lowercase`;
  if (h.length > 253 || !DNS_NAME.test(h)) {
    return `"${h}" is not a valid hostname (DNS labels of a-z, 0-9 and "-", optionally "*." in front, or an IP literal)`;
  }
  return undefined;
}

const port = z
  .number()
  .int('must be an integer port number')
  .min(1, 'must be a port number from 1 to 65535')
  .max(65535, 'must be a port number from 1 to 65535');
const regionCode = z.string().regex(REGION_CODE, 'must be a three-letter lowercase region code, like "fra"');

const hostname = z
  .string()
  .superRefine((h, ctx) => {
    const problem = hostnameProblem(h);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  // Host headers carry IPv6 literals in brackets, so that is the form the table stores.
  .transform(hostKey);

const machine = z.strictObject({
  id: z.string().regex(MACHINE_ID, 'must be 1-64 characters of A-Z, a-z, 0-9, "_" and "-", starting with a letter or digit'),
  region: regionCode,
  address: z.string().refine((a) => isIP(a) !== 0, 'must be an IPv4 or IPv6 address literal'),
  port: port.optional(),
  state: z.enum(MACHINE_STATES).default('started'),
  healthy: z.boolean().default(true),
  // `address:port` is another host's Starling proxy holding the machine (docs/routes-file.md).
  peer: z.boolean().optional(),
});

const concurrency = z
  .strictObject({
    type: z.enum(['connections', 'requests']).default('connections'),
    soft_limit: z.number().int('must be an integer').min(1, 'must be at least 1').default(20),
    hard_limit: z.number().int('must be an integer').min(1, 'must be at least 1').optional(),
  })
  .refine((c) => c.hard_limit === undefined || c.hard_limit >= c.soft_limit, {
    path: ['hard_limit'],
    message: 'must be at least soft_limit',
  });

const service = z.strictObject({
  internal_port: port.default(8080),
  concurrency: concurrency.prefault({}),
  // fly.toml names and defaults; booleans are accepted for auto_stop_machines as fly does.
  auto_start_machines: z.boolean().default(true),
  auto_stop_machines: z
    .union([z.enum(['off', 'stop', 'suspend']), z.boolean()])
    .default('off')
    .transform((v) => (v === true ? 'stop' : v === false ? 'off' : v)),
  min_machines_running: z.number().int('must be an integer').min(0, 'must be at least 0').default(0),
});

/** Response fields an app may set: a token name, never framing, hop-by-hop or the proxy's own (the contract's rules). */
const responseHeaders = z
  .record(z.string(), z.string().max(4096, 'must be at most 4096 characters').regex(/^[^\r\n\0]*$/, 'must not hold CR, LF or NUL').nullable())
  .superRefine((h, ctx) => {
    for (const name of Object.keys(h)) {
      if (!HEADER_NAME_RE.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: 'must be a lowercase header name (token characters)' });
      else if (RESERVED_RESPONSE_FIELDS.has(name)) ctx.addIssue({ code: 'custom', path: [name], message: 'is set by the proxy (framing, hop-by-hop or its own): an app cannot set it' });
    }
  });

const app = z.strictObject({
  // The platform's one app-name rule: a routes-file app and a control-plane app share the table.
  name: z.string().regex(APP_NAME_RE, APP_NAME_RULE),
  hostnames: z.array(hostname).min(1, 'must list at least one hostname'),
  primary_region: regionCode.optional(),
  force_https: z.boolean().default(false),
  response_headers: responseHeaders.optional(),
  h2_backend: z.boolean().default(false),
  statics: staticsList(staticMapping).optional(),
  idle_timeout: idleTimeoutSeconds.optional(),
  service: service.prefault({}),
  machines: z.array(machine),
});

const appName = z.string().regex(APP_NAME_RE, APP_NAME_RULE);

export const RoutesSpecSchema = z.strictObject({
  apps: z.array(app),
  tcp_services: z.array(tcpServiceSchema({ service: service.prefault({}), machine, appName, region: regionCode })).optional(),
  rtt: z.record(z.string(), z.record(z.string(), z.number().min(0, 'must be a number of milliseconds ≥ 0'))).optional(),
});

/** The routes file was read but is not a valid routes file; `issues` holds every problem. */
export class RoutesInvalidError extends ConfigIssuesError {
  constructor(source: string, issues: SchemaIssue[], cause?: unknown) {
    super('ERR_ROUTES_INVALID', source, issues, 'docs/routes-file.md lists every key, its default and its constraints', cause);
  }
}

/** Validates an already-parsed routes document and applies defaults. */
export function parseRoutesSpec(value: unknown, source: string): RoutesSpec {
  const result = RoutesSpecSchema.safeParse(value);
  const issues = result.success ? [] : fromZod(result.error);
  issues.push(...crossCheck(value));
  if (!result.success || issues.length > 0) throw new RoutesInvalidError(source, sortIssues(issues));
  return result.data;
}

/** Parses the text of a routes file: TOML when `source` ends in `.toml`, JSON otherwise. */
export function parseRoutesText(text: string, source: string, format?: 'json' | 'toml'): RoutesSpec {
  const fmt = format ?? (extname(source).toLowerCase() === '.toml' ? 'toml' : 'json');
  let value: unknown;
  try {
    value = fmt === 'toml' ? parseToml(text) : JSON.parse(text);
  } catch (e) {
    throw new RoutesInvalidError(source, [syntaxIssue(e, text, fmt)], e);
  }
  return parseRoutesSpec(value, source);
}

function syntaxIssue(e: unknown, text: string, fmt: 'json' | 'toml'): SchemaIssue {
  const raw = e instanceof Error ? e.message : String(e);
  if (fmt === 'toml') return tomlSyntaxIssue(e, text);
  // V8 says "at position N" for most errors, only "Unexpected token 'x', "…" is not valid JSON" for
  // others, and "(line L column C)" in newer versions; turn all of them into a line and column.
  const lc = /\(line (\d+) column (\d+)\)/.exec(raw);
  const at = /at position (\d+)/.exec(raw);
  let where = 'end of file';
  if (lc) where = `line ${lc[1]}, column ${lc[2]}`;
  else {
    const offset = at ? Number(at[1]) : /^Unexpected token/.test(raw) ? firstJsonErrorOffset(text) : undefined;
    if (offset !== undefined) {
      const before = text.slice(0, offset);
      where = `line ${before.split('\n').length}, column ${before.length - before.lastIndexOf('\n')}`;
    }
  }
  const reason = raw
    .replace(/ (?:in JSON )?at position \d+.*$/s, '')
    .replace(/ \(line \d+ column \d+\)$/, '')
    .replace(/, ".*" is not valid JSON$/s, '');
  return { path: where, message: `invalid JSON: ${reason}` };
}

/**
 * Where JSON.parse first fails, when its message does not say: the shortest prefix that fails for
 * a reason other than running out of input. A prefix that only stops early ("Unexpected end", or
 * an error placed at its very end, like "1e") is fine so far, so the search can bisect.
 */
function firstJsonErrorOffset(text: string): number {
  const failsWithin = (k: number): boolean => {
    try {
      JSON.parse(text.slice(0, k));
      return false;
    } catch (e) {
      const msg = e instanceof Error ? e.message : '';
      if (msg.startsWith('Unexpected end of JSON input')) return false;
      const at = /at position (\d+)/.exec(msg);
      return !(at && Number(at[1]) >= k);
    }
  };
  let lo = 1;
  let hi = text.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (failsWithin(mid)) hi = mid;
    else lo = mid + 1;
  }
  return lo - 1;
}

// ---- checks across the file -------------------------------------------------------------------
// These walk the raw document defensively (it may be the wrong shape; zod reports that) so that
// they can run, and report, even when zod found other problems.

const asArray = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const asObject = (v: unknown): Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
const asString = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

function crossCheck(value: unknown): SchemaIssue[] {
  const issues: SchemaIssue[] = [];
  const doc = asObject(value);

  const rttRegions = new Set<string>();
  for (const [a, row] of Object.entries(asObject(doc.rtt))) {
    rttRegions.add(a);
    if (!REGION_CODE.test(a)) issues.push({ path: `rtt.${a}`, message: 'region code must be three lowercase letters' });
    for (const b of Object.keys(asObject(row))) {
      rttRegions.add(b);
      if (!REGION_CODE.test(b)) issues.push({ path: `rtt.${a}.${b}`, message: 'region code must be three lowercase letters' });
    }
  }
  const checkRegion = (code: unknown, path: string): void => {
    // A malformed code is zod's to report; only well-formed but unknown ones are ours.
    if (typeof code !== 'string' || !REGION_CODE.test(code)) return;
    if (isKnownRegion(code) || rttRegions.has(code)) return;
    issues.push({
      path,
      message: `unknown region "${code}": add it to the \`rtt\` table or use a catalog code (see docs/routes-file.md)`,
    });
  };

  const appByName = new Map<string, number>();
  const hostOwner = new Map<string, { app: string; index: number }>();
  asArray(doc.apps).forEach((rawApp, i) => {
    const a = asObject(rawApp);
    const name = asString(a.name);
    if (name !== undefined) {
      const first = appByName.get(name);
      if (first !== undefined) issues.push({ path: `apps[${i}].name`, message: `app name "${name}" is already used by apps[${first}]` });
      else appByName.set(name, i);
    }
    asArray(a.hostnames).forEach((h, j) => {
      if (typeof h !== 'string') return;
      const key = hostKey(h);
      const owner = hostOwner.get(key);
      if (owner && owner.index !== i) {
        issues.push({
          path: `apps[${i}].hostnames[${j}]`,
          message: `hostname "${h}" is already claimed by app "${owner.app}" (apps[${owner.index}])`,
        });
      } else if (!owner) hostOwner.set(key, { app: name ?? `#${i}`, index: i });
    });
    checkRegion(a.primary_region, `apps[${i}].primary_region`);
    const ids = new Map<string, number>();
    asArray(a.machines).forEach((rawMachine, k) => {
      const m = asObject(rawMachine);
      const id = asString(m.id);
      if (id !== undefined) {
        const first = ids.get(id);
        if (first !== undefined) {
          issues.push({ path: `apps[${i}].machines[${k}].id`, message: `machine id "${id}" is already used by machines[${first}] of this app` });
        } else ids.set(id, k);
      }
      checkRegion(m.region, `apps[${i}].machines[${k}].region`);
    });
  });
  issues.push(...tcpPortClashes(doc.tcp_services));
  asArray(doc.tcp_services).forEach((s, i) => {
    const t = asObject(s);
    checkRegion(t.primary_region, `tcp_services[${i}].primary_region`);
    asArray(t.machines).forEach((m, k) => checkRegion(asObject(m).region, `tcp_services[${i}].machines[${k}].region`));
  });
  return issues;
}

/**
 * Groups issues by app, in file order: zod reports in document order, the cross-file checks come
 * after, and without this an app's duplicate-name issue would trail every other app's issues.
 */
function sortIssues(issues: SchemaIssue[]): SchemaIssue[] {
  const rank = (p: string): number => {
    const m = /^apps\[(\d+)\]/.exec(p);
    if (m) return Number(m[1]);
    if (p.startsWith('tcp_services')) return Number.MAX_SAFE_INTEGER - 1;
    return p.startsWith('rtt') ? Number.MAX_SAFE_INTEGER : -1;
  };
  return [...issues].sort((x, y) => rank(x.path) - rank(y.path));
}
