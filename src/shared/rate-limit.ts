/**
 * A token bucket per key (a token id, a host, a client address): `burst` requests at once, then
 * `perSecond` on average. Time comes from the injected clock, so tests advance it instead of
 * sleeping. Full buckets carry no information and are forgotten, so idle keys cost nothing; the
 * number of keys held at once is capped (`maxKeys`), the fullest forgotten first.
 */
import type { Clock } from './clock.js';

export interface RateLimits {
  /** Sustained requests per second per key. */
  perSecond: number;
  /** Requests a key may make at once after being idle. */
  burst: number;
}

export type RateDecision = { ok: true } | { ok: false; /** Whole seconds until one request is allowed again (Retry-After). */ retryAfterS: number };

interface Bucket {
  tokens: number;
  at: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    readonly limits: RateLimits,
    private readonly clock: Clock,
    private readonly maxKeys = 100_000,
  ) {}

  /** Takes one request's worth for `key`, or says how long to wait. */
  take(key: string): RateDecision {
    const now = this.clock.monotonic();
    const b = this.refill(key, now);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { ok: true };
    }
    const waitS = (1 - b.tokens) / this.limits.perSecond;
    return { ok: false, retryAfterS: Math.max(1, Math.ceil(waitS)) };
  }

  /** Keys currently held (tests, metrics). */
  get size(): number {
    return this.buckets.size;
  }

  private refill(key: string, now: number): Bucket {
    let b = this.buckets.get(key);
    if (b) {
      b.tokens = Math.min(this.limits.burst, b.tokens + ((now - b.at) / 1000) * this.limits.perSecond);
      b.at = now;
      // Map order is insertion order: re-inserting keeps the busiest keys at the end.
      this.buckets.delete(key);
      this.buckets.set(key, b);
      return b;
    }
    if (this.buckets.size >= this.maxKeys) this.forget(now);
    b = { tokens: this.limits.burst, at: now };
    this.buckets.set(key, b);
    return b;
  }

  /** Drops the buckets that have refilled; if none has, the least recently used one. */
  private forget(now: number): void {
    for (const [k, b] of this.buckets) {
      if (b.tokens + ((now - b.at) / 1000) * this.limits.perSecond >= this.limits.burst) this.buckets.delete(k);
    }
    if (this.buckets.size >= this.maxKeys) {
      const oldest = this.buckets.keys().next();
      if (!oldest.done) this.buckets.delete(oldest.value);
    }
  }
}
