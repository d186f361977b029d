/**
 * Reports this host's control-plane machines' states to the control plane
 * (`PUT /v1/hosts/{host}/apps/{app}/machines/{id}/state`). Reports are coalesced per machine: only
 * the latest one is sent, and one equal to what was last delivered is not sent again. When the
 * control plane cannot be reached, what is pending waits and is retried with exponential backoff
 * (on the injected clock); the latest state wins. `destroyed` deletes the report on the other side.
 */
import type { MachineState } from '../runtime/index.js';
import type { MachineCheckDoc, MachineEventDoc, MachineExitDoc, MachineLogLineDoc } from '../contract/index.js';
import { Backoff, StarlingError, describeError, type Clock, type Logger, type TimerHandle } from '../shared/index.js';
import type { ControlClient } from './control-client.js';

export interface MachineReport {
  state: MachineState;
  /** Started and every check passing. */
  healthy: boolean;
  release: number;
  /**
   * Why it is as it is (the control plane keeps these in `machine_details`, off the feed). A report
   * is sent again when these change, except `log_tail`: new log lines alone send nothing, they
   * ride along with the next change (an exit, a check turning critical, destroyed).
   */
  exit?: MachineExitDoc | null | undefined;
  checks?: MachineCheckDoc[] | undefined;
  events?: MachineEventDoc[] | undefined;
  log_tail?: MachineLogLineDoc[] | undefined;
}

export interface StateReporterOptions {
  client: Pick<ControlClient, 'json'>;
  hostId: string;
  clock: Clock;
  logger: Logger;
  /** Backoff after a failed report: from this, doubling up to maxMs (defaults 200 ms and 10 s). */
  initialMs?: number;
  maxMs?: number;
}

interface Pending {
  app: string;
  id: string;
  report: MachineReport;
}

const same = (a: MachineReport | undefined, b: MachineReport): boolean =>
  a !== undefined &&
  a.state === b.state &&
  a.healthy === b.healthy &&
  a.release === b.release &&
  JSON.stringify([a.exit, a.checks, a.events]) === JSON.stringify([b.exit, b.checks, b.events]);

export class StateReporter {
  /** Latest report per `app.id` not yet delivered. */
  private readonly pending = new Map<string, Pending>();
  /** What the control plane last accepted per `app.id`. */
  private readonly delivered = new Map<string, MachineReport>();
  private flushing: Promise<void> | undefined;
  private retry: TimerHandle | undefined;
  private readonly backoff: Backoff;
  private stopped = false;
  private readonly abort = new AbortController();

  constructor(private readonly o: StateReporterOptions) {
    this.backoff = new Backoff({ initialMs: o.initialMs ?? 200, maxMs: o.maxMs ?? 10_000 });
  }

  /** Queues `report` for the machine unless it is what is already queued or delivered. */
  report(app: string, id: string, report: MachineReport): void {
    const key = `${app}.${id}`;
    const queued = this.pending.get(key);
    if (queued ? same(queued.report, report) : same(this.delivered.get(key), report)) return;
    this.pending.set(key, { app, id, report: { ...report } });
    this.kick();
  }

  /** The last report delivered for a machine (undefined: none, or forgotten). */
  deliveredFor(app: string, id: string): MachineReport | undefined {
    return this.delivered.get(`${app}.${id}`);
  }

  /** Forgets a machine that is gone on both sides (its `destroyed` was delivered). */
  forget(app: string, id: string): void {
    const key = `${app}.${id}`;
    if (!this.pending.has(key)) this.delivered.delete(key);
  }

  /** Reports not yet delivered. */
  get backlog(): number {
    return this.pending.size;
  }

  /**
   * Stops reporting. With `flushMs`, what is pending (the machines' last states: stopped, as the
   * agent shuts down) is first sent for up to that long, if the control plane answers.
   */
  async stop(flushMs = 0): Promise<void> {
    if (flushMs > 0 && !this.stopped && this.pending.size > 0) {
      const deadline = this.o.clock.monotonic() + flushMs;
      // A pending backoff would outlast the deadline: try now.
      if (this.retry) {
        this.retry.cancel();
        this.retry = undefined;
        this.kick();
      }
      while (this.pending.size > 0 && !this.retry && this.o.clock.monotonic() < deadline) {
        await this.o.clock.sleep(20);
        this.kick();
      }
    }
    this.stopped = true;
    this.retry?.cancel();
    this.retry = undefined;
    this.abort.abort();
    await this.flushing;
  }

  private kick(): void {
    if (this.stopped || this.flushing || this.retry) return;
    this.flushing = this.flush().finally(() => {
      this.flushing = undefined;
      // Reports that arrived during the last request.
      if (this.pending.size > 0 && !this.retry) this.kick();
    });
  }

  private async flush(): Promise<void> {
    while (!this.stopped && this.pending.size > 0) {
      const [key, p] = this.pending.entries().next().value as [string, Pending];
      try {
        await this.o.client.json('PUT', `/v1/hosts/${this.o.hostId}/apps/${p.app}/machines/${p.id}/state`, p.report, this.abort.signal);
      } catch (e) {
        if (this.stopped) return;
        if (e instanceof StarlingError && ['ERR_BAD_REQUEST', 'ERR_NOT_FOUND', 'ERR_FORBIDDEN'].includes(e.code)) {
          // The control plane will never take this report (malformed, or a machine not placed on
          // this host): retrying would block the others.
          this.o.logger.warn('machine state report refused', { app: p.app, machine: p.id, state: p.report.state, error: describeError(e) });
          if (this.pending.get(key) === p) this.pending.delete(key);
          continue;
        }
        const retryMs = this.backoff.next();
        this.o.logger.warn('machine state report failed; retrying', { app: p.app, machine: p.id, state: p.report.state, retry_ms: retryMs, error: describeError(e) });
        this.retry = this.o.clock.setTimeout(() => {
          this.retry = undefined;
          this.kick();
        }, retryMs);
        return;
      }
      this.backoff.reset();
      this.delivered.set(key, p.report);
      // A newer report queued while this one was on the wire stays queued.
      if (this.pending.get(key) === p) this.pending.delete(key);
      this.o.logger.debug('machine state reported', { app: p.app, machine: p.id, state: p.report.state, healthy: p.report.healthy });
    }
  }
}
