import diagnostics from 'node:diagnostics_channel';
import http from 'node:http';
import net from 'node:net';
import { describeError, silentLogger, type Clock, type Logger, type TimerHandle } from '../shared/index.js';
import type { CheckSpec } from './types.js';

/**
 * A machine's HTTP and TCP health checks, on the injected clock. Results feed routing (a machine
 * gets traffic only while `passing`) and are shown in status.
 *
 * - Every check runs once at start(), then `interval_ms` after its previous run finished (runs of
 *   one check never overlap), each bounded by `timeout_ms`. HTTP passes on 2xx/3xx, TCP on connect.
 * - Grace period: a failure within `grace_period_ms` of start() shows as 'warming', not 'critical'.
 *   When the grace period ends, a check whose last result failed turns 'critical'.
 * - Warm-up: until a check first passes, and only within its grace period, it repeats every
 *   `min(interval_ms, warmupIntervalMs)` (100 ms) instead of `interval_ms`, so a machine that boots
 *   in 50 ms is passing after ~100 ms rather than one full interval later (autostart waits on this).
 * - No checks: passing from the start. Routing then relies on the machine's state alone (the
 *   autostart path waits for the port to accept on its own); that matches fly, where a machine
 *   without checks is routable once started.
 *
 * `runOnce()` runs every check now and resolves when they have all finished; `idle()` resolves when
 * no run is in flight. Tests advance a ManualClock and await either.
 */
export type CheckStatus = 'passing' | 'critical' | 'warming';

export interface CheckResult {
  /** `http:8080/healthz` or `tcp:8080` (`#2`, `#3` appended to duplicates). */
  name: string;
  status: CheckStatus;
  /** Short reason: "HTTP 200", "connect ECONNREFUSED 10.0.0.2:8080", "timed out after 2000 ms". */
  output: string;
  /** ISO time of the last result; undefined before the first. */
  last: string | undefined;
  /**
   * Failed runs in a row after the grace period (0 after a pass). A deploy counts a machine whose
   * every run fails as certain to fail after a few of these (control/deploy/verdict.ts).
   */
  failures: number;
}

export interface ChecksStatus {
  passing: boolean;
  checks: CheckResult[];
}

export interface MachineChecksOptions {
  checks: CheckSpec[];
  /** The machine's address, as reachable from the host. */
  address: string;
  /** Port for checks without one (the service's internal_port). */
  defaultPort: number;
  clock: Clock;
  /** Called whenever a check's status (not only its output) or the overall result changes. */
  onChange?: (passing: boolean, results: CheckResult[]) => void;
  /** Called when a check's failures in a row (CheckResult.failures) change. */
  onCount?: () => void;
  /** Repeat interval while warming up (see above). Default 100 ms. */
  warmupIntervalMs?: number;
  /** For logs and events. */
  machineId?: string;
  logger?: Logger;
}

/** Events: { type: 'check', machine, name, status, output } on every status change of a check. */
export const checksChannel = diagnostics.channel('starling:machine-checks');

interface Outcome {
  ok: boolean;
  output: string;
}

interface Check {
  spec: CheckSpec;
  port: number;
  result: CheckResult;
  ok: boolean | undefined;
  everPassed: boolean;
  timer: TimerHandle | undefined;
  running: Promise<void> | undefined;
  abort: (() => void) | undefined;
}

const MAX_OUTPUT = 200;
/** Failures in a row are counted up to this (each count is reported: the count is bounded so a check failing for days is not). */
const MAX_COUNTED_FAILURES = 10;

export class MachineChecks {
  private readonly checks: Check[];
  private readonly log: Logger;
  private readonly warmupMs: number;
  private started = false;
  private startedAt = 0;
  /** Bumped by start() and stop(): a run from an older epoch records nothing. */
  private epoch = 0;
  private graceTimers: TimerHandle[] = [];
  private lastPassing: boolean;

  constructor(private readonly opts: MachineChecksOptions) {
    this.log = (opts.logger ?? silentLogger).child({ component: 'machine-checks', machine: opts.machineId });
    this.warmupMs = Math.max(1, opts.warmupIntervalMs ?? 100);
    const seen = new Map<string, number>();
    this.checks = opts.checks.map((spec) => {
      const port = spec.port ?? opts.defaultPort;
      const base = spec.type === 'http' ? `http:${port}${spec.path ?? '/'}` : `tcp:${port}`;
      const n = (seen.get(base) ?? 0) + 1;
      seen.set(base, n);
      const name = n === 1 ? base : `${base}#${n}`;
      const result: CheckResult = { name, status: 'warming', output: 'not run yet', last: undefined, failures: 0 };
      return { spec, port, result, ok: undefined, everPassed: false, timer: undefined, running: undefined, abort: undefined };
    });
    this.lastPassing = this.checks.length === 0;
  }

  /** Starts (or restarts, after stop()) checking; the grace period counts from now. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.epoch++;
    this.startedAt = this.opts.clock.monotonic();
    for (const c of this.checks) {
      c.ok = undefined;
      c.everPassed = false;
      c.result = { ...c.result, output: 'not run yet', last: undefined, failures: 0 };
      this.graceTimers.push(this.opts.clock.setTimeout(() => this.update(), c.spec.grace_period_ms));
    }
    this.update();
    for (const c of this.checks) void this.run(c);
  }

  /** Stops every timer and aborts runs in flight; their results are discarded. */
  stop(): void {
    this.started = false;
    this.epoch++;
    for (const t of this.graceTimers) t.cancel();
    this.graceTimers = [];
    for (const c of this.checks) {
      c.timer?.cancel();
      c.timer = undefined;
      c.abort?.();
    }
  }

  /** Runs every check now (joining a run already in flight) and resolves when all have finished. */
  async runOnce(): Promise<void> {
    await Promise.all(this.checks.map((c) => this.run(c)));
  }

  /** Resolves once no check is running (including runs started by timers meanwhile). */
  async idle(): Promise<void> {
    for (;;) {
      const running = this.checks.flatMap((c) => (c.running ? [c.running] : []));
      if (running.length === 0) return;
      await Promise.all(running);
    }
  }

  status(): ChecksStatus {
    return { passing: this.lastPassing, checks: this.checks.map((c) => ({ ...c.result })) };
  }

  private run(c: Check): Promise<void> {
    if (c.running) return c.running;
    c.timer?.cancel();
    c.timer = undefined;
    const epoch = this.epoch;
    c.running = this.probe(c)
      .then((outcome) => {
        if (epoch !== this.epoch) return;
        c.ok = outcome.ok;
        c.everPassed ||= outcome.ok;
        const before = c.result.failures;
        const failures = outcome.ok ? 0 : this.inGrace(c) ? before : Math.min(MAX_COUNTED_FAILURES, before + 1);
        c.result = { ...c.result, output: outcome.output, last: new Date(this.opts.clock.now()).toISOString(), failures };
        this.update();
        if (failures !== before) this.counted();
      })
      .catch((err: unknown) => this.log.error('health check crashed', { check: c.result.name, error: describeError(err) }))
      .finally(() => {
        c.running = undefined;
        c.abort = undefined;
        if (this.started && epoch === this.epoch) this.schedule(c);
      });
    return c.running;
  }

  private schedule(c: Check): void {
    const warming = !c.everPassed && this.inGrace(c);
    const delay = warming ? Math.min(c.spec.interval_ms, this.warmupMs) : c.spec.interval_ms;
    c.timer = this.opts.clock.setTimeout(() => void this.run(c), delay);
  }

  private inGrace(c: Check): boolean {
    return this.started && this.opts.clock.monotonic() - this.startedAt < c.spec.grace_period_ms;
  }

  private counted(): void {
    try {
      this.opts.onCount?.();
    } catch (err) {
      this.log.error('health check listener failed', { error: describeError(err) });
    }
  }

  /** Recomputes every status; reports what changed. */
  private update(): void {
    let changed = false;
    for (const c of this.checks) {
      const status: CheckStatus =
        c.ok === undefined ? 'warming' : c.ok ? 'passing' : this.inGrace(c) ? 'warming' : 'critical';
      if (status === c.result.status) continue;
      changed = true;
      c.result = { ...c.result, status };
      const { name, output } = c.result;
      checksChannel.publish({ type: 'check', machine: this.opts.machineId, name, status, output });
      this.log.info('health check changed', { check: name, status, output });
    }
    const passing = this.checks.every((c) => c.result.status === 'passing');
    if (!changed && passing === this.lastPassing) return;
    this.lastPassing = passing;
    try {
      this.opts.onChange?.(passing, this.status().checks);
    } catch (err) {
      this.log.error('health check listener failed', { error: describeError(err) });
    }
  }

  /** One run of one check. The timeout timer is set before any I/O, so advancing a ManualClock right after aborts it. */
  private probe(c: Check): Promise<Outcome> {
    return new Promise<Outcome>((resolve) => {
      const { timeout_ms } = c.spec;
      let done = false;
      let cleanup: () => void = () => undefined;
      const finish = (o: Outcome): void => {
        if (done) return;
        done = true;
        timer.cancel();
        cleanup();
        resolve({ ok: o.ok, output: o.output.slice(0, MAX_OUTPUT) });
      };
      const timer = this.opts.clock.setTimeout(() => finish({ ok: false, output: `timed out after ${timeout_ms} ms` }), timeout_ms);
      c.abort = () => finish({ ok: false, output: 'stopped' });
      const host = this.opts.address;
      if (c.spec.type === 'tcp') {
        const socket = net.connect({ host, port: c.port });
        cleanup = () => socket.destroy();
        socket.once('connect', () => finish({ ok: true, output: 'connected' }));
        socket.on('error', (err) => finish({ ok: false, output: err.message }));
        return;
      }
      const req = http.request({
        host,
        port: c.port,
        method: c.spec.method ?? 'GET',
        path: c.spec.path ?? '/',
        agent: false,
        headers: { 'user-agent': 'starling-check/1', connection: 'close' },
      });
      cleanup = () => req.destroy();
      req.once('response', (res) => {
        const code = res.statusCode ?? 0;
        res.on('error', () => undefined);
        res.resume();
        finish({ ok: code >= 200 && code < 400, output: `HTTP ${code}` });
      });
      req.on('error', (err) => finish({ ok: false, output: err.message }));
      req.end();
    });
  }
}
