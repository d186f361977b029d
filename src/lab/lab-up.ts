/**
 * `starling lab up`: a small internet on this computer, step by step, each step timed —
 *   topology (checked, tie-free) → network (namespaces, veths) → routers (one BIRD per city) →
 *   CA (Pebble and its DNS, in the control namespace) → control plane (ordering certificates from it) → agents (one per PoP host; each announces the anycast prefix once its proxy is
 *   healthy) → the demo app deployed with the real CLI and scaled to every PoP region → every PoP
 *   announcing and serving → every PoP serving the demo app over HTTPS with a certificate issued
 *   through the platform → the catchment measured with real HTTP from every client namespace.
 * Everything made is in the lab's state file before (namespaces) or right after (processes) it is
 * made, so `lab down` undoes a lab that failed halfway, or whose `lab up` was killed.
 */
import { join } from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { StarlingError, type Clock, type Logger } from '../shared/index.js';
import { assertNoTies } from './catchment.js';
import { buildFabric } from './fabric.js';
import { labDown } from './lab-down.js';
import { agentAlive, agentLog, recordAgentBird, startAgent } from './lab-agents.js';
import { createLabContext, labDir, labRootPath, logTail, type LabContext } from './lab-context.js';
import { labControlAccess, type LabControlAccess } from './lab-access.js';
import { addHosts, deployDemo, startControl } from './lab-control.js';
import { startCa } from './lab-ca.js';
import { waitHttps } from './lab-certs.js';
import { routerViews, startRouters, type RouterView } from './lab-routers.js';
import { readLabState } from './lab-state.js';
import { measureCatchment, until, waitHttp, type CatchmentRow } from './probe.js';
import type { Topology } from './topology.js';

export interface LabStep {
  name: string;
  detail: string;
  ms: number;
}

export interface LabUpOptions {
  name: string;
  topology: Topology;
  baseDir?: string;
  clock?: Clock;
  logger?: Logger;
  /** Hears each step as it finishes (the CLI prints one line per step). */
  onStep?: (s: LabStep) => void;
  /** Hears a step as it starts (for a live display). */
  onStart?: (name: string) => void;
  /** Take down what was made when a step fails (default true). */
  teardownOnFailure?: boolean;
  /** Aborting stops at the end of the running step (then the lab is taken down, as on a failure). */
  signal?: AbortSignal;
}

export interface LabUpReport {
  lab: string;
  dir: string;
  steps: LabStep[];
  catchment: CatchmentRow[];
  /** Wall time of the whole `lab up`. */
  ms: number;
  serviceAddress: string;
  /** Client cities, PoP cities first then the others (for hints). */
  clientCities: string[];
  popHosts: string[];
  /** The PoPs' regions, the demo app's primary first. */
  popRegions: string[];
  /** Pebble's issuing root (PEM file): what HTTPS clients of the lab trust. */
  root: string;
  /** How a CLI outside the lab reaches its control plane (the CLI keeps it for --lab). */
  access: LabControlAccess;
}

export async function labUp(o: LabUpOptions): Promise<LabUpReport> {
  const dir = labDir(o.name, o.baseDir);
  if (readLabState(dir)) {
    throw new StarlingError('ERR_LAB_EXISTS', `lab "${o.name}" is already up (state in ${dir})`, {
      fault: 'user',
      hint: `take it down first (starling lab down${o.name === 'default' ? '' : ` --name ${o.name}`}), or give another --name`,
    });
  }
  assertNoTies(o.topology);
  const ctx = createLabContext(o.name, o.topology, { baseDir: o.baseDir, clock: o.clock, logger: o.logger });
  const t0 = ctx.clock.monotonic();
  const steps: LabStep[] = [];
  const aborted = (): void => {
    if (o.signal?.aborted) throw new StarlingError('ERR_LAB_INTERRUPTED', 'lab up was interrupted', { fault: 'user' });
  };
  const step = async <T>(name: string, run: () => Promise<T>, detail: (r: T) => string): Promise<T> => {
    aborted();
    o.onStart?.(name);
    const t = ctx.clock.monotonic();
    const r = await run();
    aborted();
    const s = { name, detail: detail(r), ms: Math.round(ctx.clock.monotonic() - t) };
    steps.push(s);
    ctx.logger.info('lab step done', { lab: ctx.name, step: name, ms: s.ms });
    o.onStep?.(s);
    return r;
  };
  try {
    const { plan } = ctx;
    const t = o.topology;
    const pops = [...new Set(plan.popHosts.map((h) => h.city))];
    steps.push({ name: 'topology', detail: `${t.name}: ${t.cities.length} cities, ${t.links.length} links, PoPs ${pops.join(', ')} (${plan.popHosts.length} hosts); no ties`, ms: Math.round(ctx.clock.monotonic() - t0) });
    o.onStep?.(steps[0]!);
    await step('network', () => buildFabric(plan.fabric, ctx.state, undefined, { clock: ctx.clock }), (r) => `${r.namespaces} namespaces, ${r.links} veth pairs`);
    await step('routers', () => startRouters(ctx), () => `${plan.routers.length} BIRDs (${plan.routers.map((r) => r.city).join(', ')})`);
    await step('CA', () => startCa(ctx), (ca) => `pebble at ${ca.directoryUrl}; its DNS: every name → ${plan.serviceAddress}`);
    await step('control plane', () => startControl(ctx), () => `starling control run at ${plan.control.url} (namespace ${plan.control.ns})`);
    await step('hosts', () => addHosts(ctx), () => `starling hosts add × ${plan.popHosts.length}: a one-time join token for each`);
    await step('agents', () => startAgents(ctx), () => `${plan.popHosts.length} × starling agent run (${plan.popHosts.map((h) => h.id).join(', ')}), joined and registered`);
    const sessions = 2 * (t.links.length + plan.popHosts.length);
    await step('BGP', () => waitAnnounced(ctx), () => `${sessions} sessions established; every PoP host announces ${plan.anycast} and ${plan.anycast6}`);
    await step('deploy', () => deployDemo(ctx, (what, ms) => ctx.logger.info('lab deploy', { what, ms: Math.round(ms) })), () => `${ctx.appHost}: deploy, then scale count 1 --region ${pops.join(',')}`);
    await step('serving', () => waitServing(ctx), () => `every PoP host answers for ${ctx.appHost} from a machine in its region`);
    await step('HTTPS', () => waitHttps(ctx), () => `https://${ctx.appHost}/ at every PoP host, certificate from Pebble`);
    const catchment = await step('catchment', () => measureCatchment(ctx), (rows) => `${rows.filter((r) => r.ok).length}/${rows.length} cities reach their expected PoP, over IPv4 and IPv6`);
    const ms = Math.round(ctx.clock.monotonic() - t0);
    ctx.state.setMeta('up', { ms, steps: steps.map((s) => ({ name: s.name, ms: s.ms })) });
    const withPop = new Set(pops);
    const clientCities = [...plan.clients.filter((c) => !withPop.has(c.city)), ...plan.clients.filter((c) => withPop.has(c.city))].map((c) => c.city);
    return { lab: ctx.name, dir: ctx.dir, steps, catchment, ms, serviceAddress: plan.serviceAddress, clientCities, popHosts: plan.popHosts.map((h) => h.id), popRegions: pops, root: labRootPath(ctx), access: labControlAccess(ctx) };
  } catch (e) {
    if (o.teardownOnFailure !== false) await labDown(o.name, { baseDir: o.baseDir, clock: ctx.clock }).catch(() => undefined);
    throw e;
  }
}

/** Starts every PoP host's agent, then waits until each has registered with the control plane. */
async function startAgents(ctx: LabContext, timeoutMs = 30_000): Promise<void> {
  for (const h of ctx.plan.popHosts) startAgent(ctx, h);
  const registered = (id: string): boolean => existsSync(agentLog(ctx, id)) && readFileSync(agentLog(ctx, id), 'utf8').includes('"sync snapshot taken"');
  await until(
    ctx.clock,
    () => {
      for (const h of ctx.plan.popHosts) {
        if (!agentAlive(ctx, h.id)) throw new StarlingError('ERR_LAB_AGENT', `the agent of ${h.id} exited at start:\n${logTail(agentLog(ctx, h.id))}`);
      }
      return ctx.plan.popHosts.every((h) => registered(h.id));
    },
    'every agent to register with the control plane',
    timeoutMs,
    100,
    () => ctx.plan.popHosts.filter((h) => !registered(h.id)).map((h) => `${h.id}:\n${logTail(agentLog(ctx, h.id), 4)}`).join('\n'),
  );
}

/**
 * Waits until every PoP host announces (its router holds its routes, both families, untagged), every
 * session is established and every router has a route to both service addresses; records the agents' BIRDs.
 */
export async function waitAnnounced(ctx: LabContext, timeoutMs = 30_000): Promise<RouterView[]> {
  let views: RouterView[] = [];
  await until(
    ctx.clock,
    async () => {
      views = await routerViews(ctx);
      return views.every((v) => v.up && v.pop !== null && v.pop6 !== null && v.sessions.every((s) => s.state === 'Established') && Object.values(v.hosts).every((a) => a === 'announced'));
    },
    'every PoP to announce the anycast prefixes',
    timeoutMs,
    100,
    () => views.map((v) => `${v.city}: ${v.sessions.map((s) => `${s.name} ${s.state}`).join(', ')}; anycast via ${v.pop ?? 'none'}, IPv6 via ${v.pop6 ?? 'none'}`).join('\n'),
  );
  for (const h of ctx.plan.popHosts) recordAgentBird(ctx, h);
  return views;
}

/** Waits until each PoP host's proxy answers for the demo app from a machine in its own region (its own, or a sibling host's). */
export async function waitServing(ctx: LabContext, timeoutMs = 90_000): Promise<void> {
  await Promise.all(
    ctx.plan.popHosts.map((h) =>
      waitHttp(h.ns, { url: `http://${ctx.plan.serviceAddress}/`, host: ctx.appHost, region: h.city, deadlineMs: timeoutMs, timeoutMs: 2000, everyMs: 200 }, `${h.id} to serve ${ctx.appHost} from a machine in ${h.city}`).catch((e: unknown) => {
        throw new StarlingError('ERR_LAB_SERVING', `${(e as Error).message}\nagent ${h.id} log (${join(ctx.dir, 'hosts', h.id, 'agent.log')}):\n${logTail(agentLog(ctx, h.id))}`, { cause: e });
      }),
    ),
  );
}
