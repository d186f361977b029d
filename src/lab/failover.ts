/**
 * `lab failover POP --mode …`: what a PoP failure costs the users it serves. The client namespaces
 * of the cities in the PoP's catchment each send a fresh HTTP request (new TCP connection; with
 * `https`, a new TLS connection with its full handshake, SNI the demo app's name) every 20 ms on a
 * fixed schedule; once every city has a steady baseline from the PoP, the PoP is failed;
 * probing goes on until every city is answered steadily by its new PoP (and, for graceful, past the
 * withdrawal at the end of the drain). Then, unless told to keep it failed, the PoP is healed.
 *
 * Per city (docs/lab-topology.md, "Failover"):
 *   outage window = the time the first answer from the new PoP arrived
 *                 − the time the first request that failed or was answered by another PoP was sent.
 *   failed        = requests that got no 2xx answer within 1 s (FAILOVER_TIMEOUT_MS), counted from
 *                   the baseline on (a request sent just before the failure may fail too); of them
 *     late        = those answered 2xx after all, later than 1 s (slow, not lost: the prober waits
 *                   up to FAILOVER_DEADLINE_MS for an answer), and
 *     lost        = those never answered 2xx: refused, reset, answered non-2xx, or not at all;
 *       resetAtMove = of those, the ones reset as the city moved: sent before the first request
 *                   another PoP answered, reset after the last request the old PoP answered was
 *                   sent. With a crash, the host died with them open. With a graceful drain, the
 *                   route moved under them: routing is per packet, so once the city's router has
 *                   moved, the rest of a connection opened to the old PoP reaches the new one,
 *                   which knows nothing of it and resets it. No drain can save a connection open
 *                   at that instant (usually a few ms of each request's life; more on a busy host).
 *   new PoP       = the PoP of the last answer.
 * A request's times are taken inside its namespace with the prober's high-resolution clock.
 */
import { StarlingError } from '../shared/index.js';
import { computeCatchment } from './catchment.js';
import { failures, findPopHosts, type FailMode, type LabContext } from './lab-context.js';
import { labTrust } from './lab-ca.js';
import { LAB_DRAIN_DELAY_MS } from './lab-agents.js';
import { downPops, failPop, healPop } from './lab-fail.js';
import { startProbe, until, type ProbeLine, type ProbeRun } from './probe.js';

export const FAILOVER_EVERY_MS = 20;
/** A request not answered 2xx within this is failed: the figure the aims (bench:failover) are about. */
export const FAILOVER_TIMEOUT_MS = 1000;
/**
 * How long the prober waits for an answer at all. A request slower than FAILOVER_TIMEOUT_MS is
 * failed, yet it is known whether it was answered in the end (late) or not (lost): on a loaded
 * machine a slow answer is not a refused one.
 */
export const FAILOVER_DEADLINE_MS = 10_000;
/** Consecutive answers from one PoP that make a baseline, or a settled new PoP. */
const STEADY = 10;

export interface FailoverCity {
  city: string;
  /** The PoP that served the city before. */
  from: string;
  /** The PoP of the last answer (null: nothing answered at the end). */
  to: string | null;
  /** What computeCatchment expects with the PoP down. */
  expected: string | null;
  /** Outage window (ms), as defined above; 0 when no request ever failed or moved (a host of a multi-host PoP). */
  windowMs: number | null;
  /** Requests with no 2xx answer within FAILOVER_TIMEOUT_MS; failed = late + lost. */
  failed: number;
  /** Failed requests answered 2xx, later than FAILOVER_TIMEOUT_MS (within FAILOVER_DEADLINE_MS). */
  late: number;
  /** Failed requests never answered 2xx: refused, reset, answered non-2xx, or no answer within FAILOVER_DEADLINE_MS. */
  lost: number;
  /** Lost requests reset as the city moved (defined at the top): a graceful drain may lose these only. */
  resetAtMove: number;
  /** What the lost requests got, by kind: `ECONNRESET`, `ECONNREFUSED`, `HTTP 503`, `no answer within 10000 ms`, … */
  errors: Record<string, number>;
  requests: number;
  ok: boolean;
}

export interface FailoverReport {
  lab: string;
  pop: string;
  mode: FailMode;
  /** Whether the clients spoke HTTPS (a fresh TLS connection per request) rather than HTTP. */
  https: boolean;
  /** What lab fail did. */
  actions: string[];
  cities: FailoverCity[];
  healed: boolean;
  /** How long the heal took (ms), when it ran. */
  healMs: number | undefined;
}

export async function failover(ctx: LabContext, which: string, mode: FailMode, o: { keepFailed?: boolean; timeoutMs?: number; https?: boolean } = {}): Promise<FailoverReport> {
  const hosts = findPopHosts(ctx, which);
  const busy = hosts.filter((h) => failures(ctx)[h.id] !== undefined);
  if (busy.length > 0) {
    throw new StarlingError('ERR_LAB_FAILED_ALREADY', `${busy.map((h) => h.id).join(', ')} failed already`, { fault: 'user', hint: `starling lab heal ${which}` });
  }
  const popCity = hosts[0]!.city;
  const before = new Map(computeCatchment(ctx.topology, { down: downPops(ctx) }).cities.map((c) => [c.city, c.pop]));
  const after = new Map(computeCatchment(ctx.topology, { down: downPops(ctx, hosts) }).cities.map((c) => [c.city, c.pop]));
  const clients = ctx.plan.clients.filter((c) => before.get(c.city) === popCity);
  if (clients.length === 0) {
    throw new StarlingError('ERR_LAB_NO_CLIENTS', `no client city is served by ${popCity}: a failover there is invisible to users`, { fault: 'user' });
  }
  // HTTPS: every request its own TLS connection (no session reuse), SNI the demo app's name, Pebble's root trusted.
  const scheme = o.https ? 'https' : 'http';
  const tls = o.https ? labTrust(ctx) : {};
  const runs = new Map<string, ProbeRun>();
  for (const c of clients) {
    runs.set(c.city, startProbe(c.ns, { mode: 'stream', url: `${scheme}://${ctx.plan.serviceAddress}/`, host: ctx.appHost, everyMs: FAILOVER_EVERY_MS, timeoutMs: FAILOVER_DEADLINE_MS, ...tls }));
  }
  const stopAll = (): Promise<number[]> => Promise.all([...runs.values()].map((r) => r.stop()));
  let actions: string[];
  let t0: number;
  const baseline = new Map<string, number>();
  try {
    await until(
      ctx.clock,
      () => {
        for (const c of clients) {
          const start = steadySince(runs.get(c.city)!.lines, popCity);
          if (start !== undefined && !baseline.has(c.city)) baseline.set(c.city, start);
        }
        return baseline.size === clients.length;
      },
      `a steady baseline from ${popCity} in ${clients.map((c) => c.city).join(', ')}`,
      10_000,
      20,
      () => clients.map((c) => `${c.city}: ${describeTail(runs.get(c.city)!.lines)}`).join('\n'),
    );
    t0 = ctx.clock.now();
    actions = await failPop(ctx, which, mode);
    const observeUntil = t0 + (mode === 'graceful' ? LAB_DRAIN_DELAY_MS + 700 : FAILOVER_TIMEOUT_MS + 200);
    await until(
      ctx.clock,
      () => ctx.clock.now() >= observeUntil && clients.every((c) => settled(runs.get(c.city)!.lines, t0, after.get(c.city) ?? null, popCity)),
      `every affected city to settle on its new PoP`,
      o.timeoutMs ?? 20_000,
      20,
      () => clients.map((c) => `${c.city}: ${describeTail(runs.get(c.city)!.lines)}`).join('\n'),
    );
  } finally {
    await stopAll();
  }
  const cities = clients.map((c) => summarizeCity(c.city, runs.get(c.city)!.lines, baseline.get(c.city)!, popCity, after.get(c.city) ?? null));
  let healMs: number | undefined;
  if (!o.keepFailed) {
    const h0 = ctx.clock.monotonic();
    await healPop(ctx, which);
    healMs = Math.round(ctx.clock.monotonic() - h0);
  }
  return { lab: ctx.name, pop: which, mode, https: o.https === true, actions, cities, healed: !o.keepFailed, healMs };
}

/** The `sent` time of the first of STEADY consecutive answers from `pop` (the latest such streak start). */
function steadySince(lines: readonly ProbeLine[], pop: string): number | undefined {
  const sorted = [...lines].sort((a, b) => a.sent - b.sent);
  let run = 0;
  for (let i = sorted.length - 1; i >= 0; i--) {
    if (sorted[i]!.ok && sorted[i]!.pop === pop) run++;
    else break;
  }
  return run >= STEADY ? sorted[sorted.length - run]!.sent : undefined;
}

/** Whether the last STEADY requests sent after t0 were all answered, by the expected new PoP. */
function settled(lines: readonly ProbeLine[], t0: number, expected: string | null, old: string): boolean {
  const recent = lines.filter((l) => l.sent >= t0).sort((a, b) => a.sent - b.sent).slice(-STEADY);
  const target = expected ?? undefined;
  return recent.length === STEADY && recent.every((l) => l.ok && (target === undefined ? l.pop !== old : l.pop === target));
}

/**
 * One city's outcome from its probe lines (requests sent before `since`, the start of the baseline,
 * are ignored): the outage window as defined at the top, failed requests (late or lost), the new PoP.
 * A request answered 2xx later than `timeoutMs` counts as failed, as if the prober had given up then.
 */
export function summarizeCity(city: string, lines: readonly ProbeLine[], since: number, from: string, expected: string | null, timeoutMs = FAILOVER_TIMEOUT_MS): FailoverCity {
  const seen = lines.filter((l) => l.sent >= since).sort((a, b) => a.sent - b.sent);
  const inTime = (l: ProbeLine): boolean => l.ok && l.done - l.sent <= timeoutMs;
  const to = [...seen].reverse().find((l) => l.ok)?.pop ?? null;
  const bad = seen.filter((l) => !inTime(l) || l.pop !== from);
  const firstBad = bad[0]?.sent;
  let windowMs: number | null = firstBad === undefined ? 0 : null;
  if (firstBad !== undefined && to !== null && to !== from) {
    const arrivals = seen.filter((l) => l.ok && l.pop === to && l.sent >= firstBad).map((l) => l.done);
    if (arrivals.length > 0) windowMs = Math.round(Math.min(...arrivals) - firstBad);
  } else if (firstBad !== undefined && to === from) {
    // A host of a multi-host PoP: the city stays with the PoP; the window spans its failed requests.
    const lastBad = bad.at(-1)!;
    const next = seen.filter((l) => l.ok && l.sent > lastBad.sent).map((l) => l.done);
    if (next.length > 0) windowMs = Math.round(Math.min(...next) - firstBad);
  }
  const failed = seen.filter((l) => !inTime(l)).length;
  const late = seen.filter((l) => l.ok && !inTime(l)).length;
  // The route moved between the last request the old PoP answered and the first another PoP did.
  const firstMoved = seen.find((l) => l.ok && l.pop !== from);
  const lastOld = firstMoved === undefined ? undefined : seen.filter((l) => l.ok && l.pop === from && l.sent < firstMoved.sent).at(-1);
  const atMove = (l: ProbeLine): boolean =>
    !l.ok && (l.error === 'ECONNRESET' || l.error === 'EPIPE') && firstMoved !== undefined && l.sent < firstMoved.sent && l.done > (lastOld?.sent ?? since);
  const errors: Record<string, number> = {};
  for (const l of seen.filter((x) => !x.ok)) {
    const kind = l.error?.replace(/^(HTTP \d+):.*/s, '$1') ?? (l.status !== undefined ? `HTTP ${l.status}` : 'unknown');
    errors[kind] = (errors[kind] ?? 0) + 1;
  }
  return { city, from, to, expected, windowMs, failed, late, lost: failed - late, resetAtMove: seen.filter(atMove).length, errors, requests: seen.length, ok: to === (expected ?? to) && windowMs !== null };
}

function describeTail(lines: readonly ProbeLine[]): string {
  const tail = [...lines].sort((a, b) => a.sent - b.sent).slice(-5);
  if (tail.length === 0) return 'no answer yet';
  return tail.map((l) => (l.ok ? (l.pop ?? '?') : `✗ ${l.error ?? ''}`)).join(', ');
}
