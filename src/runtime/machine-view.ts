/** The MachineManager's record of one machine, and the view of it the Machines API answers. */
import { basename } from 'node:path';
import type { MachineChecks } from './checks.js';
import type { MachineLogs } from './logs.js';
import type { MachineHistory } from './machine-events.js';
import type { MachineView } from './machines.js';
import type { DriverMachine, MachineSpec, MachineState } from './types.js';
import type { TimerHandle } from '../shared/index.js';

/** One machine as the MachineManager holds it. */
export interface Managed {
  spec: MachineSpec;
  drv: DriverMachine;
  state: MachineState;
  created: string;
  updated: string;
  logs: MachineLogs;
  checks: MachineChecks | undefined;
  stopping: boolean;
  retries: number;
  restartTimer: TimerHandle | undefined;
  history: MachineHistory;
  /** A one-off task (CreateOptions.task): no checks, not routed. */
  task: boolean;
}

/** A machine as the Machines API shows it (secrets by name only). */
export function machineView(m: Managed): MachineView {
  const s = m.spec;
  const st = m.checks?.status();
  return {
    id: s.id,
    app: s.app,
    region: s.region,
    state: m.state,
    private_ip: m.drv.address,
    image_ref: s.image.ref,
    created_at: m.created,
    updated_at: m.updated,
    checks: {
      passing: st?.passing ?? false,
      checks: (st?.checks ?? []).map((c) => ({ name: c.name, status: c.status === 'warming' ? 'warning' : c.status, output: c.output, last: c.last, failures: c.failures })),
    },
    events: m.history.events(),
    last_exit: m.history.last ? { ...m.history.last } : null,
    config: {
      image: s.image.ref,
      cmd: s.cmd,
      env: s.env,
      internal_port: s.internal_port,
      guest: s.guest,
      restart: s.restart,
      checks: Object.fromEntries(s.checks.map((c, i) => [`check${i + 1}`, c])),
      secret_names: Object.keys(s.secrets).sort(),
      // Each mount's volume: the last part of its source (<data>/volumes/<app>/<volume>).
      volumes: s.mounts.map((m) => basename(m.source)),
    },
  };
}
