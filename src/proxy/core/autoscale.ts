import type { AppRoute, MachineRoute } from '../route-table/index.js';

/**
 * fly's autostart and autostop rules, as pure decisions over the routing view (fly-compat.md):
 * - autostart: when no started machine has room, a request starts a stopped machine in the nearest
 *   region that has one (among the regions it is restricted to: a forced region, a replay's
 *   regions); the proxy never creates machines;
 * - autostop, per region: excess = N − (machines over soft_limit + 1); if excess ≥ 1 stop one idle
 *   machine; a region with a single machine is stopped only at zero load; `min_machines_running`
 *   (counted in the primary region) is never undercut.
 */
const STARTABLE = new Set(['stopped', 'suspended', 'created']);

/**
 * The stopped machine to start for a request at `edge`, nearest region first, only in `regions`
 * when given (the request may be served nowhere else); undefined if none.
 */
export function machineToStart(app: AppRoute, edge: string, starting: { has(key: string): boolean }, regions?: readonly string[]): MachineRoute | undefined {
  for (const region of app.regionsFrom(edge)) {
    if (regions !== undefined && !regions.includes(region)) continue;
    for (const m of app.byRegion.get(region) ?? []) {
      // A machine of another host (reached through its proxy) is that host's to start: its proxy
      // autostarts it for the requests that reach it; asking this host's runtime would only fail.
      if (STARTABLE.has(m.state) && !m.peer && !starting.has(m.key)) return m;
    }
  }
  return undefined;
}

/**
 * When no machine of this host can start: a stopped machine of another host, nearest region first
 * (only in `regions` when given, never one in `exclude`: tried already), to send the request to.
 * Its host's proxy starts it for the request and holds it until it serves, as for its own
 * requests; this proxy cannot start it (a machine is its host's to run). Only when the app autostarts.
 */
export function peerToWake(app: AppRoute, edge: string, regions?: readonly string[], exclude?: ReadonlySet<MachineRoute>): MachineRoute | undefined {
  if (!app.autoStart) return undefined;
  for (const region of app.regionsFrom(edge)) {
    if (regions !== undefined && !regions.includes(region)) continue;
    for (const m of app.byRegion.get(region) ?? []) if (m.peer && STARTABLE.has(m.state) && !exclude?.has(m)) return m;
  }
  return undefined;
}

/** Whether every usable machine is at or over soft_limit (then a stopped one should start). */
export function allOverSoftLimit(app: AppRoute): boolean {
  let any = false;
  for (const m of app.machines) {
    if (!m.usable) continue;
    any = true;
    if (m.load.inflight < app.softLimit) return false;
  }
  return any;
}

/** Machines autostop should stop now (at most one per region per round). */
export function machinesToStop(app: AppRoute): MachineRoute[] {
  if (app.autoStop === 'off') return [];
  const out: MachineRoute[] = [];
  let primaryStarted = app.primaryRegion === undefined ? 0 : (app.byRegion.get(app.primaryRegion) ?? []).filter((m) => m.state === 'started').length;
  for (const [region, machines] of app.byRegion) {
    const started = machines.filter((m) => m.state === 'started');
    if (started.length === 0) continue;
    const over = started.filter((m) => m.load.inflight >= app.softLimit).length;
    const idle = started.filter((m) => m.load.inflight === 0);
    const excess = started.length - (over + 1);
    const single = started.length === 1 && idle.length === 1;
    if ((excess < 1 && !single) || idle.length === 0) continue;
    const floor = app.primaryRegion === undefined ? app.minMachinesRunning : region === app.primaryRegion ? app.minMachinesRunning : 0;
    const count = app.primaryRegion === undefined ? started.length : region === app.primaryRegion ? primaryStarted : Infinity;
    if (count - 1 < floor) continue;
    if (region === app.primaryRegion) primaryStarted--;
    out.push(idle[idle.length - 1]!);
  }
  return out;
}
