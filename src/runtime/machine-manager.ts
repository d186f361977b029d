import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { MachineChecks } from './checks.js';
import { prepareImage } from './images.js';
import { MachineLogs } from './logs.js';
import type { ChildProcess } from 'node:child_process';
import { MachineHistory } from './machine-events.js';
import type { CheckSpec, ExecRequest, ExitInfo, MachineSpec, MachineState, RuntimeDriver } from './types.js';
import { machineView, type Managed } from './machine-view.js';
import { StarlingError, describeError, type Clock, type Logger } from '../shared/index.js';
import { gauge, type MetricFamily } from '../shared/index.js';
import type { CreateMachineRequest, LogEntry, MachinesPort, MachineView } from './machines.js';

/** Host defaults for what a create request leaves out (fly's defaults where fly has one). */
const DEFAULTS = {
  cmd: ['node', 'server.js'],
  internal_port: 8080,
  guest: { memory_mb: 256, cpus: 1, pids: 256 },
  restart: { policy: 'on-failure' as const, max_retries: 3 },
  kill_signal: 'SIGINT' as NodeJS.Signals,
  kill_timeout_ms: 5000,
};


export interface CreateOptions {
  /** The machine's id (the control plane's); a random one without it. */
  id?: string | undefined;
  kill_signal?: NodeJS.Signals | undefined;
  kill_timeout_ms?: number | undefined;
  /**
   * A one-off task (a deploy's release command): it runs its command and ends. No checks (not
   * even the default port check), and never in the proxy's routes (routesFor).
   */
  task?: boolean | undefined;
  /** Its fly process group (FLY_PROCESS_GROUP); default `app`. */
  process_group?: string | undefined;
  /**
   * False: without checks of its own it gets none, not the default port check (a process group no
   * service serves: nothing need listen). It is then ready once started.
   */
  default_check?: boolean | undefined;
  /** Its private IPv6 (MachineSpec.private_ip): the control plane's machines on a host on the mesh. */
  private_ip?: string | undefined;
}

export interface MachineManagerOptions {
  driver: RuntimeDriver;
  clock: Clock;
  logger: Logger;
  /** This host's region: machines are created here. */
  region: string;
  /** Images cache, logs and volumes live under it. */
  dataDir: string;
  /**
   * Images `oci:<manifest digest>` in the host image store (the agent wires src/images). A
   * quick-start image (base 'host') answers its unpacked layer, mounted at /app; an image of its
   * own root filesystem answers no dir: the driver asks the store for it, unpacked for the app's
   * uids (RuntimeDriver options).
   */
  images?: { prepare(digest: string): Promise<{ dir: string; base: 'host' | 'image' }> } | undefined;
}

/** `oci:sha256:<64 hex>`: an image in the host image store, by manifest digest. */
const OCI_RE = /^oci:(sha256:[0-9a-f]{64})$/;

/**
 * The machines of one host: lifecycle with fly's state names, restart policy, logs and checks, and
 * the routing view the proxy is fed. Secrets go to the driver and nowhere else.
 */
export class MachineManager implements MachinesPort {
  private readonly machines = new Map<string, Managed>();
  private readonly listeners = new Set<() => void>();

  constructor(private readonly o: MachineManagerOptions) {}

  /** A local directory or .tar.gz (src/runtime/images.ts), or an OCI image of the host store. */
  private async prepare(ref: string): Promise<MachineSpec['image']> {
    const oci = OCI_RE.exec(ref);
    if (!oci) return prepareImage(ref, join(this.o.dataDir, 'images'));
    if (!this.o.images) throw new StarlingError('ERR_IMAGE_UNSUPPORTED', `this host has no image store for ${ref}`, { fault: 'user' });
    const digest = oci[1]!;
    const { dir, base } = await this.o.images.prepare(digest);
    return { dir, digest, ref, base };
  }

  /** Called after any state or health change (the agent re-feeds the proxy's routes). */
  onChange(cb: () => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  /** Prometheus: the machines on this host, by app and state. */
  metricFamilies(): MetricFamily[] {
    const by = new Map<string, { labels: { app: string; state: string }; value: number }>();
    for (const m of this.machines.values()) {
      const key = `${m.spec.app}\t${m.state}`;
      const got = by.get(key);
      if (got) got.value++;
      else by.set(key, { labels: { app: m.spec.app, state: m.state }, value: 1 });
    }
    return [gauge('starling_runtime_machines', 'Machines on this host, by app and state.', [...by.values()])];
  }

  list(app: string): MachineView[] {
    return [...this.machines.values()].filter((m) => m.spec.app === app).map((m) => machineView(m));
  }

  get(app: string, id: string): MachineView | undefined {
    const m = this.machines.get(id);
    return m && m.spec.app === app ? machineView(m) : undefined;
  }

  /**
   * Where a started machine's image is on this host, read-only, and where the machine sees it:
   * an image base's root filesystem at `/`, a host base's app directory at `/app` (the edge's
   * `[[statics]]`). Undefined for a machine that is not started here.
   */
  imageRoot(app: string, id: string): { dir: string; at: string } | undefined {
    const m = this.machines.get(id);
    if (!m || m.spec.app !== app || m.state !== 'started') return undefined;
    if (m.spec.image.base === 'image') return m.drv.imageRoot === undefined ? undefined : { dir: m.drv.imageRoot, at: '/' };
    return m.spec.image.dir === '' ? undefined : { dir: m.spec.image.dir, at: '/app' };
  }

  /** Machines of `app` as the routes file describes them (address, port, state, healthy). */
  routesFor(app: string): { id: string; region: string; address: string; port: number; state: MachineState; healthy: boolean }[] {
    return [...this.machines.values()]
      .filter((m) => m.spec.app === app && m.state !== 'destroyed' && !m.task)
      .map((m) => ({
        id: m.spec.id,
        region: m.spec.region,
        address: m.drv.address,
        port: m.spec.internal_port,
        state: m.state,
        healthy: m.checks?.status().passing ?? false,
      }));
  }

  apps(): string[] {
    return [...new Set([...this.machines.values()].map((m) => m.spec.app))];
  }

  /**
   * Creates (and, unless skip_start, starts) a machine. `opts` is for machines the control plane
   * places: its id, and the release's kill signal and timeout (used when the machine is stopped).
   */
  async create(app: string, req: CreateMachineRequest, opts: CreateOptions = {}): Promise<MachineView> {
    const c = req.config;
    if (opts.id !== undefined && this.machines.has(opts.id)) {
      throw new StarlingError('ERR_MACHINE_EXISTS', `machine ${opts.id} already exists on this host`, { fault: 'user' });
    }
    const image = await this.prepare(c.image);
    const id = opts.id ?? randomBytes(7).toString('hex');
    // Checked again: another create with this id may have finished while the image was prepared.
    if (this.machines.has(id)) throw new StarlingError('ERR_MACHINE_EXISTS', `machine ${id} already exists on this host`, { fault: 'user' });
    const checks: CheckSpec[] = Object.values(c.checks ?? {});
    const spec: MachineSpec = {
      id,
      app,
      region: req.region ?? this.o.region,
      image,
      cmd: c.cmd ?? DEFAULTS.cmd,
      ...(c.user !== undefined && image.base === 'image' ? { user: c.user } : {}),
      ...(c.workdir !== undefined ? { workdir: c.workdir } : {}),
      ...(c.files && c.files.length > 0 ? { files: c.files } : {}),
      env: c.env ?? {},
      secrets: c.secrets ?? {},
      internal_port: c.internal_port ?? DEFAULTS.internal_port,
      guest: { ...DEFAULTS.guest, ...c.guest },
      mounts: (c.mounts ?? []).map((v) => {
        // The sandbox hands each volume to its app's host uid (0700); that uid must pass through
        // volumes/ and volumes/<app> to reach it: 0711, walkable but not listable.
        const appDir = join(this.o.dataDir, 'volumes', app);
        mkdirSync(appDir, { recursive: true, mode: 0o711 });
        for (const d of [join(this.o.dataDir, 'volumes'), appDir]) chmodSync(d, 0o711);
        const source = join(appDir, v.volume);
        mkdirSync(source, { recursive: true, mode: 0o700 });
        return { source, destination: v.path };
      }),
      restart: { policy: c.restart?.policy ?? DEFAULTS.restart.policy, max_retries: c.restart?.max_retries ?? DEFAULTS.restart.max_retries },
      kill_signal: opts.kill_signal ?? DEFAULTS.kill_signal,
      kill_timeout_ms: opts.kill_timeout_ms ?? DEFAULTS.kill_timeout_ms,
      // Without a check of its own, a machine is ready when its port accepts connections. The grace
      // period is the window in which checks repeat quickly until the first pass (warm-up below).
      checks: opts.task || (checks.length === 0 && opts.default_check === false) ? [] : checks.length > 0 ? checks : [{ type: 'tcp', grace_period_ms: 10_000, interval_ms: 1000, timeout_ms: 500 }],
      ...(opts.process_group !== undefined ? { process_group: opts.process_group } : {}),
      ...(opts.private_ip !== undefined ? { private_ip: opts.private_ip } : {}),
    };
    const drv = await this.o.driver.prepare(spec);
    const now = new Date(this.o.clock.now()).toISOString();
    const logs = new MachineLogs({ dir: join(this.o.dataDir, 'logs'), machineId: id, clock: this.o.clock, redact: Object.values(spec.secrets) });
    const history = new MachineHistory(() => new Date(this.o.clock.now()).toISOString());
    const m: Managed = { spec, drv, state: 'created', created: now, updated: now, logs, checks: undefined, stopping: false, retries: 0, restartTimer: undefined, history, task: opts.task === true };
    history.add('created', 'created');
    this.machines.set(id, m);
    this.o.logger.info('machine created', { app, machine: id, region: spec.region, not_applied: drv.notApplied });
    this.changed(m);
    if (!req.skip_start) await this.start(app, id);
    return machineView(m);
  }

  /** `reason` is recorded as an event before `starting` (the proxy's "autostarted: request"). */
  async start(app: string, id: string, opts: { reason?: string | undefined } = {}): Promise<MachineView> {
    const m = this.find(app, id);
    if (m.state === 'started' || m.state === 'starting') return machineView(m);
    // A start (an API call, or the proxy's autostart) overtakes a pending restart: one process only.
    m.restartTimer?.cancel();
    m.restartTimer = undefined;
    m.history.restartSettled();
    if (m.state === 'destroying' || m.state === 'destroyed') throw new StarlingError('ERR_MACHINE_STATE', `machine ${id} is ${m.state}`, { fault: 'user' });
    if (opts.reason !== undefined) m.history.add('autostart', opts.reason);
    await this.run(m);
    return machineView(m);
  }

  /** `reason` is the stop's event ("stopped by user" without one; "autostopped: …" from the proxy). */
  async stop(app: string, id: string, opts: { signal?: NodeJS.Signals | undefined; timeout_ms?: number | undefined; reason?: string | undefined } = {}): Promise<MachineView> {
    const m = this.find(app, id);
    m.restartTimer?.cancel();
    m.history.restartSettled();
    if (m.state !== 'started' && m.state !== 'starting') return machineView(m);
    m.stopping = true;
    this.setState(m, 'stopping');
    m.checks?.stop();
    m.checks = undefined;
    await this.o.driver.stop(m.drv, opts.signal ?? m.spec.kill_signal, opts.timeout_ms ?? m.spec.kill_timeout_ms);
    m.history.add('stopped', opts.reason ?? 'stopped by user');
    this.setState(m, 'stopped');
    return machineView(m);
  }

  async destroy(app: string, id: string, opts: { force?: boolean } = {}): Promise<void> {
    const m = this.find(app, id);
    if ((m.state === 'started' || m.state === 'starting') && !opts.force) {
      throw new StarlingError('ERR_MACHINE_RUNNING', `machine ${id} is ${m.state}: stop it first, or destroy with force`, { fault: 'user' });
    }
    if (m.state === 'started' || m.state === 'starting') await this.stop(app, id, { signal: 'SIGKILL', timeout_ms: 0 });
    m.restartTimer?.cancel();
    this.setState(m, 'destroying');
    await this.o.driver.destroy(m.drv);
    await m.logs.close();
    this.setState(m, 'destroyed');
    this.machines.delete(id);
    this.emit();
  }

  /** A command inside a started machine, through its driver (`starling ssh console`). */
  exec(app: string, id: string, req: ExecRequest): ChildProcess {
    const m = this.find(app, id);
    if (!this.o.driver.exec) throw new StarlingError('ERR_EXEC_UNSUPPORTED', `the ${this.o.driver.name} driver cannot run commands inside machines`, { fault: 'user' });
    if (m.state !== 'started') throw new StarlingError('ERR_MACHINE_NOT_STARTED', `machine ${id} is ${m.state}: start it first (starling machines start ${id} --app ${app})`, { fault: 'user' });
    return this.o.driver.exec(m.drv, m.spec, req);
  }

  /** `text` with the machine's secret values replaced, as its logs have them (for an exec's audit line). */
  redact(app: string, id: string, text: string): string {
    const values = Object.values(this.find(app, id).spec.secrets).filter((v) => v !== '');
    return values.reduce((t, v) => t.split(v).join('[redacted]'), text);
  }

  waitFor(app: string, id: string, state: MachineState, timeoutMs: number): Promise<boolean> {
    const m = this.find(app, id);
    if (m.state === state) return Promise.resolve(true);
    return new Promise((resolve) => {
      const off = this.onChange(() => {
        if (this.machines.get(id)?.state === state || (state === 'destroyed' && !this.machines.has(id))) done(true);
      });
      const timer = this.o.clock.setTimeout(() => done(false), timeoutMs);
      const done = (ok: boolean): void => {
        off();
        timer.cancel();
        resolve(ok);
      };
    });
  }

  logs(app: string, id: string, opts: { tail?: number | undefined }): { entries: LogEntry[] } {
    const entries = this.find(app, id).logs.tail(opts.tail);
    return { entries: entries.map((e) => ({ time: e.time, stream: e.stream, message: e.message })) };
  }

  followLogs(app: string, id: string, cb: (entry: LogEntry) => void): () => void {
    return this.find(app, id).logs.follow((e) => cb({ time: e.time, stream: e.stream, message: e.message }));
  }

  /** Stops every machine (agent shutdown); they are not destroyed. */
  async stopAll(): Promise<void> {
    await Promise.all([...this.machines.values()].map((m) => this.stop(m.spec.app, m.spec.id).catch(() => undefined)));
  }

  private async run(m: Managed): Promise<void> {
    m.stopping = false;
    m.history.add('starting', 'starting');
    this.setState(m, 'starting');
    try {
      await this.o.driver.start(m.drv, m.spec, {
        stdout: (c) => m.logs.write('stdout', c),
        stderr: (c) => m.logs.write('stderr', c),
        exit: (info) => this.exited(m, info),
      });
    } catch (e) {
      this.o.logger.error('machine failed to start', { app: m.spec.app, machine: m.spec.id, error: describeError(e) });
      m.history.add('failed', `failed to start: ${describeError(e).slice(0, 200)}`);
      this.setState(m, 'failed');
      throw e;
    }
    m.history.add('started', 'started');
    this.setState(m, 'started');
    m.checks?.stop();
    m.history.checksRestarted();
    m.checks = new MachineChecks({
      checks: m.spec.checks,
      address: m.drv.address,
      defaultPort: m.spec.internal_port,
      clock: this.o.clock,
      machineId: m.spec.id,
      // A booting machine is probed every 10 ms until its first pass: cold starts wait for the
      // app, not for the check interval.
      warmupIntervalMs: 10,
      onChange: (passing, results) => {
        m.history.checksChanged(passing, results);
        this.changed(m);
      },
      onCount: () => this.changed(m),
    });
    m.checks.start();
  }

  /** The process ended: expected (stop) or a crash, handled by the restart policy. */
  private exited(m: Managed, info: ExitInfo): void {
    if (m.stopping || m.state === 'destroying' || m.state === 'destroyed') return;
    // Its last check results no longer say anything: no traffic until a new run passes.
    m.checks?.stop();
    m.checks = undefined;
    const failed = info.code !== 0 || info.signal !== null;
    const policy = m.spec.restart.policy;
    const again = policy === 'always' || (policy === 'on-failure' && failed && m.retries < m.spec.restart.max_retries);
    this.o.logger.warn('machine exited', { app: m.spec.app, machine: m.spec.id, code: info.code, signal: info.signal, restart: again });
    m.history.exited(info, again);
    if (!again) {
      if (failed) m.history.add('failed', `not restarted (restart policy ${policy}${policy === 'on-failure' ? `, ${m.retries} of ${m.spec.restart.max_retries} retries used` : ''})`);
      this.setState(m, failed ? 'failed' : 'stopped');
      return;
    }
    m.retries++;
    m.history.add('restarting', policy === 'always' ? `restarting (${m.retries})` : `restarting (${m.retries}/${m.spec.restart.max_retries})`);
    this.setState(m, 'stopped');
    const delay = Math.min(10_000, 100 * 2 ** (m.retries - 1));
    m.restartTimer = this.o.clock.setTimeout(() => {
      m.restartTimer = undefined;
      if (m.state === 'stopped' && !m.stopping) void this.run(m).catch(() => undefined);
    }, delay);
  }

  private find(app: string, id: string): Managed {
    const m = this.machines.get(id);
    if (!m || m.spec.app !== app) {
      if (!this.apps().includes(app)) throw new StarlingError('ERR_APP_NOT_FOUND', `no machines of app "${app}" on this host`, { fault: 'user' });
      throw new StarlingError('ERR_MACHINE_NOT_FOUND', `no machine "${id}" in app "${app}"`, { fault: 'user' });
    }
    return m;
  }

  private setState(m: Managed, s: MachineState): void {
    m.state = s;
    m.updated = new Date(this.o.clock.now()).toISOString();
    this.changed(m);
  }

  private changed(_m: Managed): void {
    this.emit();
  }

  private emit(): void {
    for (const l of [...this.listeners]) l();
  }
}
