/**
 * The runtime drivers by the name agent.toml's `[runtime] driver` gives them: one entry per driver,
 * each making its driver from the same host facts. A new driver (the microVM one) is a new row.
 */
import type { Clock, Logger } from '../shared/index.js';
import { SandboxDriver } from './drivers/sandbox.js';
import type { MachineSpec, RuntimeDriver } from './types.js';

/** What every driver is made from: the host's facts, as the agent knows them. */
export interface DriverContext {
  /** Per-machine state and images live under it. */
  dataDir: string;
  /** Host-side link names start with `bridge`; machines' /30s come from `network`. */
  bridge: string;
  network: string;
  /** TCP ports a machine may reach on its host (the proxy's). */
  publicPorts: number[];
  uidBase: number;
  allowHostRoot: boolean;
  /** Directories above dataDir the agent owns, which machines' uids must pass (o+x). */
  traversable: string[];
  /** An OCI image's root filesystem unpacked for an app's uids (the agent's host image store). */
  rootfs?: ((image: MachineSpec['image'], uidShift: number) => Promise<string>) | undefined;
  clock: Clock;
  logger: Logger;
}

export const DRIVERS = {
  sandbox: (c: DriverContext): RuntimeDriver =>
    new SandboxDriver({
      stateDir: c.dataDir,
      bridge: { name: c.bridge, cidr: c.network },
      publicPorts: c.publicPorts,
      uidBase: c.uidBase,
      allowHostRoot: c.allowHostRoot,
      traversable: c.traversable,
      rootfs: c.rootfs,
      clock: c.clock,
      logger: c.logger,
    }),
} as const satisfies Record<string, (c: DriverContext) => RuntimeDriver>;

export type DriverName = keyof typeof DRIVERS;
export const DRIVER_NAMES = Object.keys(DRIVERS) as DriverName[];

export function makeDriver(name: DriverName, c: DriverContext): RuntimeDriver {
  return DRIVERS[name](c);
}
