import type { Tier } from '../auth/index.js';

export interface RateLimit {
  /** Sustained rate: tokens added per minute. */
  perMinute: number;
  /** Bucket capacity: how many requests may arrive at once. */
  burst: number;
}

/** The API reference's tiers. */
export const DEFAULT_RATE_LIMITS: Readonly<Record<Tier, RateLimit>> = Object.freeze({
  free: { perMinute: 60, burst: 10 },
  pro: { perMinute: 1000, burst: 100 },
});

export interface RateDecision {
  allowed: boolean;
  limit: RateLimit;
  /** Whole requests left in the bucket after this one. */
  remaining: number;
  /** Seconds until the bucket is full again. */
  resetSeconds: number;
  /** Seconds until one request would be allowed (0 when allowed). */
  retryAfterSeconds: number;
}

interface Bucket {
  tokens: number;
  updatedMs: number;
  limit: RateLimit;
}

/**
 * Token bucket per key (the API token id): capacity = burst, refilled continuously at
 * perMinute/60 per second. The clock is injected so tests can step time instead of sleeping.
 * In-process state: with several daemons each enforces its own buckets.
 */
export class TokenBucketLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly limits: Readonly<Record<Tier, RateLimit>> = DEFAULT_RATE_LIMITS,
    private readonly clock: () => number = Date.now,
    private readonly maxBuckets = 100_000,
  ) {}

  take(key: string, tier: Tier, cost = 1): RateDecision {
    return this.decide(key, tier, cost, true);
  }

  /** What take() would answer, without spending anything. */
  peek(key: string, tier: Tier, cost = 1): RateDecision {
    return this.decide(key, tier, cost, false);
  }

  private decide(key: string, tier: Tier, cost: number, spend: boolean): RateDecision {
    const limit = this.limits[tier];
    const ratePerMs = limit.perMinute / 60_000;
    const now = this.clock();
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= this.maxBuckets) this.evictFull(now);
      b = { tokens: limit.burst, updatedMs: now, limit };
      this.buckets.set(key, b);
    }
    // A clock that steps backwards must not mint tokens or make time negative.
    b.limit = limit;
    const elapsed = Math.max(0, now - b.updatedMs);
    b.tokens = Math.min(limit.burst, b.tokens + elapsed * ratePerMs);
    b.updatedMs = Math.max(b.updatedMs, now);
    const allowed = b.tokens >= cost;
    if (allowed && spend) b.tokens -= cost;
    const missing = limit.burst - b.tokens;
    return {
      allowed,
      limit,
      remaining: Math.floor(b.tokens),
      resetSeconds: Math.ceil(missing / ratePerMs / 1000),
      retryAfterSeconds: allowed ? 0 : Math.max(1, Math.ceil((cost - b.tokens) / ratePerMs / 1000)),
    };
  }

  private evictFull(now: number): void {
    for (const [key, b] of this.buckets) {
      // Any bucket idle long enough to be full again behaves exactly like a new one.
      if (b.tokens + (now - b.updatedMs) * (b.limit.perMinute / 60_000) >= b.limit.burst) this.buckets.delete(key);
    }
    if (this.buckets.size >= this.maxBuckets) {
      const first = this.buckets.keys().next();
      if (!first.done) this.buckets.delete(first.value);
    }
  }
}
