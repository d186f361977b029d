import { z } from 'zod';
import type { SchemaIssue } from '../shared/index.js';
import { splitCommandWords } from './command-words.js';
import { parseDuration } from './duration.js';
import { staticMapping, staticsList } from './statics.js';
import { idleTimeoutSeconds } from './http-options.js';
import { APP_NAME_RE, APP_NAME_RULE, BASE64_RE, HEADER_NAME_RE, PROCESS_GROUP_RE, PROCESS_GROUP_RULE, RESERVED_RESPONSE_FIELDS, SECRET_NAME_RE } from './names.js';

export { parseDuration };

/**
 * The app config's schema (`starling.toml`, the fly.toml subset in docs/app-config.md), the value
 * parsers it shares with app-config.ts, and `prepare`, which the schema runs after: it takes out the
 * keys fly has and Starling does not (warnings, see FLY_ONLY) and turns sections fly accepts as one
 * table or many into arrays. What is left and unknown is an error. Defaults that depend on other
 * keys are applied in app-config.ts.
 */

export const KILL_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGKILL', 'SIGHUP'] as const;
export const HANDLERS = ['http', 'tls', 'pg_tls', 'proxy_proto'] as const;
export const STRATEGIES = ['rolling', 'immediate', 'canary', 'bluegreen'] as const;

const SIZE = /^(\d+(?:\.\d+)?)\s*([kmgt])?(?:i?b)?$/i;
const UNIT_MB: Record<string, number> = { k: 1 / 1024, m: 1, g: 1024, t: 1024 * 1024 };

/**
 * A size as fly writes it ("256mb", "1gb", "1GB") → megabytes, binary units as fly uses them
 * ("1gb" is 1024 MB); a bare number is in `bare` units. Undefined when it is not a size.
 */
export function parseSizeMb(v: unknown, bare: 'mb' | 'gb'): number | undefined {
  const perBare = bare === 'mb' ? 1 : 1024;
  if (typeof v === 'number') return Number.isFinite(v) && v > 0 ? v * perBare : undefined;
  const m = typeof v === 'string' ? SIZE.exec(v.trim()) : null;
  if (!m) return undefined;
  const mb = Number(m[1]) * (m[2] ? UNIT_MB[m[2].toLowerCase()]! : perBare);
  return mb > 0 ? mb : undefined;
}

const DURATION_HINT = 'must be a duration such as "10s", "1m30s" or "500ms", or a number of seconds';
const duration = z.unknown().transform((v, ctx) => {
  const ms = parseDuration(v);
  if (ms !== undefined) return ms;
  ctx.addIssue({ code: 'custom', message: DURATION_HINT });
  return z.NEVER;
});

const int = (lo: number, hi: number, unit = '') =>
  z.number().int('must be a whole number').min(lo, `must be from ${lo} to ${hi}${unit}`).max(hi, `must be from ${lo} to ${hi}${unit}`);
const port = z.number().int('must be a port number from 1 to 65535').min(1, 'must be a port number from 1 to 65535').max(65535, 'must be a port number from 1 to 65535');
const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: (i) => `${JSON.stringify(i.input)} is not one of ${values.map((v) => `"${v}"`).join(', ')}` });

/** `processes = ["web"]` on a service, [[vm]] or [[restart]]: the groups it is for (crossCheck: each one in [processes]). */
const groupName = z.string().regex(PROCESS_GROUP_RE, PROCESS_GROUP_RULE);
const groups = z.array(groupName).max(64, 'must name at most 64 groups').optional();

// A command written as one string, split as flyctl splits it (command-words.ts): an unclosed quote
// is said here, not on a host. "" is no command (the image's CMD, for a process group).
const commandString = z.string().trim().superRefine((v, ctx) => {
  const words = v === '' ? undefined : splitCommandWords(v);
  if (words && !words.ok) ctx.addIssue({ code: 'custom', message: words.reason });
});

const memoryMb = z.unknown().transform((v, ctx) => {
  const mb = parseSizeMb(v, 'mb');
  if (mb !== undefined && Number.isInteger(mb) && mb >= 16 && mb <= 1 << 20) return mb;
  ctx.addIssue({ code: 'custom', message: 'must be a size such as "256mb" or "1gb", or a number of megabytes (whole MB, 16 MB to 1 TB)' });
  return z.NEVER;
});
const sizeGb = z.unknown().transform((v, ctx) => {
  const mb = parseSizeMb(v, 'gb');
  if (mb !== undefined && Number.isInteger(mb / 1024) && mb >= 1024) return mb / 1024;
  ctx.addIssue({ code: 'custom', message: 'must be a whole number of gigabytes, such as "10gb" or 10' });
  return z.NEVER;
});

const checkTimes = { grace_period: duration.optional(), interval: duration.optional(), timeout: duration.optional() };
const tcpCheck = z.strictObject(checkTimes);
const httpCheck = z.strictObject({
  ...checkTimes,
  // fly.toml files say "get" as often as "GET".
  method: z.string().regex(/^[A-Za-z]{1,16}$/, 'must be an HTTP method such as "GET"').transform((m) => m.toUpperCase()).optional(),
  path: z.string().regex(/^\/\S*$/, 'must start with "/" and hold no spaces').optional(),
});

const concurrency = z
  .strictObject({
    type: oneOf(['connections', 'requests']).default('connections'),
    soft_limit: int(1, 1_000_000).optional(),
    hard_limit: int(1, 1_000_000).optional(),
  })
  .prefault({});

// fly.toml names and defaults; fly accepts booleans for auto_stop_machines (true is "stop").
const autoscaling = {
  auto_stop_machines: z
    .union([z.enum(['off', 'stop', 'suspend']), z.boolean()], { error: 'must be "off", "stop", "suspend", true or false' })
    .default('off')
    .transform((v) => (v === true ? 'stop' : v === false ? 'off' : v)),
  auto_start_machines: z.boolean().default(true),
  min_machines_running: int(0, 10_000).default(0),
};

// fly's [http_service.http_options.response.headers]: a value sets the field, false removes the machine's.
const responseHeaders = z
  .record(
    z
      .string()
      .transform((n) => n.toLowerCase())
      .pipe(
        z
          .string()
          .regex(HEADER_NAME_RE, 'is not a header name')
          .refine((n) => !RESERVED_RESPONSE_FIELDS.has(n), 'is set by the proxy (framing, hop-by-hop or its own): an app cannot set it'),
      ),
    z.union([z.string().max(4096, 'must be at most 4096 characters').regex(/^[^\r\n\0]*$/, 'must not hold CR, LF or NUL'), z.number().transform(String), z.literal(false)], {
      error: 'must be a string (the value) or false (removes the field)',
    }),
  )
  .optional();

const httpService = z.strictObject({
  internal_port: port.default(8080),
  force_https: z.boolean().default(false),
  http_options: z
    .strictObject({
      h2_backend: z.boolean().default(false),
      idle_timeout: idleTimeoutSeconds.optional(),
      response: z.strictObject({ headers: responseHeaders }).prefault({}),
    })
    .prefault({}),
  ...autoscaling,
  concurrency,
  checks: z.array(httpCheck).default([]),
  processes: groups,
});

// ALPN protocol ids (RFC 7301): 1-255 bytes; printable ASCII is what anyone uses (h2, redis, postgresql).
const alpnId = z.string().regex(/^[\x21-\x7e]{1,255}$/, 'must be an ALPN protocol id: 1-255 printable ASCII characters, like "h2"');

const servicePort = z.strictObject({
  port: port.optional(),
  start_port: port.optional(),
  end_port: port.optional(),
  handlers: z.array(oneOf(HANDLERS)).default([]),
  force_https: z.boolean().default(false),
  tls_options: z.strictObject({ alpn: z.array(alpnId).optional() }).optional(),
  proxy_proto_options: z.strictObject({ version: oneOf(['v1', 'v2']).default('v1') }).optional(),
});

const service = z.strictObject({
  protocol: oneOf(['tcp', 'udp']).default('tcp'),
  internal_port: port,
  ...autoscaling,
  concurrency,
  ports: z.array(servicePort).default([]),
  tcp_checks: z.array(tcpCheck).default([]),
  http_checks: z.array(httpCheck).default([]),
  processes: groups,
});

const vm = z.strictObject({
  memory: memoryMb.optional(),
  memory_mb: int(16, 1 << 20, ' MB').optional(),
  cpus: z.number().positive('must be more than 0').max(64, 'must be at most 64').optional(),
  cpu_kind: oneOf(['shared', 'performance']).optional(),
  processes: groups,
});

const mount = z.strictObject({
  source: z.string().regex(/^[a-z0-9][a-z0-9_]{0,29}$/, 'must be a volume name: 1-30 characters of a-z, 0-9 and "_"'),
  destination: z
    .string()
    .refine((p) => p.startsWith('/') && p !== '/' && !p.split('/').some((s) => s === '.' || s === '..'), 'must be an absolute path other than "/", without "." or ".."'),
  initial_size: sizeGb.optional(),
});

// fly's [[files]]: one of raw_value (base64), local_path (read by `starling deploy`, which puts
// raw_value in its place) or secret_name (the app secret, base64, decoded on the host).
const file = z
  .strictObject({
    guest_path: z
      .string()
      .refine((p) => p.startsWith('/') && p !== '/' && !p.endsWith('/') && !p.split('/').some((s) => s === '.' || s === '..'), 'must be an absolute file path, without "." or ".."'),
    raw_value: z.string().max(1_400_000, 'must be at most 1 MiB once decoded').regex(BASE64_RE, 'must be base64').optional(),
    local_path: z.string().min(1, 'must not be empty').optional(),
    secret_name: z.string().regex(SECRET_NAME_RE, 'must be a secret name (letters, digits and _, not starting with a digit, at most 128)').optional(),
    processes: groups,
  })
  .refine((f) => [f.raw_value, f.local_path, f.secret_name].filter((v) => v !== undefined).length === 1, 'needs exactly one of raw_value, local_path and secret_name');

const restart = z.strictObject({
  // fly-go spells "never" as "no".
  policy: oneOf(['always', 'never', 'on-failure', 'no']).default('on-failure').transform((p) => (p === 'no' ? 'never' : p)),
  retries: int(0, 1000).optional(),
  processes: groups,
});

export const AppConfigSchema = z.strictObject({
  app: z.string({ error: (i) => (i.input === undefined ? 'is required: the app\'s name, e.g. app = "hello"' : 'must be a string') }).regex(APP_NAME_RE, APP_NAME_RULE),
  primary_region: z.string().regex(/^[a-z]{3}$/, 'must be a three-letter lowercase region code, like "fra"').optional(),
  // Unset: the image's STOPSIGNAL, else SIGINT (fly's default).
  kill_signal: oneOf(KILL_SIGNALS).optional(),
  kill_timeout: duration.optional(),
  // fly turns numbers and booleans in [env] into strings; so does Starling.
  env: z
    .record(
      z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'is not a valid environment variable name'),
      z.union([z.string(), z.number(), z.boolean()], { error: 'must be a string, number or boolean' }).transform(String),
    )
    .default({}),
  // fly's [processes]: group name → its machines' command, in place of the image's CMD ("": the CMD).
  processes: z.record(groupName, commandString).optional(),
  // fly's [build]: a prepared image, or a Dockerfile that `starling deploy` builds with buildah.
  build: z
    .strictObject({
      image: z.string().min(1, 'must not be empty').optional(),
      dockerfile: z.string().min(1, 'must not be empty').optional(),
      ignorefile: z.string().min(1, 'must not be empty').optional(),
      'build-target': z.string().min(1, 'must not be empty').optional(),
      build_target: z.string().min(1, 'must not be empty').optional(),
      args: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'is not a valid build argument name'), z.union([z.string(), z.number(), z.boolean()]).transform(String)).optional(),
    })
    .refine((b) => !(b.image !== undefined && b.dockerfile !== undefined), 'image and dockerfile are two ways to get the image: keep one')
    .prefault({}),
  // fly's way to override the image's ENTRYPOINT and CMD (for a quick-start directory image, what
  // to run on the host's runtime: without them, node server.js).
  experimental: z
    .strictObject({
      cmd: z.array(z.string().min(1, 'must not be empty')).min(1, 'must name the program').max(256).optional(),
      entrypoint: z.array(z.string().min(1, 'must not be empty')).max(256).optional(),
    })
    .optional(),
  http_service: httpService.optional(),
  services: z.array(service).default([]),
  deploy: z
    .strictObject({
      strategy: oneOf(STRATEGIES).default('rolling'),
      // flyctl: below 1 it is a fraction of the machines (rounded up), from 1 a number of machines.
      max_unavailable: z
        .number()
        .positive('must be more than 0')
        .refine((n) => n < 1 || Number.isInteger(n), 'must be a fraction below 1 (of the machines) or a whole number of machines')
        .default(0.33),
      release_command: z.string().trim().min(1, 'must not be empty').pipe(commandString).optional(),
      release_command_timeout: duration
        .refine((ms) => ms >= 1000 && ms <= 86_400_000, 'must be from 1s to 24h')
        .optional(),
    })
    .prefault({}),
  vm: z.array(vm).default([]),
  mounts: z.array(mount).default([]),
  restart: z.array(restart).default([]),
  files: z.array(file).default([]),
  statics: staticsList(staticMapping.extend({ tigris_bucket: z.string().min(1, 'must not be empty').optional() })).default([]),
});

/**
 * Keys fly.toml has that Starling does not support yet, by where they sit (`[]`: any entry of an
 * array of tables), with what happens instead. They are reported as warnings and ignored, so a
 * real fly.toml is accepted as it is. From flyctl's internal/appconfig (Config and its sections).
 */
const FLY_ONLY: readonly [string, readonly string[], string][] = [
  ['', ['swap_size_mb', 'console_command', 'host_dedication_id', 'machine_config', 'container'], 'not supported by Starling yet; ignored'],
  ['experimental', ['auto_rollback', 'enable_consul', 'enable_etcd', 'lazy_load_images', 'attached', 'machine_config', 'exec', 'private_network', 'allowed_public_ports'],
    'only experimental.cmd and experimental.entrypoint are supported; ignored'],
  ['', ['metrics'], 'app metrics are not scraped yet; ignored'],
  ['', ['checks', 'machine_checks'], 'top-level checks are not supported yet (use [[http_service.checks]] or services checks); ignored'],
  ['build', ['builder', 'buildpacks', 'settings', 'builtin'],
    'Starling builds images from a Dockerfile only (buildah): set [build] dockerfile or image; ignored'],
  ['deploy', ['wait_timeout', 'release_command_vm', 'seed_command'], 'not supported by Starling yet; ignored'],
  ['http_service', ['tls_options', 'machine_checks'], 'not supported by Starling yet; ignored'],
  ['http_service.http_options', ['compress'], 'not applied yet: the proxy does not compress responses; ignored'],
  ['http_service.http_options.response', ['pristine'], 'not applied yet: the proxy always adds its own fields; ignored'],
  ['services[]', ['machine_checks', 'script_checks'], 'not supported by Starling yet; ignored'],
  ['services[].ports[]', ['http_options'], 'not supported by Starling yet; ignored'],
  ['services[].ports[].tls_options', ['versions', 'default_self_signed'], 'the edge offers TLS 1.2 and 1.3 with the platform\'s certificates; ignored'],
  ['services[].tcp_checks[]', ['restart_limit'], 'a fly V1 option; ignored'],
  ['services[].http_checks[]', ['restart_limit'], 'a fly V1 option; ignored'],
  ['services[].http_checks[]', ['protocol', 'tls_skip_verify', 'tls_server_name', 'headers'], 'checks are plain HTTP GETs without extra headers for now; ignored'],
  ['http_service.checks[]', ['protocol', 'tls_skip_verify', 'tls_server_name', 'headers'], 'checks are plain HTTP without extra headers for now; ignored'],
  ['vm[]', ['size'], 'VM size presets are not supported: set cpus and memory; ignored'],
  ['vm[]', ['gpus', 'gpu_kind', 'kernel_args', 'host_dedication_id', 'persist_rootfs'], 'not supported by Starling yet; ignored'],
  ['mounts[]', ['snapshot_retention', 'scheduled_snapshots', 'auto_extend_size_threshold', 'auto_extend_size_increment', 'auto_extend_size_limit'],
    'volume snapshots and auto-extension are not supported yet; ignored'],
  ['mounts[]', ['processes'], 'every process group of the app mounts the volume; ignored'],
];

/** `pattern` (`services[].ports[].tls_options`) → why it is ignored (docs/fly-toml.md lists them all). */
export const UNSUPPORTED: ReadonlyMap<string, string> = new Map(
  FLY_ONLY.flatMap(([at, keys, why]) => keys.map((k) => [at === '' ? k : `${at}.${k}`, why] as const)),
);

/** Sections fly accepts as one table or as an array of tables (`[mounts]` or `[[mounts]]`). */
const ONE_OR_MANY: ReadonlySet<string> = new Set([
  'vm', 'mounts', 'services', 'restart', 'services[].ports', 'services[].tcp_checks', 'services[].http_checks', 'http_service.checks',
]);

export type ParsedDocument = z.output<typeof AppConfigSchema>;

interface Def {
  _zod: { def: { type: string; innerType?: Def; in?: Def; element?: Def; shape?: Record<string, Def> } };
}

/** The keys the schema allows at `path` of the document (for "did you mean" on an unknown key). */
export function allowedKeys(path: readonly PropertyKey[]): string[] {
  let s = AppConfigSchema as unknown as Def | undefined;
  const unwrap = (): void => {
    while (s && (s._zod.def.innerType || s._zod.def.type === 'pipe')) s = s._zod.def.innerType ?? s._zod.def.in;
  };
  for (const p of path) {
    unwrap();
    s = typeof p === 'number' ? s?._zod.def.element : s?._zod.def.shape?.[String(p)];
  }
  unwrap();
  return Object.keys(s?._zod.def.shape ?? {});
}

// ---- the document as fly writes it → the one the schema reads ------------------------------------

const isTable = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);

export function prepare(raw: Record<string, unknown>): { doc: Record<string, unknown>; warnings: SchemaIssue[]; wrapped: Set<string> } {
  const warnings: SchemaIssue[] = [];
  const wrapped = new Set<string>();
  const walk = (node: Record<string, unknown>, pattern: string, path: string): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(node)) {
      const p = pattern === '' ? key : `${pattern}.${key}`;
      const at = path === '' ? key : `${path}.${key}`;
      const why = UNSUPPORTED.get(p);
      if (why !== undefined) {
        warnings.push({ path: at, message: why });
        continue;
      }
      let v = value;
      if (ONE_OR_MANY.has(p) && isTable(v)) {
        v = [v];
        wrapped.add(at);
      }
      // [env] and [processes] hold the user's own names: nothing in them is fly's.
      const own = p === 'env' || p === 'processes';
      if (!own && Array.isArray(v)) v = v.map((e: unknown, i) => (isTable(e) ? walk(e, `${p}[]`, wrapped.has(at) ? at : `${at}[${i}]`) : e));
      else if (!own && isTable(v)) v = walk(v, p, at);
      out[key] = v;
    }
    return out;
  };
  return { doc: walk(raw, '', ''), warnings, wrapped };
}

/** `mounts[0].source`, or `mounts.source` when the file wrote one `[mounts]` table. */
export function displayPath(path: readonly PropertyKey[], wrapped: ReadonlySet<string>): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += p === 0 && wrapped.has(out) ? '' : `[${p}]`;
    else out += out === '' ? String(p) : `.${String(p)}`;
  }
  return out === '' ? '(top level)' : out;
}
