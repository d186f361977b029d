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
} from './types.js';
export { RouteTable, LoadRegistry, type AppRoute, type LoadCell, type MachineRoute } from './table.js';
export { RoutesSpecSchema, RoutesInvalidError, parseRoutesSpec, parseRoutesText } from './schema.js';
export { RoutesWatcher, loadRoutesFile, type RoutesWatcherOptions } from './load.js';
