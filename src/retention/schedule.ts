import cron, { type ScheduledTask } from 'node-cron';
import { PitrdError } from '../errors.js';

export interface RetentionSchedule {
  /** Run now, outside the schedule (on demand); resolves with fn's result. */
  runNow(): Promise<unknown>;
  /** True while a run (scheduled or on demand) is in progress. */
  isBusy(): boolean;
  nextRun(): Date | null;
  stop(): Promise<void>;
}

/**
 * Run `fn` on a cron schedule. Runs never overlap: a tick that finds the previous run still going
 * is skipped (node-cron's noOverlap), and an on-demand run while one is going waits for it and
 * shares its result rather than deleting concurrently.
 */
export function scheduleRetention(cronExpr: string, fn: () => Promise<unknown>, opts: { timezone?: string; name?: string } = {}): RetentionSchedule {
  if (!cron.validate(cronExpr)) {
    throw new PitrdError('VALIDATION_ERROR', `retention schedule "${cronExpr}" is not a valid cron expression (e.g. "30 3 * * *")`, { context: { schedule: cronExpr } });
  }
  let running: Promise<unknown> | null = null;
  const once = (): Promise<unknown> => {
    if (!running) {
      running = (async () => {
        try {
          return await fn();
        } finally {
          running = null;
        }
      })();
    }
    return running;
  };
  const task: ScheduledTask = cron.schedule(cronExpr, () => once(), { noOverlap: true, ...(opts.timezone ? { timezone: opts.timezone } : {}), ...(opts.name ? { name: opts.name } : {}) });
  return {
    runNow: once,
    isBusy: () => running !== null,
    nextRun: () => task.getNextRun(),
    async stop() {
      await task.destroy();
    },
  };
}
