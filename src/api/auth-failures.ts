import type { RateLimit } from './rate-limit.js';
import { TokenBucketLimiter } from './rate-limit.js';

/** Failed authentications allowed per client address: a burst of 20, then 10 a minute. */
export const DEFAULT_AUTH_FAILURE_LIMIT: Readonly<RateLimit> = Object.freeze({ perMinute: 10, burst: 20 });

/**
 * Failed authentications (no, malformed, unknown or revoked token) per client address. Requests
 * without a valid token spend nothing from any token's bucket, so without this anyone could
 * guess tokens as fast as the daemon answers. An address whose bucket is empty is refused before
 * its token is even checked (a right guess must not be told apart from a wrong one), and only
 * that address: each address has its own bucket, so one client cannot lock others out.
 */
export class AuthFailureLimiter {
  private readonly buckets: TokenBucketLimiter;

  constructor(limit: RateLimit = DEFAULT_AUTH_FAILURE_LIMIT, clock: () => number = Date.now) {
    // One tier: the bucket size does not depend on who the caller claims to be.
    this.buckets = new TokenBucketLimiter({ free: limit, pro: limit }, clock);
  }

  /** Seconds the address must wait before it may try again; 0 when it may try now. */
  blockedFor(address: string): number {
    return this.buckets.peek(address, 'free').retryAfterSeconds;
  }

  /** Count one failure of the address. */
  failed(address: string): void {
    this.buckets.take(address, 'free');
  }
}
