/**
 * The body of `POST /v1/apps/{app}/machines` checked: every problem at once, with where it is.
 */
import { z } from 'zod';
import { DURATION_RULE, parseDuration } from '../../contract/index.js';
import type { CheckSpec, CreateMachineRequest, RestartPolicy } from '../../runtime/index.js';
import { fromZod, isKnownRegion, type SchemaIssue } from '../../shared/index.js';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const CHECK_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const VOLUME_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const duration = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const ms = parseDuration(v);
  if (ms === undefined) ctx.addIssue({ code: 'custom', message: DURATION_RULE });
  return ms ?? 0;
});
const int = (lo: number, hi: number) => z.int(`must be an integer`).min(lo, `must be from ${lo} to ${hi}`).max(hi, `must be from ${lo} to ${hi}`);
const port = int(1, 65535);
const text = (max: number) => z.string().max(max, `must be at most ${max} characters`).refine((s) => !s.includes('\0'), 'must not contain NUL');
const named = <T extends z.ZodType>(re: RegExp, what: string, value: T) =>
  z.record(z.string().regex(re, `is not a valid ${what}`), value);

const check = z
  .strictObject({
    type: z.enum(['http', 'tcp']),
    port: port.optional(),
    method: z.string().regex(/^[A-Z]{1,16}$/, 'must be an HTTP method in capitals').optional(),
    path: z.string().regex(/^\/\S*$/, 'must start with "/" and hold no spaces').optional(),
    grace_period: duration.optional(),
    interval: duration.optional(),
    timeout: duration.optional(),
  })
  .transform((c): CheckSpec => ({
    type: c.type,
    port: c.port,
    method: c.type === 'http' ? (c.method ?? 'GET') : undefined,
    path: c.type === 'http' ? (c.path ?? '/') : undefined,
    grace_period_ms: c.grace_period ?? 1_000,
    interval_ms: c.interval ?? 15_000,
    timeout_ms: c.timeout ?? 2_000,
  }));

const machineConfig = z.strictObject({
  image: z.string().min(1, 'must not be empty').pipe(text(4096)),
  cmd: z.array(z.string().min(1, 'must not be empty').pipe(text(4096))).min(1, 'must hold at least the program').max(256).optional(),
  env: named(ENV_NAME, 'environment variable name', text(65536)).optional(),
  secrets: named(ENV_NAME, 'secret name (an environment variable name)', text(65536)).optional(),
  internal_port: port.optional(),
  guest: z
    .strictObject({ cpus: z.number().positive('must be > 0').max(64).exactOptional(), memory_mb: int(16, 1 << 20).exactOptional(), pids: int(1, 1 << 22).exactOptional() })
    .optional(),
  restart: z
    .strictObject({
      // fly spells "never" as "no".
      policy: z.enum(['always', 'never', 'on-failure', 'no']).transform((p): RestartPolicy => (p === 'no' ? 'never' : p)),
      max_retries: int(0, 1000).optional(),
    })
    .optional(),
  checks: named(CHECK_NAME, 'check name', check).optional(),
  mounts: z
    .array(z.strictObject({ volume: z.string().regex(VOLUME_NAME, 'must be a volume name'), path: z.string().refine(absolute, 'must be an absolute path without . or ..') }))
    .max(8)
    .optional(),
});

const createRequest = z.strictObject({
  region: z.string().optional(),
  config: machineConfig,
  skip_start: z.boolean().optional(),
}) satisfies z.ZodType<CreateMachineRequest>;

/** Checks a create request: the request, or every problem with where it is (`config.env.1X`). */
export function parseCreateMachineRequest(input: unknown): { request: CreateMachineRequest } | { issues: SchemaIssue[] } {
  const parsed = createRequest.safeParse(input);
  const issues: SchemaIssue[] = parsed.success ? [] : fromZod(parsed.error);
  // Cross-checks run on the raw input too, so they are reported with the schema's issues at once.
  const raw = (typeof input === 'object' && input !== null ? input : {}) as { region?: unknown; config?: { env?: unknown; secrets?: unknown; mounts?: unknown } };
  if (typeof raw.region === 'string' && !isKnownRegion(raw.region)) issues.push({ path: 'region', message: `unknown region "${raw.region.slice(0, 16)}"` });
  const env = raw.config?.env;
  const secrets = raw.config?.secrets;
  if (isObject(env) && isObject(secrets)) {
    for (const name of Object.keys(secrets)) {
      if (Object.hasOwn(env, name)) issues.push({ path: `config.secrets.${name}`, message: 'is also set in config.env: a name is either env or a secret' });
    }
  }
  if (Array.isArray(raw.config?.mounts)) {
    const seen = new Set<unknown>();
    raw.config.mounts.forEach((m: unknown, i) => {
      const path = isObject(m) ? m.path : undefined;
      if (seen.has(path)) issues.push({ path: `config.mounts[${i}].path`, message: 'is mounted twice' });
      seen.add(path);
    });
  }
  return parsed.success && issues.length === 0 ? { request: parsed.data } : { issues };
}

function absolute(p: string): boolean {
  return p.startsWith('/') && !p.split('/').some((seg) => seg === '.' || seg === '..') && !p.includes('\0');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
