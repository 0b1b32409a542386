/** Capped exponential backoff. Pure. */
export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
  /** Growth per failed attempt; 2 by default. */
  factor?: number;
}

/** Delay before retry number `attempt` (0-based: the first retry waits initialMs). */
export function backoffDelay(attempt: number, p: BackoffPolicy): number {
  const factor = p.factor ?? 2;
  const d = p.initialMs * Math.pow(factor, Math.max(0, attempt));
  return Math.min(p.maxMs, Math.round(d));
}

/** A sleep that `cancel()` ends early (stop() must not wait out a long backoff). */
export function cancellableSleep(ms: number): { done: Promise<void>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  let resolveFn: () => void = () => undefined;
  const done = new Promise<void>((resolve) => {
    resolveFn = resolve;
    timer = setTimeout(resolve, ms);
  });
  return {
    done,
    cancel() {
      if (timer) clearTimeout(timer);
      resolveFn();
    },
  };
}
