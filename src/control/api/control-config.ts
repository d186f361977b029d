/**
 * `control.toml`, the control plane's static config, and the API token file. Zod (strict) checks
 * it; every problem is reported at once with its key path. See docs/control-api.md.
 */
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { isIP } from 'node:net';
import { APPS_DOMAIN_RE, DEFAULT_APPS_DOMAIN, DEFAULT_MAX_IMAGE_BYTES, HOST_PORT_RULE, parseDuration, parseHostPort } from '../../contract/index.js';
import { readToml, ConfigIssuesError, fromZod, loadOrCreateTokenFile, readConfigText, type Logger, type SchemaIssue } from '../../shared/index.js';
import { checkPrivatePrefix, DEFAULT_PRIVATE_PREFIX } from '../../mesh/index.js';

export const DEFAULT_STATE = '/var/lib/starling/control/state.db';
export const DEFAULT_LISTEN = '127.0.0.1:9300';

export interface ControlConfig {
  listen: { host: string; port: number };
  /** SQLite database file. */
  state: string;
  /** The platform operator's bearer token file, created (0600) when missing. Default: next to `state`, `api.token`. */
  token_file: string;
  /** The metrics scraper's bearer token file (reads /metrics only), created (0600) when missing. Default: next to `state`, `metrics.token`. */
  metrics_token_file: string;
  /** Uploaded images (content-addressed .tar.gz files). Default: next to `state`, `images/`. */
  images_dir: string;
  /** Seconds without hearing from a host before it is marked down. */
  host_timeout_s: number;
  /** AES-256-GCM key file, created (0600) when missing. Default: next to `state`, `secrets.key`. */
  secrets_key_file: string;
  /**
   * HTTPS, on by default: the operator's certificate (cert_file + key_file), or a self-signed one
   * made at first start (tls.crt / tls.key next to `state`), which clients pin. `enabled = false`
   * serves plain HTTP (for loopback, or behind a TLS-terminating proxy).
   */
  tls: { enabled: boolean; cert_file: string; key_file: string; self_signed: boolean };
  limits: ControlLimitsConfig;
  /** Apps are served at `<app>.<apps_domain>`: the agents' apps_domain, told to the CLI (deploy prints the URLs). */
  apps_domain: string;
  /** The platform's anycast addresses: `certs show` tells a custom domain's owner to point A/AAAA at them. */
  anycast_addresses: string[];
  /** How `<app>.<apps_domain>` is covered: one ACME certificate per app, or one imported/DNS-01 wildcard. */
  certificates: { apps: 'per-app' | 'wildcard' };
  /** The platform's ACME CA; absent: nothing is ordered (imports only). */
  acme: AcmeConfig | undefined;
  /** The private network (docs/private-network.md): its unique local /16. */
  network: { private_prefix: string };
}

export interface AcmeConfig {
  directory_url: string;
  email: string | undefined;
  /** PEM CA bundle to trust for the directory's HTTPS (a test CA such as Pebble's). */
  ca_file: string | undefined;
  challenges: ('tls-alpn-01' | 'http-01' | 'dns-01')[];
  /** DNS-01 through RFC 2136 updates to the operator's DNS server (docs/dns-01.md); wildcards need it. */
  dns01: { server: string; zone: string | undefined; key_name: string; algorithm: 'hmac-sha256' | 'hmac-sha512'; secret_file: string } | undefined;
  /** ms: the first retry after a failed order, doubling up to retry_max. */
  retry_initial: number;
  retry_max: number;
}

export interface ControlLimitsConfig {
  max_connections: number;
  max_connections_per_ip: number;
  requests_per_second: number;
  burst: number;
  /** The largest image upload taken, in bytes. */
  max_image_bytes: number;
}

const hostPort = z.string().transform((s, ctx) => {
  const hp = parseHostPort(s);
  if (!hp) {
    ctx.addIssue({ code: 'custom', message: `${HOST_PORT_RULE}, e.g. ${DEFAULT_LISTEN}` });
    return z.NEVER;
  }
  return hp;
});
const path = z.string().min(1, 'must not be empty');
const duration = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const ms = parseDuration(v);
  if (ms === undefined || ms < 1000 || ms > 7 * 86_400_000) {
    ctx.addIssue({ code: 'custom', message: 'must be a duration from 1s to 7 days, such as "30s", "1m" or "6h"' });
    return z.NEVER;
  }
  return ms;
});

const count = (min: number, max: number): z.ZodNumber => z.number().int('must be a whole number').min(min, `must be from ${min} to ${max}`).max(max, `must be from ${min} to ${max}`);

const Schema = z.strictObject({
  listen: hostPort.prefault(DEFAULT_LISTEN),
  state: path.default(DEFAULT_STATE),
  token_file: path.optional(),
  metrics_token_file: path.optional(),
  images_dir: path.optional(),
  host_timeout_s: z.number().int('must be a whole number of seconds').min(5, 'must be at least 5 (agents poll every 25 s but hold the poll open)').max(3600).default(75),
  secrets_key_file: path.optional(),
  tls: z
    .strictObject({ enabled: z.boolean().default(true), cert_file: path.optional(), key_file: path.optional() })
    .refine((t) => (t.cert_file === undefined) === (t.key_file === undefined), { message: 'give both cert_file and key_file, or neither (a self-signed certificate is made)', path: ['cert_file'] })
    .prefault({}),
  limits: z
    .strictObject({
      max_connections: count(16, 1_000_000).default(4096),
      max_connections_per_ip: count(1, 1_000_000).default(256),
      requests_per_second: z.number().positive('must be above 0').max(100_000).default(50),
      burst: count(1, 1_000_000).default(200),
      max_image_bytes: count(1024, 64 * 2 ** 30).default(DEFAULT_MAX_IMAGE_BYTES),
    })
    .refine((l) => l.max_connections_per_ip <= l.max_connections, { message: 'must not be above max_connections', path: ['max_connections_per_ip'] })
    .prefault({}),
  apps_domain: z.string().regex(APPS_DOMAIN_RE, 'must be a lower-case DNS name such as "starling.test"').default(DEFAULT_APPS_DOMAIN),
  anycast_addresses: z.array(z.string().refine((a) => isIP(a) !== 0, 'must be an IPv4 or IPv6 address')).default([]),
  certificates: z.strictObject({ apps: z.enum(['per-app', 'wildcard']).default('per-app') }).prefault({}),
  network: z
    .strictObject({
      private_prefix: z
        .string()
        .superRefine((p, c) => {
          const why = checkPrivatePrefix(p);
          if (why) c.addIssue({ code: 'custom', message: why });
        })
        .default(DEFAULT_PRIVATE_PREFIX),
    })
    .prefault({}),
  acme: z
    .strictObject({
      directory_url: z.url({ protocol: /^https?$/, error: 'must be the http(s) URL of an ACME directory' }),
      email: z.email('must be an email address').optional(),
      ca_file: path.optional(),
      challenges: z.array(z.enum(['tls-alpn-01', 'http-01', 'dns-01'])).min(1, 'name at least one challenge').optional(),
      retry_initial: duration.default(60_000),
      retry_max: duration.default(6 * 3600_000),
      dns01: z
        .strictObject({
          server: z.string().regex(/^[^\s:]+(:\d{1,5})?$|^\[[0-9a-fA-F:.]+\](:\d{1,5})?$/, 'must be HOST or HOST:PORT of the DNS server that takes updates'),
          zone: z.string().min(1).optional(),
          key_name: z.string().min(1, 'must name the TSIG key'),
          algorithm: z.enum(['hmac-sha256', 'hmac-sha512']).default('hmac-sha256'),
          secret_file: path,
        })
        .optional(),
    })
    .refine((a) => !a.challenges?.includes('dns-01') || a.dns01 !== undefined, { message: 'dns-01 needs [acme.dns01] (the DNS server, zone and TSIG key)', path: ['challenges'] })
    .optional(),
});

/** Keys of earlier releases, and what replaced them: reported as issues with the way forward. */
const REMOVED: Record<string, string> = {
  agent_token_file: 'is no longer used: each host joins with its own credential (starling hosts add NAME --region R prints a one-time join token); remove the key',
};

export class ControlConfigError extends ConfigIssuesError {
  constructor(source: string, issues: SchemaIssue[], cause?: unknown) {
    super('ERR_CONTROL_CONFIG', source, issues, 'docs/control-api.md lists every key of control.toml', cause);
  }
}

export function parseControlConfig(text: string, source: string): ControlConfig {
  const toml = readToml(text);
  if (!toml.ok) throw new ControlConfigError(source, [toml.issue], toml.cause);
  const doc: Record<string, unknown> = { ...(toml.doc as Record<string, unknown>) };
  const removed: SchemaIssue[] = [];
  for (const [key, message] of Object.entries(REMOVED)) {
    if (!(key in doc)) continue;
    removed.push({ path: key, message });
    delete doc[key];
  }
  const result = Schema.safeParse(doc);
  const issues = [...removed, ...(result.success ? [] : fromZod(result.error))];
  if (!result.success || issues.length > 0) throw new ControlConfigError(source, issues);
  const { listen, state, token_file, metrics_token_file, images_dir, secrets_key_file, host_timeout_s, tls, limits, apps_domain, anycast_addresses, certificates, network, acme } = result.data;
  const dir = dirname(state);
  return {
    listen,
    state,
    token_file: token_file ?? join(dir, 'api.token'),
    metrics_token_file: metrics_token_file ?? join(dir, 'metrics.token'),
    images_dir: images_dir ?? join(dir, 'images'),
    host_timeout_s,
    secrets_key_file: secrets_key_file ?? join(dir, 'secrets.key'),
    tls: { enabled: tls.enabled, cert_file: tls.cert_file ?? join(dir, 'tls.crt'), key_file: tls.key_file ?? join(dir, 'tls.key'), self_signed: tls.cert_file === undefined },
    limits,
    apps_domain,
    anycast_addresses,
    certificates,
    network,
    acme: acme && {
      directory_url: acme.directory_url,
      email: acme.email,
      ca_file: acme.ca_file,
      // DNS-01 last: it needs a DNS update per order, the others only an answer on the feed.
      challenges: acme.challenges ?? ['tls-alpn-01', 'http-01', ...(acme.dns01 ? (['dns-01'] as const) : [])],
      retry_initial: acme.retry_initial,
      retry_max: acme.retry_max,
      dns01: acme.dns01 && { ...acme.dns01, zone: acme.dns01.zone },
    },
  };
}

export async function loadControlConfig(file: string): Promise<ControlConfig> {
  const text = await readConfigText(file, { code: 'ERR_CONTROL_CONFIG_READ', what: 'control config', hint: 'check the path given with --config' });
  return parseControlConfig(text, file);
}

/** The platform operator's bearer token: read from token_file, or created there (0600) on first start. */
export function loadOrCreateControlToken(path: string, logger: Logger): Promise<string> {
  return loadOrCreateTokenFile(path, logger, { code: 'ERR_CONTROL_TOKEN', who: 'control plane' });
}
