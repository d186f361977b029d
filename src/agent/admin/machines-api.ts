import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { type Clock, type Logger } from '../../shared/index.js';
import { HttpError, json, route, type Headers } from '../../http/index.js';
import { LOCAL, LOCAL_OR_CONTROL, type AdminCaller, type AdminRoute } from './admin-api.js';
import {
  APP_NAME_RE,
  APP_NAME_RULE,
  LEASE_TTL_DEFAULT_S,
  LeaseBody,
  StopMachineBody,
  leaseHeldMessage,
  leaseNonceOf,
  leaseView,
  machineObject,
  parseDuration,
  waitTimeoutQuery,
  type Lease,
  type MachineObject,
} from '../../contract/index.js';
import { MACHINE_STATES, type LogEntry, type MachineView, type MachinesPort } from '../../runtime/index.js';
import { parseCreateMachineRequest } from './machines-request.js';
import { machineStreamRoutes, type ExecPort } from './machine-streams.js';

/**
 * The local Machines API, shaped like fly's (`/v1/apps/{app}/machines…`), on the agent's admin API
 * (so every endpoint needs the bearer token). README "Machines API" lists the endpoints. Answers are
 * built field by field from the port's views (contract/machines-api.ts, the shapes the control
 * plane's Machines API answers too), so a secret value can never leak into one.
 */
export interface MachinesApiOptions {
  /** With exec (the MachineManager), `ssh console` can enter its machines. */
  machines: MachinesPort & Partial<ExecPort>;
  /** Lease expiry runs on it. */
  clock: Clock;
  logger: Logger;
}

const BASE = '/v1/apps/{app}/machines';
const MACHINE = `${BASE}/{id}`;

/** `state` is copied at look-up: a port may hand out live objects that change under the call. */
type Target = { app: string; id: string; view: MachineView; state: MachineView['state'] };

/** Query flags: `1`/`true` or `0`/`false`. */
const flag = z.enum(['1', 'true', '0', 'false'], { error: 'must be true or false (or 1 or 0)' }).transform((v) => v === '1' || v === 'true');
const stopBody = StopMachineBody;
const leaseBody = LeaseBody;
const waitQuery = z.strictObject({
  state: z.enum(MACHINE_STATES, { error: `must be one of ${MACHINE_STATES.join(', ')}` }).default('started'),
  timeout: waitTimeoutQuery,
});
const logsQuery = z.strictObject({
  tail: z.string().regex(/^[1-9]\d{0,5}$/, 'must be a whole number of lines from 1 to 999999').transform(Number).optional(),
  follow: flag.optional(),
});
const destroyQuery = z.strictObject({ force: flag.optional() });

type Input = { params: Record<string, string>; headers: Headers };

/** The Machines API's routes, for AdminApi.add. */
export function machinesRoutes(o: MachinesApiOptions): AdminRoute[] {
  const port = o.machines;
  const leases = new Leases(o.clock);

  /** The machine the path names; 404 when the port does not know the app or the machine. */
  const target = async (req: Input): Promise<Target> => {
    const app = appName(req);
    const id = req.params.id ?? '';
    const view = port.get(app, id);
    if (!view) throw new HttpError(404, 'ERR_MACHINE_NOT_FOUND', `app ${app} has no machine ${id}`);
    return { app, id, view, state: view.state };
  };
  /** A target a call may change: while a lease is held, only with its nonce. */
  const mutable = async (req: Input): Promise<Target> => {
    const t = await target(req);
    leases.check(t, nonceOf(req));
    return t;
  };
  const changed = (t: Target, after: MachineView | void, what: string) => {
    o.logger.info(`machine ${what}`, { app: t.app, machine: t.id, previous_state: t.state });
    const now = after || port.get(t.app, t.id);
    return json(200, { ok: true, previous_state: t.state, machine: now ? publicView(now) : null });
  };
  const ok = { '200': 'done' };

  return [
    route<AdminCaller>({
      method: 'GET', path: BASE, access: LOCAL, summary: "The app's machines on this host", responses: { '200': 'MachineView[]' },
      handler: async (req) => json(200, port.list(appName(req)).map(publicView)),
    }),
    route<AdminCaller, z.ZodUnknown>({
      method: 'POST', path: BASE, access: LOCAL, summary: 'Create and start a machine', requestSchema: z.unknown(), responses: { '200': 'MachineView', '400': 'invalid request' },
      handler: async (req) => {
        const app = appName(req);
        const parsed = parseCreateMachineRequest(req.body);
        if ('issues' in parsed) {
          const all = parsed.issues.map((i) => `${i.path}: ${i.message}`).join('; ');
          throw new HttpError(400, 'ERR_MACHINE_CONFIG', `invalid machine request (${parsed.issues.length} problem${parsed.issues.length > 1 ? 's' : ''}): ${all}`, parsed.issues);
        }
        const view = await port.create(app, parsed.request);
        o.logger.info('machine created', { app, machine: view.id, state: view.state });
        return json(200, publicView(view));
      },
    }),
    route<AdminCaller>({
      method: 'GET', path: MACHINE, access: LOCAL, summary: 'One machine', responses: { '200': 'MachineView', '404': 'no such machine' },
      handler: async (req) => json(200, publicView((await target(req)).view)),
    }),
    route<AdminCaller, z.ZodUndefined, typeof destroyQuery>({
      method: 'DELETE', path: MACHINE, access: LOCAL, summary: 'Destroy a machine (?force=true while started)', querySchema: destroyQuery, responses: ok,
      handler: async (req) => {
        const t = await mutable(req);
        const after = await port.destroy(t.app, t.id, { force: req.query.force ?? false });
        leases.drop(t);
        return changed(t, after, 'destroyed');
      },
    }),
    route<AdminCaller>({
      // The control plane does not call start or stop: its placement says what a placed machine
      // should be, and the reconciler does it (sync/desired.ts).
      method: 'POST', path: `${MACHINE}/start`, access: LOCAL, summary: 'Start a stopped machine', responses: ok,
      handler: async (req) => {
        const t = await mutable(req);
        return changed(t, await port.start(t.app, t.id), 'start requested');
      },
    }),
    route<AdminCaller, typeof stopBody>({
      method: 'POST', path: `${MACHINE}/stop`, access: LOCAL, summary: 'Stop a machine (signal, then SIGKILL after timeout)', requestSchema: stopBody, responses: ok,
      handler: async (req) => {
        const t = await mutable(req);
        const timeout = req.body?.timeout;
        const opts = { signal: req.body?.signal as NodeJS.Signals | undefined, timeout_ms: timeout === undefined ? undefined : parseDuration(timeout) };
        return changed(t, await port.stop(t.app, t.id, opts), 'stop requested');
      },
    }),
    route<AdminCaller, z.ZodUndefined, typeof waitQuery>({
      method: 'GET', path: `${MACHINE}/wait`, access: LOCAL, summary: 'Wait for a state (at most 60 s)', querySchema: waitQuery, responses: { '200': 'reached', '408': 'not within the timeout' },
      handler: async (req) => {
        const { state, timeout } = req.query;
        const t = await target(req);
        if (await port.waitFor(t.app, t.id, state, timeout * 1000)) return json(200, { ok: true });
        const now = port.get(t.app, t.id)?.state ?? 'gone';
        throw new HttpError(408, 'ERR_WAIT_TIMEOUT', `machine ${t.id} did not reach state ${state} within ${timeout} s (it is ${now})`);
      },
    }),
    route<AdminCaller, typeof leaseBody>({
      method: 'POST', path: `${MACHINE}/lease`, access: LOCAL, summary: 'Take or extend a lease', requestSchema: leaseBody, responses: { '200': 'the lease', '409': 'leased by another' },
      handler: async (req) => {
        const t = await target(req);
        const ttlMs = (req.body?.ttl ?? LEASE_TTL_DEFAULT_S) * 1000;
        return json(200, leases.acquire(t, nonceOf(req), ttlMs, req.body?.description));
      },
    }),
    route<AdminCaller>({
      method: 'GET', path: `${MACHINE}/lease`, access: LOCAL, summary: 'The lease, without its nonce', responses: { '200': 'the lease', '404': 'none' },
      handler: async (req) => {
        const t = await target(req);
        // The nonce is its holder's: others see that the lease exists, not how to use it.
        return json(200, { ...leases.view(leases.current(t) ?? notLeased(t)), nonce: null });
      },
    }),
    route<AdminCaller>({
      method: 'DELETE', path: `${MACHINE}/lease`, access: LOCAL, summary: 'Release the lease (with its nonce)', responses: ok,
      handler: async (req) => {
        const t = await target(req);
        if (!leases.current(t)) notLeased(t);
        leases.check(t, nonceOf(req));
        leases.drop(t);
        return json(200, { ok: true });
      },
    }),
    // The control plane reads logs for `starling logs` with the secret this agent gave it (never anything else).
    route<AdminCaller, z.ZodUndefined, typeof logsQuery>({
      method: 'GET', path: `${MACHINE}/logs`, access: LOCAL_OR_CONTROL, summary: 'Log lines; ?follow=true streams NDJSON', querySchema: logsQuery, responses: { '200': 'entries' },
      handler: async (req) => {
        const t = await target(req);
        const entries = port.logs(t.app, t.id, { tail: req.query.tail }).entries.map(publicEntry);
        if (!req.query.follow) return json(200, { entries });
        // Only microtasks run between this snapshot and the subscription in `stream`: no entry is lost.
        return {
          status: 200,
          contentType: 'application/x-ndjson',
          text: entries.map(ndjson).join(''),
          stream: (write) => port.followLogs(t.app, t.id, (e) => write(ndjson(publicEntry(e)))),
        };
      },
    }),
    ...machineStreamRoutes({ machines: port, clock: o.clock, logger: o.logger }),
  ];
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
    throw new HttpError(409, 'ERR_LEASE_HELD', leaseHeldMessage(t.id, lease));
  }

  /** A new lease, or the held one extended when `nonce` is its nonce. */
  acquire(t: Target, nonce: string | undefined, ttlMs: number, description: string | undefined) {
    const held = this.current(t);
    this.check(t, nonce);
    const now = this.clock.now();
    for (const [k, l] of this.held) if (l.expiresAt <= now) this.held.delete(k);
    const lease: Lease = { nonce: held?.nonce ?? randomBytes(16).toString('hex'), expiresAt: now + ttlMs, description: description ?? held?.description ?? '', owner: null };
    this.held.set(key(t), lease);
    return this.view(lease);
  }

  drop(t: Target): void {
    this.held.delete(key(t));
  }

  /** fly's shape; `owner` is null (the local API has one token, no identities). */
  view(l: Lease) {
    return leaseView(l);
  }
}

const key = (t: Target): string => `${t.app}/${t.id}`;

function notLeased(t: Target): never {
  throw new HttpError(404, 'ERR_LEASE_NOT_FOUND', `machine ${t.id} holds no lease`);
}

function appName(req: Input): string {
  const app = req.params.app ?? '';
  if (!APP_NAME_RE.test(app)) throw new HttpError(400, 'ERR_APP_NAME', `app names ${APP_NAME_RULE}`);
  return app;
}

function nonceOf(req: Input): string | undefined {
  return leaseNonceOf(req.headers);
}

/** The port's view as the API answers it (contract/machines-api.ts: field by field, secrets by name only). */
export function publicView(v: MachineView): MachineObject {
  return machineObject(v);
}

function publicEntry(e: LogEntry): LogEntry {
  return { time: e.time, stream: e.stream, message: e.message };
}

function ndjson(value: unknown): string {
  return JSON.stringify(value) + '\n';
}
