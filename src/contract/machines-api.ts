/**
 * fly's Machines API shapes, spoken by both of Starling's Machines APIs: the agent's local one (one
 * host's machines, src/agent/admin) and the control plane's platform-wide one (src/control/api).
 * One place for what a machine object and a lease look like, the lease nonce header, and the
 * bodies and limits both accept (stop, lease, wait), so the two cannot drift.
 * fly: https://fly.io/docs/machines/api/machines-resource/
 */
import { z } from 'zod';
import { parseDuration } from './duration.js';
import { KILL_SIGNALS } from './app-config-schema.js';

/** fly's header, and our own twin. */
export const LEASE_NONCE_HEADERS = ['fly-machine-lease-nonce', 'starling-machine-lease-nonce'] as const;

/** The lease nonce a request carries (the first of the headers that is there). */
export function leaseNonceOf(headers: Readonly<Record<string, string | string[] | undefined>>): string | undefined {
  for (const name of LEASE_NONCE_HEADERS) {
    const v = headers[name];
    const first = Array.isArray(v) ? v[0] : v;
    if (first !== undefined) return first;
  }
  return undefined;
}

/** fly's kill_signal choices, plus SIGHUP. */
/** The signals a stop may send: the app config's kill_signal list (fly's). */
export const STOP_SIGNALS = KILL_SIGNALS;

/** `POST …/{id}/stop` (and `/suspend`): fly's `{ signal, timeout }`, both optional; no body is fine. */
export const StopMachineBody = z
  .strictObject({
    signal: z.enum(STOP_SIGNALS, { error: `must be one of ${STOP_SIGNALS.join(', ')}` }).optional(),
    timeout: z.union([z.number(), z.string()]).refine((v) => parseDuration(v) !== undefined, 'must be a duration such as "10s" or a number of seconds').optional(),
  })
  .optional();

/** `GET …/{id}/wait` waits this long at most, and by default (fly's limit). */
export const WAIT_MAX_S = 60;
/** `?timeout=` of wait: whole seconds from 1 to WAIT_MAX_S (a string, as query parameters are). */
export const waitTimeoutQuery = z
  .string()
  .regex(/^\d{1,4}$/, `must be whole seconds from 1 to ${WAIT_MAX_S}`)
  .transform(Number)
  .refine((n) => n >= 1 && n <= WAIT_MAX_S, `must be whole seconds from 1 to ${WAIT_MAX_S}`)
  .default(WAIT_MAX_S);

export const LEASE_TTL_DEFAULT_S = 30;
export const LEASE_TTL_MAX_S = 86_400;
const ttlRule = `must be whole seconds from 1 to ${LEASE_TTL_MAX_S}`;
/** `POST …/{id}/lease`: fly's `{ ttl, description }`. */
export const LeaseBody = z
  .strictObject({
    ttl: z.int(ttlRule).min(1, ttlRule).max(LEASE_TTL_MAX_S, ttlRule).optional(),
    description: z.string('must be a string').max(256, 'must be at most 256 characters').optional(),
  })
  .optional();

/** A held lease: `expiresAt` in epoch milliseconds (on the holder's clock). */
export interface Lease {
  nonce: string;
  expiresAt: number;
  description: string;
  /** Who took it (the control plane names the token; the local API has one token, so null). */
  owner: string | null;
}

/** fly's lease object: `expires_at` in Unix seconds. */
export function leaseView(l: Lease): { nonce: string | null; expires_at: number; owner: string | null; description: string } {
  return { nonce: l.nonce, expires_at: Math.ceil(l.expiresAt / 1000), owner: l.owner, description: l.description };
}

/** The 409 message for a call on a machine another client leased (the code is ERR_LEASE_HELD). */
export function leaseHeldMessage(id: string, l: Lease): string {
  const what = l.description === '' ? '' : ` ("${l.description}")`;
  return `machine ${id} is leased${what} until ${new Date(l.expiresAt).toISOString()}: send its nonce in the fly-machine-lease-nonce header, or wait for it to expire`;
}

/** What a Machines API knows of a machine, before it is shaped (the runtime's MachineView is one). */
export interface MachineObjectSource {
  id: string;
  app: string;
  region: string;
  state: string;
  private_ip: string | null | undefined;
  image_ref: string;
  created_at: string;
  updated_at: string;
  checks: { passing: boolean; checks: readonly { name: string; status: string; output: string; last: string | undefined }[] };
  config: {
    image: string;
    cmd: readonly string[];
    env: Readonly<Record<string, string>>;
    internal_port: number;
    guest: { memory_mb: number; cpus: number; pids?: number | undefined };
    restart: { policy: string; max_retries: number };
    checks: Readonly<Record<string, { type: string; port?: number | undefined; method?: string | undefined; path?: string | undefined; grace_period_ms: number; interval_ms: number; timeout_ms: number }>>;
    secret_names: readonly string[];
    /** fly's `config.metadata` (the control plane's machines have it). */
    metadata?: Readonly<Record<string, string>> | undefined;
  };
}

/** The machine object both APIs answer: fly's fields Starling has. */
export interface MachineObject {
  id: string;
  app: string;
  region: string;
  state: string;
  private_ip: string | null;
  image_ref: string;
  created_at: string;
  updated_at: string;
  checks: { passing: boolean; checks: { name: string; status: string; output: string; last: string | null }[] };
  config: {
    image: string;
    cmd: string[];
    env: Record<string, string>;
    internal_port: number;
    guest: { memory_mb: number; cpus: number; pids: number | null };
    restart: { policy: string; max_retries: number };
    checks: Record<string, { type: string; port: number | null; method: string | null; path: string | null; grace_period_ms: number; interval_ms: number; timeout_ms: number }>;
    secret_names: string[];
    metadata?: Record<string, string>;
  };
}

/** Field by field: whatever else the source carries (a secret by mistake) stays out. */
export function machineObject(v: MachineObjectSource): MachineObject {
  const c = v.config;
  return {
    id: v.id,
    app: v.app,
    region: v.region,
    state: v.state,
    private_ip: v.private_ip ?? null,
    image_ref: v.image_ref,
    created_at: v.created_at,
    updated_at: v.updated_at,
    checks: { passing: v.checks.passing, checks: v.checks.checks.map(({ name, status, output, last }) => ({ name, status, output, last: last ?? null })) },
    config: {
      image: c.image,
      cmd: [...c.cmd],
      env: { ...c.env },
      internal_port: c.internal_port,
      guest: { memory_mb: c.guest.memory_mb, cpus: c.guest.cpus, pids: c.guest.pids ?? null },
      restart: { policy: c.restart.policy, max_retries: c.restart.max_retries },
      checks: Object.fromEntries(
        Object.entries(c.checks).map(([n, k]) => [
          n,
          { type: k.type, port: k.port ?? null, method: k.method ?? null, path: k.path ?? null, grace_period_ms: k.grace_period_ms, interval_ms: k.interval_ms, timeout_ms: k.timeout_ms },
        ]),
      ),
      secret_names: [...c.secret_names],
      ...(c.metadata ? { metadata: { ...c.metadata } } : {}),
    },
  };
}
