/**
 * Machines: one running instance of an app release on one host. fly's state names (fly-compat.md).
 * A driver runs machines (sandbox now, QEMU microVM next); the MachineManager owns their lifecycle.
 */
import type { ChildProcess } from 'node:child_process';

export type MachineState =
  | 'created'
  | 'starting'
  | 'started'
  | 'stopping'
  | 'stopped'
  | 'destroying'
  | 'destroyed'
  | 'failed';

export type RestartPolicy = 'always' | 'never' | 'on-failure';

export interface CheckSpec {
  type: 'http' | 'tcp';
  /** Port inside the machine (default: the service's internal_port). */
  port?: number | undefined;
  /** HTTP only. */
  method?: string | undefined;
  path?: string | undefined;
  grace_period_ms: number;
  interval_ms: number;
  timeout_ms: number;
}

export interface GuestLimits {
  memory_mb: number;
  /** CPU quota in cores (0.5 = half a core). */
  cpus: number;
  pids: number;
  /**
   * fly's cpu_kind: `performance` machines get ten times the CPU weight of `shared` ones (cgroup
   * cpu.weight 1000 against 100; v1 cpu.shares 10240 against 1024), so under contention they get
   * ten times the share of a core, each still capped at `cpus`. Absent: shared.
   */
  cpu_kind?: 'shared' | 'performance' | undefined;
}

export interface MountSpec {
  /** Host directory (a volume) bound read-write. */
  source: string;
  destination: string;
}

/** Everything needed to run one machine. Secrets are values here; they never reach logs. */
export interface MachineSpec {
  id: string;
  app: string;
  region: string;
  /**
   * A prepared image. `base: 'host'` (or absent): `dir` holds the app, bound read-only at /app over
   * the host's /usr. `base: 'image'`: the image is the machine's own `/` — the sandbox driver asks
   * its `rootfs` option for the unpacked root filesystem and runs it under a writable overlay.
   */
  image: { dir: string; digest: string; ref: string; base?: 'host' | 'image' | undefined };
  /** argv run inside the machine, e.g. ['node', 'server.js'] (cwd: `workdir`). */
  cmd: string[];
  env: Record<string, string>;
  secrets: Record<string, string>;
  internal_port: number;
  guest: GuestLimits;
  mounts: MountSpec[];
  restart: { policy: RestartPolicy; max_retries: number };
  kill_signal: NodeJS.Signals;
  kill_timeout_ms: number;
  checks: CheckSpec[];
  /**
   * Who the app runs as inside the machine: ids, or an image's USER as written ('' = root, 'app',
   * '1000', '1000:1000', 'app:staff'), names resolved against the image's /etc/passwd and
   * /etc/group. Default: 1000:1000 ("app", HOME /home/app) on the host base, root on an image base.
   * Root inside is the app's first host uid, never the host's root.
   */
  user?: { uid: number; gid: number } | string | undefined;
  /** The cwd inside; default /app on the host base, / on an image base. */
  workdir?: string | undefined;
  /**
   * fly's [[files]]: each written (0444) on the host and bound read-only at `guest_path` inside.
   * The path's directory must exist or be creatable in the machine's view (an image's own root is
   * writable; on the host base, under /tmp or the home directory). Contents may be secrets: never logged.
   */
  files?: { guest_path: string; content_base64: string }[] | undefined;
  /** Its fly process group, FLY_PROCESS_GROUP inside; default `app`. */
  process_group?: string | undefined;
  /**
   * Its address on the private network (IPv6, docs/private-network.md), when its host is on the
   * mesh: FLY_PRIVATE_IP and `fly-local-6pn` inside, reachable by its organisation's machines only.
   */
  private_ip?: string | undefined;
}

/** What a driver reports about a running process. */
export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A command to run inside a machine (RuntimeDriver.exec). */
export interface ExecRequest {
  /** argv, e.g. ['/bin/sh', '-c', 'ls']. */
  cmd: string[];
  /** On a pseudo-terminal inside the machine (stdout and stderr merged, as a terminal does). */
  tty: boolean;
  /** The terminal's size with `tty`, when the client knows it. */
  size?: { cols: number; rows: number } | undefined;
}

export interface DriverMachine {
  readonly id: string;
  /** The machine's private address on the host's machine network (reachable from the host). */
  readonly address: string;
  /** Limits that were asked for but could not be applied on this host, with the reason. */
  readonly notApplied: string[];
  /**
   * An image-base machine's image as the host sees it, read-only: the directory the machine has as
   * `/` (under its writable layer). The edge serves `[[statics]]` from it. Undefined: host base
   * (its image is `spec.image.dir`, at /app), or a driver that cannot say.
   */
  readonly imageRoot?: string | undefined;
}

/**
 * One interface per runtime. `prepare` sets up everything but the process (network, files, cgroup);
 * `start` runs the process; `destroy` removes every trace. The conformance suite
 * (test/conformance/runtime-driver.ts) is what every driver must pass.
 */
export interface RuntimeDriver {
  readonly name: string;
  prepare(spec: MachineSpec): Promise<DriverMachine>;
  start(
    m: DriverMachine,
    spec: MachineSpec,
    io: { stdout(chunk: Buffer): void; stderr(chunk: Buffer): void; exit(info: ExitInfo): void },
  ): Promise<void>;
  /** Sends `signal`, then SIGKILL after `timeoutMs`; resolves once the process is gone. */
  stop(m: DriverMachine, signal: NodeJS.Signals, timeoutMs: number): Promise<ExitInfo | undefined>;
  destroy(m: DriverMachine): Promise<void>;
  /**
   * Runs `req.cmd` inside a started machine, in its isolation (namespaces, uid, filesystem view,
   * environment with its secrets), never as the host's root (`starling ssh console`). The child's
   * stdio are pipes; with `tty` the command runs on a pseudo-terminal inside the machine.
   */
  exec?(m: DriverMachine, spec: MachineSpec, req: ExecRequest): ChildProcess;
  /** Removes what an earlier process of this driver left on the host (a crash); the ids cleaned. */
  cleanupOrphans?(): Promise<string[]>;
  /**
   * Hands a driver made by someone else (tests, benches) the agent's host image store: how an
   * OCI image's root filesystem is had, unpacked for an app's uids. Drivers made from agent.toml
   * get it as an option.
   */
  useImages?(rootfs: (image: MachineSpec['image'], uidShift: number) => Promise<string>): void;
  /** Destroys every machine it still holds (agent stop) and ends its helpers. */
  close?(): Promise<void>;
}
