/**
 * `lab status`: the lab as it is now — each router's BIRD and BGP sessions (over its control
 * socket), each PoP host's agent and announce state (as its router sees it) and any injury `lab
 * fail` left, the control plane, the certificates it holds (each name's state, issuer and expiry),
 * and the catchment measured now with real HTTP from every client.
 */
import { computeCatchment } from './catchment.js';
import { agentAlive, agentBirdPid } from './lab-agents.js';
import { failures, labRootPath, recorded, what, type FailMode, type LabContext } from './lab-context.js';
import { labCa } from './lab-ca.js';
import { downPops } from './lab-fail.js';
import { routerViews, type AnnounceState, type RouterView } from './lab-routers.js';
import { isRecordedAlive } from './lab-state.js';
import { labCertificates, type LabCertificate } from './lab-certs.js';
import { measureCatchment, type CatchmentRow } from './probe.js';

export interface PopHostStatus {
  id: string;
  city: string;
  ns: string;
  address: string;
  agent: boolean;
  bird: boolean;
  announce: AnnounceState;
  failure: FailMode | null;
}

export interface LabStatus {
  lab: string;
  topology: string;
  dir: string;
  createdAt: string;
  upMs: number | null;
  serviceAddress: string;
  /** The IPv6 anycast prefix's service address, served beside `serviceAddress`. */
  serviceAddress6: string;
  app: string;
  control: { ns: string; url: string; running: boolean };
  /** The lab's CA (Pebble, in the control namespace) and the root file its clients trust. */
  ca: { directoryUrl: string; root: string; running: boolean };
  /** Every certificate and every app's names, as the control plane tells them (lab-certs.ts). */
  certificates: LabCertificate[];
  /** Why the certificates could not be asked for (the control plane is down, say); null when they were. */
  certificatesError: string | null;
  routers: Array<RouterView & { ns: string; running: boolean }>;
  pops: PopHostStatus[];
  /** PoPs all of whose hosts are failed: the catchment's expected column assumes them down. */
  down: string[];
  /** What BGP should choose with `down` withdrawn. */
  expected: Record<string, string | null>;
  catchment: CatchmentRow[];
}

export async function labStatus(ctx: LabContext, o: { probe?: boolean } = {}): Promise<LabStatus> {
  const snap = ctx.state.snapshot();
  const alive = (name: string): boolean => {
    const p = recorded(ctx, name);
    return p !== undefined && isRecordedAlive(p);
  };
  let certificatesError: string | null = null;
  const [views, catchment, certificates] = await Promise.all([
    routerViews(ctx),
    o.probe === false ? Promise.resolve([]) : measureCatchment(ctx, { down: downPops(ctx), count: 1 }),
    labCertificates(ctx).catch((e: unknown) => {
      certificatesError = (e as Error).message;
      return [];
    }),
  ]);
  const announce = Object.assign({}, ...views.map((v) => v.hosts)) as Record<string, AnnounceState>;
  const fails = failures(ctx);
  const up = snap.meta.up as { ms?: number } | undefined;
  const down = downPops(ctx);
  return {
    lab: ctx.name,
    topology: ctx.topology.name,
    dir: ctx.dir,
    createdAt: snap.createdAt,
    upMs: typeof up?.ms === 'number' ? up.ms : null,
    serviceAddress: ctx.plan.serviceAddress,
    serviceAddress6: ctx.plan.serviceAddress6,
    app: ctx.appHost,
    control: { ns: ctx.plan.control.ns, url: ctx.plan.control.url, running: alive(what.control()) },
    ca: { directoryUrl: labCa(ctx).directoryUrl, root: labRootPath(ctx), running: alive(what.pebble()) && alive(what.challtestsrv()) },
    certificates,
    certificatesError,
    routers: views.map((v) => ({ ...v, ns: ctx.plan.routers.find((r) => r.city === v.city)!.ns, running: alive(what.router(v.city)) })),
    pops: ctx.plan.popHosts.map((h) => ({
      id: h.id,
      city: h.city,
      ns: h.ns,
      address: h.address,
      agent: agentAlive(ctx, h.id),
      bird: agentBirdPid(ctx, h.id) !== undefined,
      announce: announce[h.id] ?? 'down',
      failure: fails[h.id] ?? null,
    })),
    down,
    expected: Object.fromEntries(computeCatchment(ctx.topology, { down }).cities.map((c) => [c.city, c.pop])),
    catchment,
  };
}
