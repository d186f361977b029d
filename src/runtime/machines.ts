import type { CheckSpec, GuestLimits, MachineState, RestartPolicy } from './types.js';
import type { LogEntry } from './logs.js';
import type { LastExit, MachineEvent } from './machine-events.js';

/**
 * The host's machines as the local Machines API (agent/admin) sees them: the MachineManager
 * implements this port, tests use a fake. The API validates names and bodies, holds the leases and shapes
 * every answer; the port owns the machines.
 *
 * Errors: throw StarlingError `ERR_APP_NOT_FOUND` for an app this host does not run and
 * `ERR_MACHINE_NOT_FOUND` for an unknown machine (both answered 404); other user-fault errors are
 * answered 400, the rest 500. No error message may carry a secret's value.
 */
export interface MachinesPort {
  list(app: string): MachineView[];
  get(app: string, id: string): MachineView | undefined;
  create(app: string, req: CreateMachineRequest): Promise<MachineView>;
  start(app: string, id: string): Promise<MachineView | void>;
  stop(app: string, id: string, opts: { signal?: NodeJS.Signals | undefined; timeout_ms?: number | undefined }): Promise<MachineView | void>;
  destroy(app: string, id: string, opts: { force?: boolean }): Promise<MachineView | void>;
  /** Resolves true once the machine is in `state` (at once if it is), false after `timeoutMs`. */
  waitFor(app: string, id: string, state: MachineState, timeoutMs: number): Promise<boolean>;
  /** The newest `tail` entries of the machine's log ring (all of them without `tail`), oldest first. */
  logs(app: string, id: string, opts: { tail?: number | undefined }): { entries: LogEntry[] };
  /** Calls `cb` with every new entry until the returned function is called. */
  followLogs(app: string, id: string, cb: (entry: LogEntry) => void): () => void;
}

/** A check as the Machines API shows it, with fly's status names. */
export interface CheckView {
  name: string;
  status: 'passing' | 'warning' | 'critical';
  output: string;
  /** When it last ran (ISO 8601); undefined before the first run. */
  last: string | undefined;
  /** Failed runs in a row after the grace period. */
  failures?: number;
}

/** A machine as the API shows it. Secrets appear by name only, never by value. */
export interface MachineView {
  id: string;
  app: string;
  region: string;
  state: MachineState;
  private_ip: string | undefined;
  image_ref: string;
  /** ISO 8601. */
  created_at: string;
  updated_at: string;
  checks: { passing: boolean; checks: CheckView[] };
  /** The newest events (machine-events.ts), oldest first. */
  events?: MachineEvent[];
  /** The process's last end; null while it never ended. */
  last_exit?: LastExit | null;
  config: {
    image: string;
    cmd: string[];
    env: Record<string, string>;
    internal_port: number;
    guest: GuestLimits;
    restart: { policy: RestartPolicy; max_retries: number };
    checks: Record<string, CheckSpec>;
    secret_names: string[];
    /** The volumes it mounts (their names on this host: a platform volume's id). */
    volumes: string[];
  };
}

/**
 * `POST /v1/apps/{app}/machines`, validated (agent/admin parses it). What is left out is the manager's to default (region:
 * the agent's; guest, restart, internal_port: the host's defaults); check timings are filled in here.
 */
export interface CreateMachineRequest {
  region?: string | undefined;
  config: {
    image: string;
    cmd?: string[] | undefined;
    env?: Record<string, string> | undefined;
    secrets?: Record<string, string> | undefined;
    internal_port?: number | undefined;
    guest?: Partial<GuestLimits> | undefined;
    restart?: { policy: RestartPolicy; max_retries?: number | undefined } | undefined;
    checks?: Record<string, CheckSpec> | undefined;
    /** A named volume of this host mounted read-write at `path` (fly's shape: no host paths). */
    mounts?: { volume: string; path: string }[] | undefined;
    /** An OCI image's USER as written ('' is root); only for an image of its own root filesystem. */
    user?: string | undefined;
    /** The working directory inside (an OCI image's WORKDIR); default /app, or / for an image's own root. */
    workdir?: string | undefined;
    /** fly's [[files]], resolved: an absolute path inside and the contents (MachineSpec.files). */
    files?: { guest_path: string; content_base64: string }[] | undefined;
  };
  /** Create the machine stopped (state `created`). */
  skip_start?: boolean | undefined;
}

export const MACHINE_STATES = ['created', 'starting', 'started', 'stopping', 'stopped', 'destroying', 'destroyed', 'failed'] as const;
// Fails to compile when MachineState gains a name this list lacks.
const _allStates: Record<Exclude<MachineState, (typeof MACHINE_STATES)[number]>, never> = {};
void _allStates;

export type { LogEntry };
