/**
 * Cron schedules of automated base backups, one per database (node-cron 4). An invalid
 * expression is refused when it is added, naming the database, not at the first missed run.
 */
import cron, { type ScheduledTask } from 'node-cron';
import { DATABASE_DEFAULTS } from '../config/index.js';
import { PitrdError } from '../errors.js';

/** The configuration's default (config/defaults.ts): daily at 03:00, the daemon's time zone unless one is given. */
export const DEFAULT_SCHEDULE = DATABASE_DEFAULTS.backup.schedule;

export function assertSchedule(database: string, expression: string): void {
  if (!cron.validate(expression)) {
    throw new PitrdError('VALIDATION_ERROR', `database "${database}": backup schedule "${expression}" is not a valid cron expression (e.g. "0 3 * * *" for daily at 03:00)`, {
      context: { database, schedule: expression },
    });
  }
}

export class BackupScheduler {
  private readonly tasks = new Map<string, ScheduledTask>();

  constructor(private readonly timezone?: string) {}

  add(database: string, expression: string, run: () => Promise<void>): void {
    assertSchedule(database, expression);
    if (this.tasks.has(database)) throw new PitrdError('CONFLICT', `database "${database}" already has a backup schedule`, { context: { database } });
    const task = cron.schedule(expression, run, {
      name: `backup:${database}`,
      // A run still going when the next is due is skipped by node-cron; the lock would refuse it anyway.
      noOverlap: true,
      ...(this.timezone ? { timezone: this.timezone } : {}),
    });
    this.tasks.set(database, task);
  }

  nextRun(database: string): Date | null {
    return this.tasks.get(database)?.getNextRun() ?? null;
  }

  async stop(): Promise<void> {
    for (const t of this.tasks.values()) await t.destroy();
    this.tasks.clear();
  }
}
