/**
 * The routes file: its types, its schema and parser, the table the request path looks hosts and
 * machines up in, and the loader/watcher that keeps that table in step with the file.
 */
export {
  MACHINE_STATES,
  type AppHeaders,
  type AppSpec,
  type ConcurrencyType,
  type MachineSpec,
  type MachineState,
  type RoutesSpec,
  type ServiceSpec,
  type StaticSpec,
  type TcpHandler,
  type TcpPortSpec,
  type TcpServiceSpec,
} from './types.js';
export { TcpTable, type TcpRoute, type TcpPortRoute } from './tcp-table.js';
export { RouteTable, LoadRegistry } from './table.js';
export type { AppRoute, LoadCell, MachineRoute, StaticMount } from './compiled.js';
export { RoutesSpecSchema, RoutesInvalidError, parseRoutesSpec, parseRoutesText } from './schema.js';
export { RoutesWatcher, loadRoutesFile, type RoutesWatcherOptions } from './load.js';
