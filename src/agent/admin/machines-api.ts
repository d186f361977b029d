import { randomBytes } from 'node:crypto';
import { isStarlingError, type Clock, type Logger } from '../../shared/index.js';
import { AdminApiError, json, type AdminApi, type AdminRequest } from './admin-api.js';
import { APP_NAME_RE, APP_NAME_RULE, parseDuration } from '../../contract/index.js';
import { MACHINE_STATES, type LogEntry, type MachineView, type MachinesPort } from '../../runtime/index.js';
import { parseCreateMachineRequest } from './machines-request.js';

/**
 * The local Machines API, shaped like fly's (`/v1/apps/{app}/machines…`), on the agent's admin API
 * (so every endpoint needs the bearer token). README "Machines API" lists the endpoints. Answers are
 * built field by field from the port's views, so a secret value can never leak into one.
 */
export interface MachinesApiOptions {
  machines: MachinesPort;
  /** Lease expiry runs on it. */
  clock: Clock;
  logger: Logger;
}

const BASE = '/v1/apps/{app}/machines';
const MACHINE = `${BASE}/{id}`;
/** fly's header, and our own twin. */
const NONCE_HEADERS = ['fly-machine-lease-nonce', 'starling-machine-lease-nonce'];
/** fly's kill_signal choices, plus SIGHUP. */
const SIGNALS = new Set(['SIGINT', 'SIGTERM', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGKILL', 'SIGHUP']);
const WAIT_MAX_S = 60;
const LEASE_TTL_DEFAULT_S = 30;
const LEASE_TTL_MAX_S = 86_400;

/** `state` is copied at look-up: a port may hand out live objects that change under the call. */
type Target = { app: string; id: string; view: MachineView; state: MachineView['state'] };

export function registerMachinesApi(admin: AdminApi, o: MachinesApiOptions): void {
  const port = o.machines;
  const leases = new Leases(o.clock);

  /** The machine the path names; 404 when the port does not know the app or the machine. */
  const target = async (req: AdminRequest): Promise<Target> => {
    const app = appName(req);
    const id = req.params?.id ?? '';
    const view = await guard(() => port.get(app, id));
    if (!view) throw new AdminApiError(404, 'ERR_MACHINE_NOT_FOUND', `app ${app} has no machine ${id}`);
    return { app, id, view, state: view.state };
  };
  /** A target a call may change: while a lease is held, only with its nonce. */
  const mutable = async (req: AdminRequest): Promise<Target> => {
    const t = await target(req);
    leases.check(t, nonceOf(req));
    return t;
  };
  const changed = (t: Target, after: MachineView | void, what: string) => {
    o.logger.info(`machine ${what}`, { app: t.app, machine: t.id, previous_state: t.state });
    const now = after || port.get(t.app, t.id);
    return json(200, { ok: true, previous_state: t.state, machine: now ? publicView(now) : null });
  };

  admin.route('GET', BASE, async (req) => {
    const app = appName(req);
    return json(200, (await guard(() => port.list(app))).map(publicView));
  });
  admin.route('POST', BASE, async (req) => {
    const app = appName(req);
    const parsed = parseCreateMachineRequest(bodyJson(req));
    if ('issues' in parsed) {
      const all = parsed.issues.map((i) => `${i.path}: ${i.message}`).join('; ');
      throw new AdminApiError(400, 'ERR_MACHINE_CONFIG', `invalid machine request (${parsed.issues.length} problem${parsed.issues.length > 1 ? 's' : ''}): ${all}`);
    }
    const view = await guard(() => port.create(app, parsed.request));
    o.logger.info('machine created', { app, machine: view.id, state: view.state });
    return json(200, publicView(view));
  });
  admin.route('GET', MACHINE, async (req) => json(200, publicView((await target(req)).view)));
  admin.route('DELETE', MACHINE, async (req) => {
    const t = await mutable(req);
    const force = ['1', 'true'].includes(req.query?.get('force') ?? '');
    const after = await guard(() => port.destroy(t.app, t.id, { force }));
    leases.drop(t);
    return changed(t, after, 'destroyed');
  });
  admin.route('POST', `${MACHINE}/start`, async (req) => {
    const t = await mutable(req);
    return changed(t, await guard(() => port.start(t.app, t.id)), 'start requested');
  });
  admin.route('POST', `${MACHINE}/stop`, async (req) => {
    const { signal, timeout } = fields(req, 'stop request', ['signal', 'timeout'], (b, issues) => {
      if (b.signal !== undefined && !SIGNALS.has(b.signal as string)) issues.push(`signal: must be one of ${[...SIGNALS].join(', ')}`);
      if (b.timeout !== undefined && parseDuration(b.timeout) === undefined) issues.push('timeout: must be a duration such as "10s" or a number of seconds');
    });
    const t = await mutable(req);
    const opts = { signal: signal as NodeJS.Signals | undefined, timeout_ms: timeout === undefined ? undefined : parseDuration(timeout) };
    return changed(t, await guard(() => port.stop(t.app, t.id, opts)), 'stop requested');
  });
  admin.route('GET', `${MACHINE}/wait`, async (req) => {
    const state = req.query?.get('state') ?? 'started';
    if (!(MACHINE_STATES as readonly string[]).includes(state)) throw badRequest(`state must be one of ${MACHINE_STATES.join(', ')}`);
    const timeout = req.query?.get('timeout') ?? String(WAIT_MAX_S);
    const seconds = /^\d{1,4}$/.test(timeout) ? Number(timeout) : NaN;
    if (!(seconds >= 1 && seconds <= WAIT_MAX_S)) throw badRequest(`timeout must be whole seconds from 1 to ${WAIT_MAX_S}`);
    const t = await target(req);
    if (await guard(() => port.waitFor(t.app, t.id, state as MachineView['state'], seconds * 1000))) return json(200, { ok: true });
    const now = port.get(t.app, t.id)?.state ?? 'gone';
    throw new AdminApiError(408, 'ERR_WAIT_TIMEOUT', `machine ${t.id} did not reach state ${state} within ${seconds} s (it is ${now})`);
  });
  admin.route('POST', `${MACHINE}/lease`, async (req) => {
    const { ttl, description } = fields(req, 'lease request', ['ttl', 'description'], (b, issues) => {
      if (b.ttl !== undefined && !(Number.isInteger(b.ttl) && (b.ttl as number) >= 1 && (b.ttl as number) <= LEASE_TTL_MAX_S)) {
        issues.push(`ttl: must be whole seconds from 1 to ${LEASE_TTL_MAX_S}`);
      }
      if (b.description !== undefined && !(typeof b.description === 'string' && b.description.length <= 256)) issues.push('description: must be a string of at most 256 characters');
    });
    const t = await target(req);
    const ttlMs = ((ttl as number | undefined) ?? LEASE_TTL_DEFAULT_S) * 1000;
    return json(200, leases.acquire(t, nonceOf(req), ttlMs, description as string | undefined));
  });
  admin.route('GET', `${MACHINE}/lease`, async (req) => {
    const t = await target(req);
    // The nonce is its holder's: others see that the lease exists, not how to use it.
    return json(200, { ...leases.view(leases.current(t) ?? notLeased(t)), nonce: null });
  });
  admin.route('DELETE', `${MACHINE}/lease`, async (req) => {
    const t = await target(req);
    if (!leases.current(t)) notLeased(t);
    leases.check(t, nonceOf(req));
    leases.drop(t);
    return json(200, { ok: true });
  });
  admin.route('GET', `${MACHINE}/logs`, async (req) => {
    const tailText = req.query?.get('tail');
    const tail = tailText == null ? undefined : /^\d{1,6}$/.test(tailText) && Number(tailText) >= 1 ? Number(tailText) : NaN;
    if (Number.isNaN(tail)) throw badRequest('tail must be a whole number of lines from 1 to 999999');
    const follow = ['1', 'true'].includes(req.query?.get('follow') ?? '');
    const t = await target(req);
    const entries = (await guard(() => port.logs(t.app, t.id, { tail }))).entries.map(publicEntry);
    if (!follow) return json(200, { entries });
    // Only microtasks run between this snapshot and the subscription in `stream`: no entry is lost.
    return {
      status: 200,
      contentType: 'application/x-ndjson',
      body: entries.map(ndjson).join(''),
      stream: (write) => port.followLogs(t.app, t.id, (e) => write(ndjson(publicEntry(e)))),
    };
    // The control plane reads logs for `starling logs` with the secret this agent gave it (never anything else).
  }, { controlPlane: true });
}

interface Lease {
  nonce: string;
  expiresAt: number;
  description: string;
}

/** Leases by machine; an expired one is gone at its next look-up (on the injected clock). */
class Leases {
  private readonly held = new Map<string, Lease>();
  constructor(private readonly clock: Clock) {}

  current(t: Target): Lease | undefined {
    const lease = this.held.get(key(t));
    if (lease && lease.expiresAt <= this.clock.now()) this.held.delete(key(t));
    return this.held.get(key(t));
  }

  /** Throws 409 when a lease is held and `nonce` is not its nonce. */
  check(t: Target, nonce: string | undefined): void {
    const lease = this.current(t);
    if (!lease || nonce === lease.nonce) return;
    const until = new Date(lease.expiresAt).toISOString();
    const what = lease.description === '' ? '' : ` ("${lease.description}")`;
    throw new AdminApiError(409, 'ERR_LEASE_HELD', `machine ${t.id} is leased${what} until ${until}: send its nonce in the fly-machine-lease-nonce header, or wait for it to expire`);
  }

  /** A new lease, or the held one extended when `nonce` is its nonce. */
  acquire(t: Target, nonce: string | undefined, ttlMs: number, description: string | undefined) {
    const held = this.current(t);
    this.check(t, nonce);
    const now = this.clock.now();
    for (const [k, l] of this.held) if (l.expiresAt <= now) this.held.delete(k);
    const lease = { nonce: held?.nonce ?? randomBytes(16).toString('hex'), expiresAt: now + ttlMs, description: description ?? held?.description ?? '' };
    this.held.set(key(t), lease);
    return this.view(lease);
  }

  drop(t: Target): void {
    this.held.delete(key(t));
  }

  /** fly's shape: expires_at in Unix seconds; `owner` is null (the local API has one token, no identities). */
  view(l: Lease) {
    return { nonce: l.nonce, expires_at: Math.ceil(l.expiresAt / 1000), owner: null, description: l.description };
  }
}

const key = (t: Target): string => `${t.app}/${t.id}`;

function notLeased(t: Target): never {
  throw new AdminApiError(404, 'ERR_LEASE_NOT_FOUND', `machine ${t.id} holds no lease`);
}

function appName(req: AdminRequest): string {
  const app = req.params?.app ?? '';
  if (!APP_NAME_RE.test(app)) throw new AdminApiError(400, 'ERR_APP_NAME', `app names ${APP_NAME_RULE}`);
  return app;
}

function nonceOf(req: AdminRequest): string | undefined {
  for (const name of NONCE_HEADERS) {
    const v = req.headers?.[name];
    const first = Array.isArray(v) ? v[0] : v;
    if (first !== undefined) return first;
  }
  return undefined;
}

function badRequest(message: string): AdminApiError {
  return new AdminApiError(400, 'ERR_BAD_REQUEST', message);
}

/** The JSON body; undefined when there is none. */
function bodyJson(req: AdminRequest): unknown {
  if (req.body === undefined || req.body.trim() === '') return undefined;
  try {
    return JSON.parse(req.body);
  } catch (e) {
    throw badRequest(`the body is not JSON: ${(e as Error).message}`);
  }
}

/** A small optional JSON object body with only `allowed` keys; `check` adds issues, all reported at once. */
function fields(req: AdminRequest, what: string, allowed: string[], check: (b: Record<string, unknown>, issues: string[]) => void): Record<string, unknown> {
  const body = bodyJson(req) ?? {};
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest(`the ${what} must be a JSON object`);
  const b = body as Record<string, unknown>;
  const issues = Object.keys(b).filter((k) => !allowed.includes(k)).map((k) => `unknown key "${k}"`);
  check(b, issues);
  if (issues.length > 0) throw badRequest(`invalid ${what}: ${issues.join('; ')}`);
  return b;
}

/** The port's errors that have a fitting HTTP status; the others keep the admin API's (400/500). */
const PORT_ERROR_STATUS: Record<string, number> = {
  ERR_APP_NOT_FOUND: 404,
  ERR_MACHINE_NOT_FOUND: 404,
  // The machine's current state forbids the call (destroy while started without force, …).
  ERR_MACHINE_STATE: 409,
  ERR_MACHINE_RUNNING: 409,
};

async function guard<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    const status = isStarlingError(e) ? PORT_ERROR_STATUS[e.code] : undefined;
    if (status !== undefined && isStarlingError(e)) throw new AdminApiError(status, e.code, e.message, { cause: e });
    throw e;
  }
}

/** Field by field: whatever else the port's view carries (a secret by mistake) stays out. */
export function publicView(v: MachineView): MachineView {
  const c = v.config;
  return {
    id: v.id,
    app: v.app,
    region: v.region,
    state: v.state,
    private_ip: v.private_ip,
    image_ref: v.image_ref,
    created_at: v.created_at,
    updated_at: v.updated_at,
    checks: { passing: v.checks.passing, checks: v.checks.checks.map(({ name, status, output, last }) => ({ name, status, output, last })) },
    config: {
      image: c.image,
      cmd: [...c.cmd],
      env: { ...c.env },
      internal_port: c.internal_port,
      guest: { memory_mb: c.guest.memory_mb, cpus: c.guest.cpus, pids: c.guest.pids },
      restart: { policy: c.restart.policy, max_retries: c.restart.max_retries },
      checks: Object.fromEntries(
        Object.entries(c.checks).map(([n, k]) => [n, { type: k.type, port: k.port, method: k.method, path: k.path, grace_period_ms: k.grace_period_ms, interval_ms: k.interval_ms, timeout_ms: k.timeout_ms }]),
      ),
      secret_names: [...c.secret_names],
    },
  };
}

function publicEntry(e: LogEntry): LogEntry {
  return { time: e.time, stream: e.stream, message: e.message };
}

function ndjson(value: unknown): string {
  return JSON.stringify(value) + '\n';
}
