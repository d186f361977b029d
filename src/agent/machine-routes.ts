/**
 * Where the host's machines meet its proxy inside an agent: the machines join the routing view,
 * and the proxy's autostart/autostop act on them.
 */
import type { MachineControl, RoutesSpec } from '../proxy/index.js';
import type { MachineManager } from '../runtime/index.js';

/**
 * The routing view the proxy gets inside an agent: the routes file names the apps and hostnames,
 * and this host's machines of those apps join the ones the file lists.
 */
export function mergeMachineRoutes(manager: MachineManager, spec: RoutesSpec): RoutesSpec {
  return {
    ...spec,
    apps: spec.apps.map((a) => {
      const own = manager.routesFor(a.name).filter((m) => !a.machines.some((x) => x.id === m.id));
      return own.length === 0 ? a : { ...a, machines: [...a.machines, ...own] };
    }),
  };
}

/** What the proxy's autostart/autostop may do with this host's machines. */
export function machineControl(manager: MachineManager): MachineControl {
  return {
    start: async (app, id) => void (await manager.start(app, id, { reason: 'autostarted: request' })),
    // fly's suspend keeps memory; the sandbox driver cannot, so suspend stops. A machine of another
    // host (in the routes through its host's proxy) is that host's to stop.
    stop: async (app, id) => {
      const m = manager.get(app, id);
      if (m) await manager.stop(app, id, { reason: `autostopped: excess capacity in ${m.region}` });
    },
  };
}
