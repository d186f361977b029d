/**
 * The lab's transit routers: one BIRD per city router (config from router-config.ts, control socket
 * in the lab's directory), and what they know — their BGP sessions and, for the anycast prefix, every
 * route they hold: from which PoP host it came, whether it carries GRACEFUL_SHUTDOWN, which one is
 * best. The routers' view is the ground truth of "does this PoP announce": it is what BGP acts on.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BirdClient, type BirdRoute } from '../announcer/index.js';
import { StarlingError, describeError } from '../shared/index.js';
import { isRecordedAlive } from './lab-state.js';
import { BIRD_BIN, logTail, recorded, routerDir, routerSocket, startDaemon, what, type LabContext } from './lab-context.js';
import { until } from './probe.js';
import { routerBirdConfig } from './router-config.js';

export interface SessionView {
  /** BIRD's protocol name: `r_<city>` or `p_<host>`; the IPv6 session's `r6_<city>` or `p6_<host>`. */
  name: string;
  kind: 'router' | 'pop';
  /** The family the session runs over and carries (one session per family, router-config.ts). */
  family: 4 | 6;
  /** The neighbour: a city code or a PoP host id. */
  peer: string;
  /** BGP state: Established, Active, Connect, … (Down when the protocol is down). */
  state: string;
  since: string | undefined;
  lastError: string | undefined;
}

/** What a PoP host's router session says about it. */
export type AnnounceState = 'announced' | 'draining' | 'withdrawn' | 'down';

export interface RouterView {
  city: string;
  /** False when its BIRD does not answer on the control socket. */
  up: boolean;
  error?: string;
  sessions: SessionView[];
  /** The PoP (city code) this router's best anycast route leads to; null without a route. */
  pop: string | null;
  asPath: number[];
  /** The same for the IPv6 anycast prefix: equal to `pop` and `asPath` whenever routing is right. */
  pop6: string | null;
  asPath6: number[];
  /**
   * Announce state of each PoP host attached to this router: the lesser of its two families' (a
   * host counts as announced only when both its prefixes are), as `hosts4` and `hosts6` say apart.
   */
  hosts: Record<string, AnnounceState>;
  hosts4: Record<string, AnnounceState>;
  hosts6: Record<string, AnnounceState>;
}

/** From least to most announced: the combined state of a host is the lower of its families'. */
const ANNOUNCE_ORDER: readonly AnnounceState[] = ['down', 'withdrawn', 'draining', 'announced'];
const lesser = (a: AnnounceState, b: AnnounceState): AnnounceState => (ANNOUNCE_ORDER.indexOf(a) <= ANNOUNCE_ORDER.indexOf(b) ? a : b);


const GSHUT = (r: BirdRoute): boolean => (r.communities ?? []).some(([a, b]) => a === 65535 && b === 0);

/** Writes each router's config and starts its BIRD; resolves when every control socket answers. */
export async function startRouters(ctx: LabContext, timeoutMs = 10_000): Promise<void> {
  for (const r of ctx.plan.routers) {
    const dir = routerDir(ctx, r.city);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const config = join(dir, 'bird.conf');
    writeFileSync(config, routerBirdConfig(ctx.plan, r.city, { socketPath: routerSocket(ctx, r.city), logPath: join(dir, 'bird.log') }), { mode: 0o600 });
    startDaemon(ctx, r.ns, [BIRD_BIN, '-f', '-c', config, '-s', routerSocket(ctx, r.city)], what.router(r.city), join(dir, 'bird.out'));
  }
  const pending = new Set(ctx.plan.routers.map((r) => r.city));
  await until(
    ctx.clock,
    async () => {
      for (const city of [...pending]) {
        const p = recorded(ctx, what.router(city));
        if (!p || !isRecordedAlive(p)) {
          throw new StarlingError('ERR_LAB_ROUTER', `the BIRD of router ${city} exited at start:\n${logTail(join(routerDir(ctx, city), 'bird.out'))}`);
        }
        const c = await BirdClient.connect(routerSocket(ctx, city), { timeoutMs: 500 }).catch(() => undefined);
        if (c) {
          await c.close().catch(() => undefined);
          pending.delete(city);
        }
      }
      return pending.size === 0;
    },
    'the routers\' BIRD control sockets',
    timeoutMs,
    50,
    () => `not answering: ${[...pending].join(', ')}`,
  );
}

/** One router's sessions and anycast routes, over its control socket. */
export async function routerView(ctx: LabContext, city: string): Promise<RouterView> {
  const plan = ctx.plan.routers.find((r) => r.city === city)!;
  const hostsHere = ctx.plan.popHosts.filter((h) => h.city === city);
  const down = (): Record<string, AnnounceState> => Object.fromEntries(hostsHere.map((h) => [h.id, 'down']));
  const view: RouterView = { city, up: false, sessions: [], pop: null, asPath: [], pop6: null, asPath6: [], hosts: down(), hosts4: down(), hosts6: down() };
  let client: BirdClient;
  try {
    client = await BirdClient.connect(routerSocket(ctx, city), { timeoutMs: 2000 });
  } catch (e) {
    return { ...view, error: describeError(e) };
  }
  try {
    const protocols = await client.showProtocolsAll();
    // `show route for ADDRESS` looks in the table of the address's family (master4, master6).
    const routes = { 4: await client.showRoute(`for ${ctx.plan.serviceAddress} all`), 6: await client.showRoute(`for ${ctx.plan.serviceAddress6} all`) };
    view.up = true;
    for (const n of plan.neighbours) {
      for (const family of [4, 6] as const) {
        const name = family === 4 ? n.protocol : n.protocol6;
        const p = protocols.find((x) => x.name === name);
        view.sessions.push({
          name,
          kind: n.kind,
          family,
          peer: n.kind === 'router' ? n.city : n.host,
          state: p?.bgp?.state ?? (p?.state === 'up' ? 'Established' : p ? p.info.split(/\s+/)[0] || p.state : 'missing'),
          since: p?.since || undefined,
          lastError: p?.bgp?.lastError || undefined,
        });
      }
    }
    for (const family of [4, 6] as const) {
      const hosts = family === 4 ? view.hosts4 : view.hosts6;
      for (const h of hostsHere) {
        const name = family === 4 ? `p_${h.id}` : `p6_${h.id}`;
        const s = view.sessions.find((x) => x.name === name);
        const r = routes[family].find((x) => x.protocol === name);
        hosts[h.id] = s?.state !== 'Established' ? 'down' : !r ? 'withdrawn' : GSHUT(r) ? 'draining' : 'announced';
      }
      const best = routes[family].find((r) => r.primary) ?? routes[family][0];
      const asPath = best?.asPath ?? [];
      const pop = best ? popOfPath(ctx, city, asPath) : null;
      if (family === 4) Object.assign(view, { asPath, pop });
      else Object.assign(view, { asPath6: asPath, pop6: pop });
    }
    for (const h of hostsHere) view.hosts[h.id] = lesser(view.hosts4[h.id] ?? 'down', view.hosts6[h.id] ?? 'down');
  } catch (e) {
    view.error = describeError(e);
  } finally {
    await client.close().catch(() => undefined);
  }
  return view;
}

/** The PoP city an AS path leads to: the last city ASN before the PoPs' ASN (this city when none). */
export function popOfPath(ctx: LabContext, city: string, asPath: number[]): string | null {
  if (asPath.length === 0) return null;
  const cityAsns = asPath.filter((a) => a !== ctx.plan.popAsn);
  const last = cityAsns.at(-1);
  if (last === undefined) return city;
  return ctx.plan.cities.find((c) => c.asn === last)?.code ?? null;
}

export function routerViews(ctx: LabContext): Promise<RouterView[]> {
  return Promise.all(ctx.plan.routers.map((r) => routerView(ctx, r.city)));
}
