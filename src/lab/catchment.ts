import { StarlingError } from '../shared/index.js';
import { cityRouterId, popHostRouterId } from './plan.js';
import { parseIpv4 } from './lab-addresses.js';
import type { Topology } from './topology.js';

/**
 * Which PoP each city's router sends anycast traffic to: BGP's decision, simulated the way BIRD
 * makes it on the lab's transit routers (router-config.ts), so tests and scenarios know the
 * expected answer before the lab is built, and topologies whose answer BIRD would pick by router
 * id (a tie) are refused up front.
 *
 * The model (docs/lab-topology.md): every live PoP host announces the anycast prefix with AS path
 * [pop_asn]; a router exports only its best route; crossing the link N→R of cost c makes the path
 * [N.asn × c] + N's path (BIRD's own prepend plus c - 1 in the export filter); a router drops a
 * path that already holds its ASN (eBGP loop detection); the shortest path wins. Everything else
 * BGP compares (local preference, origin, MED) is equal on these sessions, so BIRD breaks a
 * remaining tie by the lowest router id of the neighbour that sent the route.
 *
 * One computation holds for both families: the IPv6 anycast prefix crosses the IPv6 twin of every
 * session with the same prepends and filters, and the router id (one per BIRD) breaks its ties
 * alike, so its catchment is the IPv4 one's (router-config.ts; the lab e2e test measures both).
 *
 * `down` models a withdrawn PoP. A draining PoP (graceful shutdown, RFC 8326: its routes carry
 * community 65535:0 and every router sets their local preference to 0) ends up the same way
 * wherever another route exists, because any route with the normal local preference wins first;
 * it keeps serving only the cities that have no other route.
 */

export interface CityCatchment {
  city: string;
  /** The city code of the PoP that serves this city, or null when no PoP is reachable. */
  pop: string | null;
  /** AS path length of the chosen route, as the city's router sees it (0 without a route). */
  pathLength: number;
  asPath: number[];
  /** City codes from the PoP to this city. */
  via: string[];
}

export interface TieCandidate {
  pop: string;
  via: string[];
  pathLength: number;
}

/** A router whose shortest routes lead to different PoPs; candidates in BIRD's order (the first wins). */
export interface Tie {
  city: string;
  candidates: TieCandidate[];
}

export interface Catchment {
  /** One entry per city, in topology order. */
  cities: CityCatchment[];
  ties: Tie[];
}

interface Route {
  pop: string;
  asPath: number[];
  via: string[];
  /** Router id of the session it came from, as a number: BIRD's last tie-breaker. */
  from: number;
}

const better = (x: Route, y: Route): number => x.asPath.length - y.asPath.length || x.from - y.from;
const sameRoute = (x: Route | undefined, y: Route | undefined): boolean =>
  x === y || (x !== undefined && y !== undefined && x.from === y.from && x.asPath.join() === y.asPath.join());

export function computeCatchment(topology: Topology, o: { down?: readonly string[] } = {}): Catchment {
  const { cities } = topology;
  const index = new Map(cities.map((c, i) => [c.code, i]));
  const down = new Set(o.down ?? []);
  for (const code of down) {
    const c = cities[index.get(code) ?? -1];
    if (!c || c.pop_hosts === 0) {
      const pops = cities.filter((x) => x.pop_hosts > 0).map((x) => x.code);
      throw new StarlingError('ERR_LAB_DOWN', `"${code}" is not a PoP of topology "${topology.name}"; its PoPs are ${pops.join(', ')}`, {
        fault: 'user',
      });
    }
  }
  const neighbours = cities.map(() => [] as Array<{ n: number; cost: number }>);
  for (const l of topology.links) {
    const a = index.get(l.a);
    const b = index.get(l.b);
    if (a === undefined || b === undefined) throw new StarlingError('ERR_LAB_TOPOLOGY', `link ${l.a}–${l.b} names an unknown city`);
    neighbours[a]!.push({ n: b, cost: l.cost });
    neighbours[b]!.push({ n: a, cost: l.cost });
  }
  const id = (ip: string): number => parseIpv4(ip)!;

  /** Every route router `i` would hold, given its neighbours' current best routes; best first. */
  const candidates = (i: number, best: ReadonlyArray<Route | undefined>): Route[] => {
    const c = cities[i]!;
    const out: Route[] = [];
    if (c.pop_hosts > 0 && !down.has(c.code)) {
      for (let h = 1; h <= c.pop_hosts; h++) {
        out.push({ pop: c.code, asPath: [topology.pop_asn], via: [c.code], from: id(popHostRouterId(i, h)) });
      }
    }
    for (const { n, cost } of neighbours[i]!) {
      const r = best[n];
      if (!r || r.asPath.includes(c.asn)) continue;
      const asn = cities[n]!.asn;
      out.push({ pop: r.pop, asPath: [...Array<number>(cost).fill(asn), ...r.asPath], via: [...r.via, c.code], from: id(cityRouterId(n)) });
    }
    return out.sort(better);
  };

  // Synchronous rounds until nothing changes. Shortest-path preference with loop detection always
  // settles (each round fixes at least the routers one hop further out); the bound only guards bugs.
  let best: Array<Route | undefined> = cities.map(() => undefined);
  for (let round = 0; ; round++) {
    const next = cities.map((_, i) => candidates(i, best)[0]);
    if (next.every((r, i) => sameRoute(r, best[i]))) break;
    best = next;
    if (round > 4 * cities.length + 4) throw new StarlingError('ERR_LAB_CATCHMENT', 'the BGP simulation did not settle');
  }

  const ties: Tie[] = [];
  cities.forEach((c, i) => {
    const all = candidates(i, best);
    const shortest = all.filter((r) => r.asPath.length === all[0]?.asPath.length);
    if (new Set(shortest.map((r) => r.pop)).size > 1) {
      ties.push({ city: c.code, candidates: shortest.map((r) => ({ pop: r.pop, via: r.via, pathLength: r.asPath.length })) });
    }
  });
  return {
    cities: cities.map((c, i) => {
      const r = best[i];
      return r
        ? { city: c.code, pop: r.pop, pathLength: r.asPath.length, asPath: r.asPath, via: r.via }
        : { city: c.code, pop: null, pathLength: 0, asPath: [], via: [] };
    }),
    ties,
  };
}

/** "PoP ams via ams→lhr (length 2)" */
export function describeCandidate(c: TieCandidate): string {
  return `PoP ${c.pop} via ${c.via.join('→')} (length ${c.pathLength})`;
}

/**
 * Refuses a topology in which some router's shortest routes (nothing down) lead to different PoPs:
 * BIRD would choose by router id, which is an accident of numbering, not geography.
 */
export function assertNoTies(topology: Topology): void {
  const { ties } = computeCatchment(topology);
  if (ties.length === 0) return;
  const lines = ties.map(({ city, candidates: [first, ...rest] }) => {
    return `city ${city}: ${describeCandidate(first!)} ties ${rest.map(describeCandidate).join(' and ')}; change a link cost`;
  });
  throw new StarlingError('ERR_LAB_TIE', `topology "${topology.name}" has ties BGP would break by router id:\n${lines.join('\n')}`, {
    fault: 'user',
    hint: 'raise the cost of one of the tied paths\' links so that the nearer PoP wins (docs/lab-topology.md)',
  });
}
