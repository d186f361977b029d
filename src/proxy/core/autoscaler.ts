import type { AppRoute, RouteTable } from '../route-table/index.js';
import { machinesToStop, machineToStart } from './autoscale.js';
import type { Autoscaling, MachineControl, ProxyConfig } from './context.js';

/**
 * The proxy's calls to the runtime for fly's autostart and autostop. The rules are pure
 * (autoscale.ts); this holds what they need between requests — the machines asked to start, until
 * they serve or their deadline passes — and makes the calls. Without a runtime (the proxy alone)
 * it starts and stops nothing.
 */
export class Autoscaler implements Autoscaling {
  /**
   * Machines autostart asked for (`app/id` → monotonic deadline), until they serve (usable in the
   * routes) or the deadline passes: requests wait for them rather than start more.
   */
  private readonly starting = new Map<string, number>();

  constructor(
    private readonly config: ProxyConfig,
    private readonly control: MachineControl | undefined,
  ) {}

  /**
   * A request found no started machine with room: asks the runtime to start the nearest stopped
   * one (in `regions` only, when the request is restricted to them). True when one is (now, or
   * already) starting there, so the request may wait for it.
   */
  start(app: AppRoute, regions?: readonly string[]): boolean {
    const control = this.control;
    if (!app.autoStart || !control) return false;
    const { clock, region, limits, metrics, logger } = this.config;
    const now = clock.monotonic();
    const m = machineToStart(app, region, this.starting, regions);
    if (!m) return app.machines.some((x) => (regions === undefined || regions.includes(x.region)) && (this.starting.get(x.key) ?? 0) > now);
    this.starting.set(m.key, now + limits.queueTimeoutMs);
    metrics.autostart(app.name);
    logger.info('autostart', { app: app.name, machine: m.id, region: m.region });
    control.start(app.name, m.id).then(
      () => undefined, // it stays "starting" until the routes show it usable (routesChanged) or its deadline
      (e: unknown) => {
        this.starting.delete(m.key);
        logger.warn('autostart failed', { app: app.name, machine: m.id, error: (e as Error).message });
      },
    );
    return true;
  }

  /** New routes: a machine they show usable is no longer waited for. */
  routesChanged(routes: RouteTable): void {
    for (const key of this.starting.keys()) {
      const [app, id] = key.split('/');
      if (routes.usable(app!, id!)) this.starting.delete(key);
    }
  }

  /** From the proxy's sweep: starts that did not serve by their deadline are forgotten. */
  sweep(now: number): void {
    for (const [key, deadline] of this.starting) if (deadline <= now) this.starting.delete(key);
  }

  /** One autostop round: stop (or suspend) what the load does not need, at most one per region. */
  stopIdle(routes: RouteTable): void {
    const control = this.control;
    if (!control) return;
    const { metrics, logger } = this.config;
    for (const app of routes.autoscaled()) {
      for (const m of machinesToStop(app)) {
        metrics.autostop(app.name);
        logger.info('autostop', { app: app.name, machine: m.id, region: m.region, mode: app.autoStop });
        control.stop(app.name, m.id, app.autoStop === 'suspend' ? 'suspend' : 'stop').catch((e: unknown) =>
          logger.warn('autostop failed', { app: app.name, machine: m.id, error: (e as Error).message }),
        );
      }
    }
  }
}
