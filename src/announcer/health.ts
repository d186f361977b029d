import http from 'node:http';
import type { Clock, Logger, TimerHandle } from '../shared/index.js';
import type { HealthSpec } from './types.js';

export type Probe = () => Promise<boolean>;

/** An HTTP probe: healthy when the URL answers 2xx within `timeoutMs`. */
export function httpProbe(url: string, timeoutMs: number, clock: Clock): Probe {
  return () =>
    new Promise<boolean>((resolve) => {
      let done = false;
      const finish = (ok: boolean): void => {
        if (done) return;
        done = true;
        timer.cancel();
        resolve(ok);
      };
      const req = http.get(url, { agent: false }, (res) => {
        res.resume();
        finish((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300);
      });
      req.on('error', () => finish(false));
      const timer = clock.setTimeout(() => {
        req.destroy();
        finish(false);
      }, timeoutMs);
    });
}

/**
 * Turns a probe into a healthy/unhealthy state with rise/fall thresholds, on the injected clock.
 * Withdrawal is never delayed; a new announcement waits until `damping_ms` after the last
 * withdrawal, so a flapping check flaps the route at most once per damping period.
 */
export class HealthMonitor {
  private healthy = false;
  private ok = 0;
  private bad = 0;
  private lastDown = Number.NEGATIVE_INFINITY;
  private timer: TimerHandle | undefined;
  private inFlight = false;
  lastResult: boolean | undefined;

  constructor(
    private readonly spec: HealthSpec,
    private readonly probe: Probe,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly onChange: (healthy: boolean, why: string) => void,
  ) {}

  get isHealthy(): boolean {
    return this.healthy;
  }

  start(): void {
    this.timer ??= this.clock.setInterval(() => void this.tick(), this.spec.interval_ms);
    void this.tick();
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** One probe and its consequences (exposed for tests driving a ManualClock). */
  async tick(): Promise<void> {
    if (this.inFlight) return;
    this.inFlight = true;
    let result: boolean;
    try {
      result = await this.probe();
    } catch {
      result = false;
    } finally {
      this.inFlight = false;
    }
    this.lastResult = result;
    if (result) {
      this.ok++;
      this.bad = 0;
    } else {
      this.bad++;
      this.ok = 0;
    }
    const now = this.clock.monotonic();
    if (this.healthy && this.bad >= this.spec.fall) {
      this.healthy = false;
      this.lastDown = now;
      this.logger.warn('health check failing: withdrawing', { failures: this.bad });
      this.onChange(false, `health check failed ${this.bad} times`);
    } else if (!this.healthy && this.ok >= this.spec.rise) {
      if (now - this.lastDown < this.spec.damping_ms) return; // held back: flap damping
      this.healthy = true;
      this.logger.info('health check passing: announcing', { successes: this.ok });
      this.onChange(true, `health check passed ${this.ok} times`);
    }
  }

  /** Time left before an announcement is allowed again (0 when not held back). */
  dampingLeft(): number {
    return Math.max(0, this.spec.damping_ms - (this.clock.monotonic() - this.lastDown));
  }
}
