/**
 * Public ports are the platform's, not an app's: every PoP serves every app's TCP services on the
 * same anycast address, so one port can belong to one app only. A deploy whose release claims a
 * port another app's deployed release (or its running deploy) holds is refused (409) before any
 * machine is touched, and so is a port every host already uses for the platform itself: the HTTP
 * edge (80, 443), BGP (179), the hosts' proxy and agent ports. The agent still reports a port it
 * cannot bind for a reason the control plane cannot see (another program on one host).
 */
import { parseAppConfigDocument, tcpServicesOf, type AppConfig, type AppDoc, type HostDoc, type ReleaseDoc } from '../../contract/index.js';
import { ACTIVE_STATES, type DeployDoc } from '../deploy/index.js';
import { HttpError } from './http.js';
import { releaseKey, type ApiContext } from './schemas.js';

interface Claim {
  proto: 'tcp' | 'udp';
  lo: number;
  hi: number;
  /** Where the config says it: `services[1].ports[0]`. */
  at: string;
}

/** The public ports a release's config claims beyond the HTTP service's 80 and 443. */
export function publicPortClaims(config: AppConfig): Claim[] {
  const out: Claim[] = [];
  for (const { service, ports } of tcpServicesOf(config)) {
    for (const p of ports) out.push({ proto: 'tcp', lo: p.start_port, hi: p.end_port, at: `${service.source}.ports[${service.ports.indexOf(p)}]` });
  }
  for (const s of config.services) {
    if (s.protocol !== 'udp') continue;
    s.ports.forEach((p, j) => out.push({ proto: 'udp', lo: p.start_port, hi: p.end_port, at: `${s.source}.ports[${j}]` }));
  }
  return out;
}

const what = (c: Claim): string => (c.lo === c.hi ? `port ${c.lo}` : `ports ${c.lo}-${c.hi}`);
const overlaps = (a: Claim, b: Claim): boolean => a.proto === b.proto && a.lo <= b.hi && b.lo <= a.hi;

/** The platform's own TCP ports on every host, with what holds them. */
async function platformPorts(ctx: ApiContext): Promise<{ port: number; why: string }[]> {
  const out = [
    { port: 80, why: "the edge's HTTP port" },
    { port: 443, why: "the edge's HTTPS port" },
    { port: 179, why: 'BGP (the hosts announce the anycast prefix on it)' },
  ];
  for (const e of await ctx.store.list('hosts')) {
    const h = e.value as HostDoc;
    const proxy = Number(/:(\d+)$/.exec(h.proxy ?? '')?.[1]);
    const agent = Number(/:(\d+)(?:\/|$)/.exec(h.agent_url)?.[1]);
    if (proxy) out.push({ port: proxy, why: `the proxy's port on host ${h.id}` });
    if (agent) out.push({ port: agent, why: `the agent's admin API on host ${h.id}` });
  }
  return out;
}

/** Refuses a release whose public ports clash with the platform's or another app's (see above). */
export async function checkPublicPorts(ctx: ApiContext, app: AppDoc, config: AppConfig): Promise<void> {
  const mine = publicPortClaims(config);
  if (mine.length === 0) return;
  const problems: string[] = [];
  const reserved = await platformPorts(ctx);
  for (const c of mine) {
    if (c.proto !== 'tcp') continue;
    const r = reserved.find((x) => c.lo <= x.port && x.port <= c.hi);
    if (r) problems.push(`${c.at}: port ${r.port} is ${r.why}`);
  }
  const active = new Map<string, number>();
  for (const e of await ctx.store.list('deploys')) {
    const d = e.value as DeployDoc;
    if (ACTIVE_STATES.includes(d.state) || d.state === 'interrupted') active.set(d.app, d.release);
  }
  for (const e of await ctx.store.list('apps')) {
    const other = e.value as AppDoc;
    if (other.name === app.name) continue;
    for (const version of new Set([other.deployed_release ?? 0, active.get(other.name) ?? 0])) {
      if (!version) continue;
      const rel = (await ctx.store.get('releases', releaseKey(other.name, version)))?.value as ReleaseDoc | undefined;
      let theirs: Claim[];
      try {
        theirs = rel ? publicPortClaims(parseAppConfigDocument(rel.config, 'release config').config) : [];
      } catch {
        continue; // a release that no longer parses is routed by nobody (sync/control-routes.ts)
      }
      // Another org's app is not named: its name is that org's business.
      const owner = (other.org ?? 'personal') === (app.org ?? 'personal') ? `app ${other.name}` : 'an app of another organization';
      for (const c of mine) {
        const t = theirs.find((x) => overlaps(c, x));
        if (t) problems.push(`${c.at}: ${what(c)} (${c.proto}) is already taken by ${owner} (${what(t)})`);
      }
    }
  }
  if (problems.length === 0) return;
  throw new HttpError(409, 'ERR_PORT_TAKEN', `release cannot be deployed: ${[...new Set(problems)].join('; ')}; public ports are shared by every app on the platform's anycast address: choose another`);
}
