export type {
  CheckSpec,
  DriverMachine,
  ExecRequest,
  ExitInfo,
  GuestLimits,
  MachineSpec,
  MachineState,
  MountSpec,
  RestartPolicy,
  RuntimeDriver,
} from './types.js';
export { SandboxDriver, type SandboxDriverOptions, type SandboxTraces } from './drivers/sandbox.js';
export { machineEnv } from './drivers/sandbox-args.js';
export { DEFAULT_UID_BASE, BLOCK_SIZE as UID_BLOCK_SIZE } from './drivers/sandbox-userns.js';
export { prepareImage, treeDigest, type PreparedImage } from './images.js';
// Written alongside by the logs/checks work; re-exported here so the agent imports only this file.
export { MachineLogs, MAX_LINE, type LogEntry, type LogStream, type MachineLogsOptions } from './logs.js';
export {
  MachineChecks,
  checksChannel,
  type CheckResult,
  type CheckStatus,
  type ChecksStatus,
  type MachineChecksOptions,
} from './checks.js';
export { MachineManager, type CreateOptions, type MachineManagerOptions } from './machine-manager.js';
export { MACHINE_STATES, type CheckView, type CreateMachineRequest, type MachinesPort, type MachineView } from './machines.js';
export { DRIVERS, DRIVER_NAMES, makeDriver, type DriverContext, type DriverName } from './driver-table.js';
export { MAX_MACHINE_EVENTS, exitMessage, type LastExit, type MachineEvent, type MachineEventType } from './machine-events.js';
