/**
 * From a release to what a host needs to run one of its machines. The control plane stores the app
 * config as written; each agent turns it into a machine config with this one function, so every
 * host runs a release the same way. The shape is the `config` of the agent's Machines API
 * (src/agent/machines-port.ts) and the runtime's MachineSpec fields.
 */
import { StarlingError } from '../shared/index.js';
import { releaseAppConfig, type AppConfig, type FileConfig, type ServiceConfig } from './app-config.js';
import type { MachineOverrides, MachineRole } from './documents.js';
import { processGroup, serves } from './process-groups.js';
import { defaultGroupOf } from './app-config-groups.js';
import { BASE64_RE, DEFAULT_PROCESS_GROUP } from './names.js';

export interface ReleaseMachineConfig {
  /** A local image: the unpacked directory, the downloaded .tar.gz, or `oci:<manifest digest>` in the host image store. */
  image: string;
  cmd?: string[];
  /** The image's USER as written ('' is root), for an OCI image of its own root filesystem. */
  user?: string;
  /** The image's WORKDIR, likewise. */
  workdir?: string;
  env: Record<string, string>;
  secrets: Record<string, string>;
  internal_port: number;
  guest: { cpus: number; memory_mb: number; cpu_kind: 'shared' | 'performance' };
  restart: { policy: 'always' | 'never' | 'on-failure'; max_retries: number };
  kill_signal: NodeJS.Signals;
  kill_timeout_ms: number;
  checks: Record<string, { type: 'http' | 'tcp'; port?: number; method?: string; path?: string; grace_period_ms: number; interval_ms: number; timeout_ms: number }>;
  /** Its process group (FLY_PROCESS_GROUP in the machine). */
  process_group: string;
  /**
   * Whether a machine without checks of its own gets the runtime's default one (its port accepts
   * connections). False for a group no service serves while the app has services (a worker):
   * nothing routes to it, nothing says it listens — as on fly, it is ready once started.
   */
  default_check: boolean;
  /** fly's [[files]] for this machine's group, contents base64 (filesFor). */
  files: { guest_path: string; content_base64: string }[];
  /** `[mounts]`: the volume name and where it is mounted inside (a machine mounts one, as on fly); none for a release command's machine. */
  mount?: { source: string; destination: string } | undefined;
}

/** The service the proxy routes HTTP to: [http_service], else the first service with an http handler. */
export function httpServiceOf(config: AppConfig): ServiceConfig | undefined {
  return config.services.find((s) => s.ports.some((p) => p.handlers.includes('http')));
}

/** The app's TCP services at the edge: each TCP service with its ports that have no `http` handler. */
export function tcpServicesOf(config: AppConfig): { service: ServiceConfig; ports: ServiceConfig['ports'] }[] {
  return config.services
    .filter((s) => s.protocol === 'tcp')
    .map((service) => ({ service, ports: service.ports.filter((p) => !p.handlers.includes('http')) }))
    .filter((t) => t.ports.length > 0);
}

/** What an OCI image's config says to run (src/images reads it: its ImageRun is one). */
export interface ImageCommand {
  entrypoint: string[];
  cmd: string[];
  env: Record<string, string>;
  /** Absolute; `/` when the image names none. */
  workdir: string;
  /** As written in the image: '' (root), 'app', '1000', '1000:1000', 'app:staff'. */
  user: string;
  stopSignal?: string | undefined;
}

/**
 * An image's command, and its base: `'host'` is a quick-start image (a directory or .tar.gz made
 * into one layer): it runs on the host's runtime with its layer at /app, as before images, and its
 * config says nothing.
 */
export interface ImageDefaults extends ImageCommand {
  base: 'host' | 'image';
}

/**
 * The machine config for a release. `config` is the release's stored document (validated again
 * here: an agent never runs a config it would reject). Secrets are the values for this machine,
 * fetched by the agent; the app's env wins nothing over them (a name is one or the other).
 *
 * `role: 'release_command'` (MachineDoc.role): a deploy's release command, with what flyctl's
 * ToReleaseMachineConfig changes — the command is the entrypoint ([experimental] entrypoint, else
 * the image's ENTRYPOINT) followed by release_command's words in place of CMD (fly's `init.cmd`);
 * restart `never` (fly's "no"); no checks; RELEASE_COMMAND=1 in the environment, as on fly, so an
 * entrypoint script can tell. Everything else (image, env, secrets, guest, user) is the release's.
 *
 * Any other machine runs as its process group says (`process_group`, contract/process-groups.ts):
 * the group's [processes] command after the entrypoint in place of CMD, as the release command's;
 * its [[vm]] and [[restart]]; the port and checks of the first service that serves the group.
 */
export function machineConfigFor(
  config: unknown,
  opts: {
    app: string;
    image: string;
    secrets: Record<string, string>;
    defaults?: ImageDefaults | undefined;
    role?: MachineRole | undefined;
    /** MachineDoc.process_group: absent is `app`. ERR_PROCESS_GROUP when the release has no such group. */
    process_group?: string | undefined;
    /** A platform machine's `init.cmd` (MachineDoc.overrides.cmd): its CMD, after the entrypoint like a group's. */
    cmd?: readonly string[] | undefined;
  },
): ReleaseMachineConfig {
  const c = releaseAppConfig(config, `release config of app ${opts.app}`);
  const release = opts.role === 'release_command' ? c.deploy.release_command : undefined;
  if (opts.role === 'release_command' && !release) {
    throw new StarlingError('ERR_MACHINE_SPEC', `the release of app ${opts.app} has no [deploy] release_command to run`, { fault: 'system' });
  }
  // The release command runs as the default group's machine does (its size); a machine, as its group's.
  const group = release
    ? { ...defaultGroupOf(c.processes), cmd: undefined }
    : processGroup(c, opts.process_group ?? DEFAULT_PROCESS_GROUP);
  // A service's port and checks are its groups' machines' only.
  const mine = c.services.filter((s) => serves(s, group.name));
  const service = httpServiceOf({ ...c, services: mine }) ?? mine[0];
  const internal_port = service?.internal_port ?? 8080;
  const checks: ReleaseMachineConfig['checks'] = {};
  if (!release) {
    (service?.checks ?? []).forEach((k, i) => {
      checks[`${k.type}-${i}`] = {
        type: k.type,
        port: k.port,
        ...(k.type === 'http' ? { method: k.method ?? 'GET', path: k.path ?? '/' } : {}),
        grace_period_ms: k.grace_period_ms,
        interval_ms: k.interval_ms,
        timeout_ms: k.timeout_ms,
      };
    });
  }
  const d = opts.defaults?.base === 'image' ? opts.defaults : undefined;
  // The image's env first: [env] and then secrets win over it (a name is one or the other).
  const env: Record<string, string> = { ...d?.env, ...c.env, ...(release ? { RELEASE_COMMAND: '1' } : {}) };
  for (const name of Object.keys(opts.secrets)) delete env[name];
  // A release command, or a group's [processes] command, replaces CMD after the entrypoint (fly's init.cmd).
  const words = release ?? opts.cmd ?? group.cmd;
  const cmd = words ? [...(c.overrides.entrypoint ?? d?.entrypoint ?? []), ...words] : d ? imageCommand(opts.app, d, c.overrides) : c.cmd;
  return {
    image: opts.image,
    ...(cmd ? { cmd } : {}),
    ...(d ? { user: d.user, workdir: d.workdir } : {}),
    env,
    secrets: opts.secrets,
    internal_port,
    guest: { cpus: group.vm.cpus, memory_mb: group.vm.memory_mb, cpu_kind: group.vm.cpu_kind },
    restart: release ? { policy: 'never', max_retries: 0 } : group.restart,
    kill_signal: c.kill_signal_set ? c.kill_signal : stopSignal(d?.stopSignal) ?? c.kill_signal,
    kill_timeout_ms: c.kill_timeout_ms,
    checks,
    process_group: group.name,
    default_check: mine.length > 0 || c.services.length === 0,
    files: filesFor(c, group.name, opts.secrets, opts.app),
    ...(c.mounts[0] && !release ? { mount: { source: c.mounts[0].source, destination: c.mounts[0].destination } } : {}),
  };
}

/**
 * fly's [[files]] for a machine of `group`: each one's contents, base64 (a raw_value as it is; a
 * secret's value, which fly has base64 too). A local_path the deploy did not turn into a raw_value,
 * or a secret that is missing or not base64, is an error naming the file (never its contents).
 */
export function filesFor(c: AppConfig, group: string, secrets: Record<string, string>, app: string): { guest_path: string; content_base64: string }[] {
  const bad = (f: FileConfig, why: string): StarlingError => new StarlingError('ERR_MACHINE_SPEC', `[[files]] ${f.guest_path} of app ${app}: ${why}`, { fault: 'user' });
  return c.files
    .filter((f) => serves(f, group))
    .map((f) => {
      if (f.raw_value !== undefined) return { guest_path: f.guest_path, content_base64: f.raw_value };
      if (f.secret_name === undefined) throw bad(f, 'local_path is read by starling deploy, which puts raw_value in its place: deploy with the CLI');
      const v = secrets[f.secret_name];
      if (v === undefined) throw bad(f, `the app has no secret ${f.secret_name}: starling secrets set ${f.secret_name}=<base64>`);
      if (!BASE64_RE.test(v.trim())) throw bad(f, `secret ${f.secret_name} is not base64 (fly's rule for files from secrets)`);
      return { guest_path: f.guest_path, content_base64: v.trim() };
    });
}

/**
 * A machine's config with what its placement overrides (a create or update through the platform
 * Machines API): its env over the release's (a secret's name stays the secret's), its guest size,
 * and restart policy (its `init.cmd` is machineConfigFor's `cmd`, after the entrypoint). Both sides use it: agents to run the machine, the control plane to
 * show it.
 */
export function withOverrides(c: ReleaseMachineConfig, o: MachineOverrides | undefined): ReleaseMachineConfig {
  if (!o) return c;
  const env = { ...c.env, ...o.env };
  for (const name of Object.keys(c.secrets)) delete env[name];
  return {
    ...c,
    env,
    guest: { ...c.guest, ...o.guest },
    restart: o.restart ? { policy: o.restart.policy, max_retries: o.restart.max_retries ?? c.restart.max_retries } : c.restart,
  };
}

/**
 * Docker's rule: [experimental] entrypoint replaces ENTRYPOINT and drops the image's CMD; cmd
 * replaces CMD. An image with neither, and no override, cannot be run: said here, at deploy time
 * on the agent, rather than as a machine that fails to start.
 */
function imageCommand(app: string, d: ImageDefaults, o: { entrypoint?: string[]; cmd?: string[] }): string[] {
  const entrypoint = o.entrypoint ?? d.entrypoint;
  const cmd = o.cmd ?? (o.entrypoint ? [] : d.cmd);
  const argv = [...entrypoint, ...cmd];
  if (argv.length === 0) throw new StarlingError('ERR_MACHINE_SPEC', `the image of app ${app} has no ENTRYPOINT or CMD`, { fault: 'user', hint: 'set [experimental] cmd in its config, or CMD in its Dockerfile' });
  return argv;
}

/** An image's STOPSIGNAL ('SIGTERM', 'TERM' or '15') as a signal name; unknown ones are left to the default. */
function stopSignal(s: string | undefined): NodeJS.Signals | undefined {
  if (s === undefined || s === '') return undefined;
  const byNumber: Record<string, NodeJS.Signals> = { '1': 'SIGHUP', '2': 'SIGINT', '3': 'SIGQUIT', '9': 'SIGKILL', '10': 'SIGUSR1', '12': 'SIGUSR2', '15': 'SIGTERM' };
  const name = byNumber[s] ?? (s.toUpperCase().startsWith('SIG') ? s.toUpperCase() : `SIG${s.toUpperCase()}`);
  return ['SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGKILL', 'SIGUSR1', 'SIGUSR2', 'SIGTERM'].includes(name) ? (name as NodeJS.Signals) : undefined;
}
