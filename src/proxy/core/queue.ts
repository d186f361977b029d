import type { AppRoute } from '../route-table/index.js';
import type { ProxyMetrics } from '../observe/index.js';

/**
 * Requests waiting for a machine slot when every machine of their app is at hard_limit. FIFO per
 * app; a waiter is woken when a request of that app finishes, and expires at its deadline.
 */
export interface Waiter {
  readonly app: AppRoute;
  /** Monotonic ms after which the waiter gets 503. */
  readonly waitDeadline: number;
  /** Called when a slot may be free: the waiter routes again (and may wait again). */
  wake(): void;
  /** Called when the deadline passed. */
  expire(): void;
}

export class WaitQueue {
  private readonly byApp = new Map<string, Waiter[]>();
  private count = 0;

  constructor(
    private readonly maxPerApp: number,
    /** Told the number waiting after every change (the queued-requests gauge). */
    private readonly metrics: ProxyMetrics,
  ) {}

  get size(): number {
    return this.count;
  }

  /** False when the app's queue is full. */
  add(w: Waiter): boolean {
    let list = this.byApp.get(w.app.name);
    if (!list) {
      list = [];
      this.byApp.set(w.app.name, list);
    }
    if (list.length >= this.maxPerApp) return false;
    list.push(w);
    this.metrics.queuedNow(++this.count);
    return true;
  }

  remove(w: Waiter): void {
    const list = this.byApp.get(w.app.name);
    const i = list ? list.indexOf(w) : -1;
    if (list && i >= 0) {
      list.splice(i, 1);
      this.metrics.queuedNow(--this.count);
    }
  }

  /**
   * A request of `appName` finished: the oldest waiter tries again. One that cannot use the freed
   * slot (it is pinned to another machine, or to other regions) queues again at the back, and the
   * next waiter gets its chance, so the slot is not left idle while someone could use it.
   */
  slotFreed(appName: string): void {
    if (this.count === 0) return;
    const list = this.byApp.get(appName);
    if (!list) return;
    for (let tries = list.length; tries > 0 && list.length > 0; tries--) {
      const w = list.shift()!;
      this.metrics.queuedNow(--this.count);
      w.wake();
      if (list[list.length - 1] !== w) return;
    }
  }

  /** Wakes every waiter (after a routes reload, machines may have appeared). */
  wakeAll(): void {
    const all = [...this.byApp.values()].flat();
    this.byApp.clear();
    this.count = 0;
    this.metrics.queuedNow(0);
    for (const w of all) w.wake();
  }

  expire(now: number): void {
    if (this.count === 0) return;
    for (const list of this.byApp.values()) {
      for (let i = 0; i < list.length; ) {
        const w = list[i]!;
        if (w.waitDeadline <= now) {
          list.splice(i, 1);
          this.metrics.queuedNow(--this.count);
          w.expire();
        } else i++;
      }
    }
  }
}
