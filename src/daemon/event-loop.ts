/**
 * How late the daemon's main thread runs: every HTTP request, the receivers' protocol handling and
 * the background summaries share one event loop, so a request's latency includes any synchronous
 * task that happens to run before it. Two measures, exposed in /metrics:
 *
 * - delay: perf_hooks.monitorEventLoopDelay fires a libuv timer every RESOLUTION_MS and records
 *   the interval between firings; the interval minus the resolution is how late the loop got to it
 *   (a blocked loop or a descheduled process). Quantiles over the last WINDOW_S seconds, so a
 *   scrape shows the recent state, not the average since start.
 * - busy time: performance.eventLoopUtilization's active time, a counter (rate() = the fraction of
 *   time the main thread spent running JavaScript and callbacks rather than waiting for I/O).
 */
import { createHistogram, monitorEventLoopDelay, performance, type IntervalHistogram, type RecordableHistogram } from 'node:perf_hooks';
import type { MetricsRegistry } from '../api/index.js';

const RESOLUTION_MS = 10;
export const EVENT_LOOP_WINDOW_S = 10;
const QUANTILES = [0.5, 0.9, 0.99, 0.999] as const;
const NS = 1e9;

export interface EventLoopSnapshot {
  /** Seconds, over the last EVENT_LOOP_WINDOW_S seconds; NaN when there was no sample. */
  quantiles: Map<number, number>;
  max: number;
  /** Since start: samples and the sum of their delays (seconds). */
  count: number;
  sum: number;
  /** Seconds the loop was busy since start. */
  busySeconds: number;
}

export class EventLoopMonitor {
  private monitor: IntervalHistogram | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** One histogram of delays (ns) per second of the window, oldest first. */
  private readonly seconds: RecordableHistogram[] = [];
  private count = 0;
  private sumNs = 0;
  private readonly eluStart = performance.eventLoopUtilization();

  start(): void {
    if (this.monitor) return;
    this.monitor = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
    this.monitor.enable();
    this.timer = setInterval(() => this.rotate(), 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.monitor?.disable();
    this.monitor = null;
  }

  snapshot(): EventLoopSnapshot {
    const merged = createHistogram();
    for (const h of this.seconds) merged.add(h);
    const current = this.monitor ? this.delays(this.monitor) : null;
    if (current) merged.add(current);
    const none = merged.count === 0;
    const quantiles = new Map(QUANTILES.map((q) => [q, none ? NaN : merged.percentile(q * 100) / NS] as [number, number]));
    const pending = current ? { count: current.count, sum: current.count * current.mean } : { count: 0, sum: 0 };
    return {
      quantiles,
      max: none ? NaN : merged.max / NS,
      count: this.count + pending.count,
      sum: (this.sumNs + pending.sum) / NS,
      busySeconds: performance.eventLoopUtilization(this.eluStart).active / 1000,
    };
  }

  /** Close the current second: keep its delays, forget the oldest second. */
  private rotate(): void {
    if (!this.monitor) return;
    const h = this.delays(this.monitor);
    this.monitor.reset();
    this.count += h.count;
    if (h.count > 0) this.sumNs += h.count * h.mean;
    this.seconds.push(h);
    while (this.seconds.length > EVENT_LOOP_WINDOW_S) this.seconds.shift();
  }

  /**
   * The monitor's samples as delays (interval - resolution, at least 1 ns) in a histogram that can
   * be merged (an ELD histogram cannot be added to another). Its k-th of n samples is its
   * 100·k/n percentile, so this copies the samples exactly (to the histogram's precision); a second
   * holds at most 1000/RESOLUTION_MS of them.
   */
  private delays(m: IntervalHistogram): RecordableHistogram {
    const h = createHistogram();
    const n = m.count;
    const res = RESOLUTION_MS * 1e6;
    for (let k = 1; k <= n; k++) h.record(Math.max(1, Math.round(m.percentile((100 * k) / n) - res)));
    return h;
  }
}

/** The monitor's figures as pitrd_event_loop_* series, refreshed before each scrape. */
export function registerEventLoopMetrics(metrics: MetricsRegistry, monitor: EventLoopMonitor): void {
  const delay = metrics.summary(
    'pitrd_event_loop_delay_seconds',
    `How late the main thread ran a ${RESOLUTION_MS} ms timer: quantiles over the last ${EVENT_LOOP_WINDOW_S} s, sum and count since start`,
    [],
  );
  const max = metrics.gauge('pitrd_event_loop_delay_max_seconds', `Largest event-loop delay in the last ${EVENT_LOOP_WINDOW_S} s`);
  const busy = metrics.counter('pitrd_event_loop_busy_seconds_total', 'Seconds the main thread was busy (not waiting for I/O) since start');
  metrics.collect(() => {
    const s = monitor.snapshot();
    delay.set(undefined, { quantiles: s.quantiles, sum: s.sum, count: s.count });
    max.set(undefined, s.max);
    const d = s.busySeconds - busy.get();
    if (d > 0) busy.inc(undefined, d);
  });
}
