import type { StaticMapping } from './statics.js';
import { readFile } from 'node:fs/promises';
import type { z } from 'zod';
import { closest, readToml, ConfigIssuesError, StarlingError, describeError, type SchemaIssue } from '../shared/index.js';
import {
  AppConfigSchema, allowedKeys, displayPath, parseSizeMb, prepare,
  type HANDLERS, type KILL_SIGNALS, type ParsedDocument, type STRATEGIES,
} from './app-config-schema.js';
import { checkGroups, defaultGroupOf, groupsOf, processGroups, type ProcessGroupConfig, type RestartConfig, type VmConfig } from './app-config-groups.js';
import { commandWords } from './command-words.js';

export type { ProcessGroupConfig, RestartConfig, VmConfig };

/**
 * An app's config, `starling.toml`: the fly.toml subset in docs/app-config.md. A real fly.toml is
 * accepted as it is: keys fly has and Starling does not support yet are warnings; keys neither has
 * are errors. Parsing runs in passes that always all run, so every problem is reported at once:
 * `prepare` (fly-only keys out, one-or-many sections into arrays), the zod schema, `crossCheck`.
 */

export type ConfigIssue = SchemaIssue;
export type KillSignal = (typeof KILL_SIGNALS)[number];
export type Handler = (typeof HANDLERS)[number];
export type DeployStrategy = (typeof STRATEGIES)[number];

/** A health check of a service's machines; the shape of the runtime's CheckSpec. */
export interface CheckConfig {
  type: 'http' | 'tcp';
  /** The service's internal_port. */
  port: number;
  /** HTTP checks only. */
  method?: string;
  path?: string;
  grace_period_ms: number;
  interval_ms: number;
  timeout_ms: number;
}

export interface ServiceConfig {
  /** Where it was written: `http_service` or `services[1]`. */
  source: string;
  protocol: 'tcp' | 'udp';
  internal_port: number;
  /**
   * Public ports; a single port has start_port = end_port. Without `http`: a TCP service at the edge
   * (no handler: raw bytes), with `alpn` for `tls` and the PROXY header version for `proxy_proto`.
   */
  ports: { start_port: number; end_port: number; handlers: Handler[]; force_https: boolean; alpn?: string[]; proxy_proto_version?: 'v1' | 'v2' }[];
  concurrency: { type: 'connections' | 'requests'; soft_limit: number; hard_limit?: number };
  auto_stop_machines: 'off' | 'stop' | 'suspend';
  auto_start_machines: boolean;
  /** Counted in the primary region only. */
  min_machines_running: number;
  checks: CheckConfig[];
  /** [http_service.http_options.response.headers], lower-cased: a value sets, null removes. */
  response_headers?: Record<string, string | null>;
  /** [http_service.http_options] h2_backend: HTTP/2 clients' streams reach the machines over h2c. */
  h2_backend?: boolean;
  /** [http_service.http_options] idle_timeout, seconds: a connection of the app carrying no bytes that long is closed. */
  idle_timeout_s?: number;
  /** The process groups whose machines it serves (process-groups.ts `serves`); absent: every group. */
  processes?: string[];
}

export interface AppConfig {
  app: string;
  primary_region?: string;
  kill_signal: KillSignal;
  /** Whether the config set kill_signal (else an image's STOPSIGNAL wins over the SIGINT default). */
  kill_signal_set: boolean;
  kill_timeout_ms: number;
  /** [env] as strings, plus PRIMARY_REGION when primary_region is set. */
  env: Record<string, string>;
  build: BuildConfig;
  /** experimental.entrypoint + experimental.cmd: the machines' argv; undefined = the runtime's default. */
  cmd?: string[];
  /** The two apart, as an OCI image's ENTRYPOINT and CMD are overridden (machine-config.ts). */
  overrides: { entrypoint?: string[]; cmd?: string[] };
  /** [http_service] expanded (ports 80 and 443) first, then [[services]] in file order. */
  services: ServiceConfig[];
  /**
   * max_unavailable: below 1 a fraction of the machines, from 1 a number of them (maxUnavailableCount).
   * release_command: its argv, split as flyctl splits it (command-words.ts), run once per deploy
   * before any machine is replaced (control/deploy/release-command.ts); its timeout, fly's 5m default.
   */
  deploy: { strategy: DeployStrategy; max_unavailable: number; release_command?: string[]; release_command_timeout_ms: number };
  /**
   * [processes]: the app's process groups, by name (flyctl's order); without [processes], the one
   * group `app` running the image's command. Every machine is in exactly one of them.
   */
  processes: ProcessGroupConfig[];
  /** The default group's (process-groups.ts defaultProcessGroup): what the release command and `scale show` use. */
  vm: VmConfig;
  mounts: { source: string; destination: string; initial_size_gb: number }[];
  restart: RestartConfig;
  /** fly's [[files]] (machine-config.ts filesFor turns them into each machine's files). */
  files: FileConfig[];
  /** fly's [[statics]]: the edge serves GETs under url_prefix from guest_path in the image (proxy core/statics.ts). */
  statics: StaticMapping[];
}

/** One [[files]] entry: its contents from exactly one place (local_path only until `starling deploy` reads it). */
export interface FileConfig {
  guest_path: string;
  raw_value?: string;
  local_path?: string;
  secret_name?: string;
  /** The groups whose machines get it; absent: every group. */
  processes?: string[];
}

// The runtime's defaults (src/agent/machines-port.ts, machine-manager.ts), so a machine behaves the
// same whether its check or restart policy came from starling.toml or from the Machines API.
const CHECK_DEFAULTS = { grace_period_ms: 1_000, interval_ms: 15_000, timeout_ms: 2_000 };
/** flyctl's DefaultReleaseCommandTimeout. */
export const DEFAULT_RELEASE_COMMAND_TIMEOUT_MS = 5 * 60_000;

/** The app config was read but is not valid: `issues` holds every error, `warnings` the rest. */
export class AppConfigError extends ConfigIssuesError {
  readonly warnings: ConfigIssue[];
  constructor(source: string, issues: ConfigIssue[], warnings: ConfigIssue[], cause?: unknown) {
    super('ERR_APP_CONFIG', source, issues, 'docs/app-config.md lists every key, its default and its constraints', cause);
    this.warnings = warnings;
  }
}

/** Machines a rolling deploy may replace at once, as flyctl counts them (fraction rounded up). */
export function maxUnavailableCount(maxUnavailable: number, machines: number): number {
  return maxUnavailable >= 1 ? Math.floor(maxUnavailable) : Math.max(1, Math.ceil(machines * maxUnavailable));
}

export function parseAppConfig(text: string, source: string): { config: AppConfig; warnings: ConfigIssue[] } {
  const toml = readToml(text);
  if (!toml.ok) throw new AppConfigError(source, [toml.issue], [], toml.cause);
  return parseAppConfigDocument(toml.doc, source);
}

/**
 * The same checks on a document already parsed (a release's `config`: the app config as written,
 * sent as JSON by `starling deploy`). Dates and other TOML-only types cannot appear in JSON, and
 * the schema rejects them anyway.
 */
/** Release configs never change: each document object is parsed once (its config, or its error). */
const parsedReleases = new WeakMap<object, AppConfig | Error>();

/**
 * A stored release's config, parsed once per document object (a release document is immutable):
 * for the paths that read many machines of one release (the routes, the machine objects, the
 * reconciler). The returned config is shared: read it, never change it.
 */
export function releaseAppConfig(raw: unknown, source: string): AppConfig {
  if (typeof raw !== 'object' || raw === null) return parseAppConfigDocument(raw, source).config;
  let c = parsedReleases.get(raw);
  if (!c) {
    try {
      c = parseAppConfigDocument(raw, source).config;
    } catch (e) {
      c = e instanceof Error ? e : new Error(String(e));
    }
    parsedReleases.set(raw, c);
  }
  if (c instanceof Error) throw c;
  return c;
}

export function parseAppConfigDocument(raw: unknown, source: string): { config: AppConfig; warnings: ConfigIssue[] } {
  const { doc, warnings, wrapped } = prepare(obj(raw));
  const at = (path: readonly PropertyKey[]): string => displayPath(path, wrapped);
  const result = AppConfigSchema.safeParse(doc);
  const errors = [...(result.success ? [] : result.error.issues.flatMap((i) => toIssues(i, at))), ...crossCheck(doc, at)];
  if (!result.success || errors.length > 0) {
    // Zod reports in schema order and the cross-checks come last: put them back in file order.
    const order = Object.keys(doc);
    const rank = (i: ConfigIssue): number => order.indexOf(i.path.split(/[.[]/)[0] ?? '');
    throw new AppConfigError(source, errors.sort((a, b) => rank(a) - rank(b)), warnings);
  }
  return { config: normalize(result.data, at, warnings), warnings };
}

export async function loadAppConfig(path: string): Promise<{ config: AppConfig; warnings: ConfigIssue[] }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new StarlingError('ERR_APP_CONFIG_READ', `cannot read app config ${path}: ${describeError(e)}`, {
      fault: 'user',
      cause: e,
      hint: 'run the command in the app\'s directory (next to starling.toml or fly.toml), or pass --config FILE',
    });
  }
  return parseAppConfig(text, path);
}

const obj = (v: unknown): Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);

// ---- pass 2: the schema's issues, said for people ------------------------------------------------

function toIssues(i: z.core.$ZodIssue, at: (p: readonly PropertyKey[]) => string): ConfigIssue[] {
  if (i.code === 'unrecognized_keys') {
    return i.keys.map((k) => {
      const near = closest(k, allowedKeys(i.path));
      return { path: at([...i.path, k]), message: `unknown key: neither Starling nor fly.toml has it${near ? ` (did you mean "${near}"?)` : ''}` };
    });
  }
  if (i.code === 'invalid_key') return [{ path: at(i.path), message: i.issues[0]?.message ?? i.message }];
  if (i.code === 'invalid_type' && /received undefined$/.test(i.message)) return [{ path: at(i.path), message: 'is required' }];
  return [{ path: at(i.path), message: i.message }];
}

// ---- pass 3: checks across the file --------------------------------------------------------------
// They read the prepared document defensively (zod reports wrong shapes), so they always run.

function crossCheck(doc: Record<string, unknown>, at: (p: readonly PropertyKey[]) => string): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const add = (path: readonly PropertyKey[], message: string): number => issues.push({ path: at(path), message });
  const limits = (c: unknown, path: PropertyKey[]): void => {
    const soft = num(obj(c).soft_limit);
    const hard = num(obj(c).hard_limit);
    if (soft !== undefined && hard !== undefined && hard < soft) add([...path, 'hard_limit'], `must be at least soft_limit (${soft})`);
  };
  // Public ports are the app's: two services cannot both listen on one (per protocol).
  const claimed: { proto: string; lo: number; hi: number; by: string }[] = [];
  const claim = (proto: string, lo: number, hi: number, path: PropertyKey[]): void => {
    const other = claimed.find((c) => c.proto === proto && lo <= c.hi && c.lo <= hi);
    const what = lo === hi ? `port ${lo}` : `ports ${lo}-${hi}`;
    if (other) add(path, `${what} (${proto}) is already used by ${other.by}`);
    else claimed.push({ proto, lo, hi, by: at(path) });
  };

  if (doc.http_service !== undefined) {
    claim('tcp', 80, 80, ['http_service']);
    claim('tcp', 443, 443, ['http_service']);
    limits(obj(doc.http_service).concurrency, ['http_service', 'concurrency']);
  }
  arr(doc.services).forEach((raw, i) => {
    const s = obj(raw);
    const proto = s.protocol === 'udp' ? 'udp' : 'tcp';
    limits(s.concurrency, ['services', i, 'concurrency']);
    arr(s.ports).forEach((rawPort, j) => {
      const p = obj(rawPort);
      const path = ['services', i, 'ports', j];
      const [single, start, end] = [num(p.port), num(p.start_port), num(p.end_port)];
      const given = ['port', 'start_port', 'end_port'].filter((k) => p[k] !== undefined).join(',');
      if (given === '') add(path, 'needs port, or start_port and end_port');
      else if (given.startsWith('port,')) add(path, 'give either port or start_port and end_port, not both');
      else if (given === 'start_port' || given === 'end_port') add([...path, given === 'start_port' ? 'end_port' : 'start_port'], `is required with ${given}`);
      else if (start !== undefined && end !== undefined && end < start) add([...path, 'end_port'], `must not be below start_port (${start})`);
      if (proto === 'udp' && arr(p.handlers).length > 0) add([...path, 'handlers'], 'must be empty on a udp service: handlers are for TCP');
      const handlers = arr(p.handlers);
      if (handlers.includes('pg_tls') && (handlers.includes('tls') || handlers.includes('http'))) add([...path, 'handlers'], '"pg_tls" ends TLS for PostgreSQL clients on its own: not with "tls" or "http"');
      if (p.tls_options !== undefined && !handlers.includes('tls')) add([...path, 'tls_options'], 'needs the "tls" handler');
      if (p.proxy_proto_options !== undefined && !handlers.includes('proxy_proto')) add([...path, 'proxy_proto_options'], 'needs the "proxy_proto" handler');
      const [lo, hi] = single !== undefined ? [single, single] : [start, end];
      if (lo !== undefined && hi !== undefined && lo <= hi) claim(proto, lo, hi, path);
    });
  });

  const deploy = obj(doc.deploy);
  const hasCheck =
    arr(obj(doc.http_service).checks).length > 0 ||
    arr(doc.services).some((s) => arr(obj(s).tcp_checks).length > 0 || arr(obj(s).http_checks).length > 0);
  if (deploy.strategy === 'bluegreen' && !hasCheck) {
    add(['deploy', 'strategy'], 'bluegreen needs a health check to switch traffic on: add [[http_service.checks]], or tcp_checks or http_checks to a [[services]]');
  }

  arr(doc.vm).forEach((raw, i) => {
    const vm = obj(raw);
    const memory = parseSizeMb(vm.memory, 'mb');
    if (memory !== undefined && num(vm.memory_mb) !== undefined && memory !== vm.memory_mb) {
      add(['vm', i, 'memory_mb'], `disagrees with memory (${memory} MB): keep one of them`);
    }
  });
  issues.push(...checkGroups(doc, at));
  const destinations = new Map<unknown, number>();
  arr(doc.mounts).forEach((m, i) => {
    const dest = obj(m).destination;
    const first = destinations.get(dest);
    if (typeof dest === 'string' && first !== undefined) add(['mounts', i, 'destination'], `is already the destination of ${at(['mounts', first])}`);
    else destinations.set(dest, i);
    // fly's rule: a machine mounts one volume.
    if (i === 1) add(['mounts', i], 'a machine mounts one volume (as on fly): keep one [mounts]');
  });
  return issues;
}

// ---- the normalized config -----------------------------------------------------------------------

/**
 * Keys the schema takes that nothing applies yet: a warning each (never silence), ending "ignored"
 * like the fly-only keys, so `config validate` and `starling deploy` say so. Each is removed from
 * here when its key is applied (issue 17's work: TCP/UDP at the edge, PROXY protocol; issue 20's:
 * volumes, now mounted).
 */
function notApplied(d: ParsedDocument, at: (p: readonly PropertyKey[]) => string, warnings: ConfigIssue[]): void {
  const warn = (path: readonly PropertyKey[], message: string): void => void warnings.push({ path: at(path), message });
  d.services.forEach((s, i) => {
    if (s.protocol === 'udp') return; // a UDP service at the edge (proxy/udp)
    s.ports.forEach((p, j) => {
      const ports = p.port !== undefined ? `port ${p.port}` : `ports ${p.start_port ?? '?'}-${p.end_port ?? '?'}`;
      // Without "http" the port is a TCP service at the edge (proxy/tcp): every handler is applied.
      if (!p.handlers.includes('http')) {
        if (p.force_https) warn(['services', i, 'ports', j, 'force_https'], 'redirects HTTP requests, and this port is raw TCP (no "http" handler); ignored');
        return;
      }
      if (p.handlers.includes('proxy_proto')) warn(['services', i, 'ports', j, 'handlers'], 'a PROXY header is sent on TCP ports (without "http") only: an HTTP service gets the client address in Fly-Client-IP and X-Forwarded-For; ignored');
      else if (p.port !== 80 && p.port !== 443) warn(['services', i, 'ports', j], `the edge serves HTTP on ports 80 and 443 (with [proxy] tls_listen) only, not on ${ports}; ignored`);
      if (p.tls_options?.alpn !== undefined) warn(['services', i, 'ports', j, 'tls_options', 'alpn'], 'the edge offers h2 and http/1.1 on its HTTPS port; ignored');
    });
  });
  d.statics.forEach((s, i) => {
    if (s.tigris_bucket !== undefined) warn(['statics', i, 'tigris_bucket'], 'Tigris buckets are not supported: this mapping is not served (files in the image are, without tigris_bucket); ignored');
  });
}

function normalize(d: ParsedDocument, at: (p: readonly PropertyKey[]) => string, warnings: ConfigIssue[]): AppConfig {
  notApplied(d, at, warnings);
  type Check = { grace_period?: number | undefined; interval?: number | undefined; timeout?: number | undefined; method?: string | undefined; path?: string | undefined };
  const check = (type: 'http' | 'tcp', c: Check, port: number): CheckConfig => ({
    type,
    port,
    ...(type === 'http' ? { method: c.method ?? 'GET', path: c.path ?? '/' } : {}),
    grace_period_ms: c.grace_period ?? CHECK_DEFAULTS.grace_period_ms,
    interval_ms: c.interval ?? CHECK_DEFAULTS.interval_ms,
    timeout_ms: c.timeout ?? CHECK_DEFAULTS.timeout_ms,
  });
  type Scaling = Pick<ParsedDocument['services'][number], 'concurrency' | 'auto_stop_machines' | 'auto_start_machines' | 'min_machines_running'>;
  // soft_limit defaults to 20, or to hard_limit when that is lower (fly files often set only hard_limit).
  const scaling = ({ concurrency: { type, soft_limit, hard_limit }, ...s }: Scaling) => ({
    concurrency: { type, soft_limit: soft_limit ?? Math.min(20, hard_limit ?? 20), ...(hard_limit !== undefined ? { hard_limit } : {}) },
    auto_stop_machines: s.auto_stop_machines,
    auto_start_machines: s.auto_start_machines,
    min_machines_running: s.min_machines_running,
  });
  const hs = d.http_service;
  const services: ServiceConfig[] = d.services.map((s, i) => ({
    source: at(['services', i]),
    protocol: s.protocol,
    internal_port: s.internal_port,
    ports: s.ports.map((p) => ({
      start_port: (p.port ?? p.start_port)!,
      end_port: (p.port ?? p.end_port)!,
      handlers: p.handlers,
      force_https: p.force_https,
      ...(p.tls_options?.alpn !== undefined && !p.handlers.includes('http') ? { alpn: p.tls_options.alpn } : {}),
      ...(p.proxy_proto_options !== undefined && !p.handlers.includes('http') ? { proxy_proto_version: p.proxy_proto_options.version } : {}),
    })),
    ...scaling(s),
    checks: [...s.tcp_checks.map((c) => check('tcp', c, s.internal_port)), ...s.http_checks.map((c) => check('http', c, s.internal_port))],
    ...groupsOf(s.processes),
  }));
  if (hs) {
    services.unshift({
      source: 'http_service',
      protocol: 'tcp',
      internal_port: hs.internal_port,
      ports: [
        { start_port: 80, end_port: 80, handlers: ['http'], force_https: hs.force_https },
        { start_port: 443, end_port: 443, handlers: ['http', 'tls'], force_https: false },
      ],
      ...scaling(hs),
      checks: hs.checks.map((c) => check('http', c, hs.internal_port)),
      ...(hs.http_options.h2_backend ? { h2_backend: true } : {}),
      ...(hs.http_options.idle_timeout !== undefined ? { idle_timeout_s: hs.http_options.idle_timeout } : {}),
      ...(hs.http_options.response.headers !== undefined && Object.keys(hs.http_options.response.headers).length > 0
        ? { response_headers: Object.fromEntries(Object.entries(hs.http_options.response.headers).map(([k, v]) => [k, v === false ? null : v])) }
        : {}),
      ...groupsOf(hs.processes),
    });
  }

  const env = { ...d.env };
  if (d.primary_region !== undefined) {
    if (env.PRIMARY_REGION !== undefined && env.PRIMARY_REGION !== d.primary_region) {
      warnings.push({ path: 'env.PRIMARY_REGION', message: `is replaced by primary_region ("${d.primary_region}") in the machines' environment` });
    }
    env.PRIMARY_REGION = d.primary_region;
  }
  const processes = processGroups(d);
  const main = defaultGroupOf(processes);
  return {
    app: d.app,
    ...(d.primary_region !== undefined ? { primary_region: d.primary_region } : {}),
    kill_signal: d.kill_signal ?? 'SIGINT',
    kill_signal_set: d.kill_signal !== undefined,
    kill_timeout_ms: d.kill_timeout ?? 5_000,
    env,
    build: buildConfig(d.build),
    overrides: {
      ...(d.experimental?.entrypoint ? { entrypoint: d.experimental.entrypoint } : {}),
      ...(d.experimental?.cmd ? { cmd: d.experimental.cmd } : {}),
    },
    ...(d.experimental?.cmd || d.experimental?.entrypoint
      ? { cmd: [...(d.experimental.entrypoint ?? []), ...(d.experimental.cmd ?? [])] }
      : {}),
    services,
    deploy: {
      strategy: d.deploy.strategy,
      max_unavailable: d.deploy.max_unavailable,
      ...(d.deploy.release_command !== undefined ? { release_command: commandWords(d.deploy.release_command) } : {}),
      release_command_timeout_ms: d.deploy.release_command_timeout ?? DEFAULT_RELEASE_COMMAND_TIMEOUT_MS,
    },
    processes,
    vm: main.vm,
    mounts: d.mounts.map((m) => ({ source: m.source, destination: m.destination, initial_size_gb: m.initial_size ?? 1 })),
    restart: main.restart,
    statics: d.statics.filter((s) => s.tigris_bucket === undefined).map(({ tigris_bucket: _, ...s }) => s),
    files: d.files.map((f) => ({
      guest_path: f.guest_path,
      ...(f.raw_value !== undefined ? { raw_value: f.raw_value } : {}),
      ...(f.local_path !== undefined ? { local_path: f.local_path } : {}),
      ...(f.secret_name !== undefined ? { secret_name: f.secret_name } : {}),
      ...groupsOf(f.processes),
    })),
  };
}

/** The schema checked that it splits. */
/** [build], with fly's two spellings of build-target made one. */
export interface BuildConfig {
  image?: string;
  dockerfile?: string;
  ignorefile?: string;
  target?: string;
  args?: Record<string, string>;
}

function buildConfig(b: { image?: string | undefined; dockerfile?: string | undefined; ignorefile?: string | undefined; 'build-target'?: string | undefined; build_target?: string | undefined; args?: Record<string, string> | undefined }): BuildConfig {
  const target = b['build-target'] ?? b.build_target;
  return {
    ...(b.image !== undefined ? { image: b.image } : {}),
    ...(b.dockerfile !== undefined ? { dockerfile: b.dockerfile } : {}),
    ...(b.ignorefile !== undefined ? { ignorefile: b.ignorefile } : {}),
    ...(target !== undefined ? { target } : {}),
    ...(b.args !== undefined ? { args: b.args } : {}),
  };
}
