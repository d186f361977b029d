/**
 * Exponential backoff with jitter, for every retry loop of the platform (the feed, state reports,
 * placed machines that would not start): the base delay starts at `initialMs` and doubles per
 * failure up to `maxMs`; each delay handed out is the base less up to `jitter` of it, at random, so
 * a hundred agents that lost the control plane at the same moment do not all come back at the
 * same moment. Never later than the base: a caller (or a test on a ManualClock) that waits the
 * base delay has seen the retry.
 */
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** Fraction of the base taken off at random, 0-1 (default 0.2). */
  jitter?: number;
  /** [0, 1), injectable for tests (default Math.random). */
  random?: () => number;
}

export class Backoff {
  private base: number;

  constructor(private readonly o: BackoffOptions) {
    this.base = o.initialMs;
  }

  /** The delay before the next try, and the base doubles for the one after. */
  next(): number {
    const jitter = Math.min(1, Math.max(0, this.o.jitter ?? 0.2));
    const delay = Math.round(this.base * (1 - jitter * (this.o.random ?? Math.random)()));
    this.base = Math.min(this.base * 2, this.o.maxMs);
    return Math.max(1, delay);
  }

  /** After a success: the next failure starts from `initialMs` again. */
  reset(): void {
    this.base = this.o.initialMs;
  }
}
