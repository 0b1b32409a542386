/**
 * The base-backup service of a daemon: runs backups on request or on each database's cron
 * schedule, one at a time per database, and exposes the progress of the running ones.
 */
import { assertPgText } from '../pg-text.js';
import { PitrdError } from '../errors.js';
import type { BackupRecord, BackupType, Repository } from '../repository/index.js';
import { BackupLocks } from './lock.js';
import { newBackupId } from './metadata.js';
import type { SqlConnectionParams } from '../postgres/index.js';
import type { BackupProgress } from './progress.js';
import { runBackup, type PitrWalCheck } from './runner.js';
import { BackupScheduler, DEFAULT_SCHEDULE } from './scheduler.js';

export interface BackupDatabaseConfig {
  connection: SqlConnectionParams;
  /** Cron expression (node-cron syntax); default daily at 03:00. null: no automated backups. */
  schedule?: string | null;
  /**
   * PITR: backups carry no WAL and complete once the WAL archive holds theirs. `true` asks the
   * repository's own WAL archive (what the receiver fills); an object brings its own check.
   * Absent/false/null: backups carry their WAL (restorable on their own).
   */
  pitr?: PitrWalCheck | boolean | null;
  /** With `pitr: true`: how long to wait for the WAL after the backup ended (default 5 min). */
  walTimeoutMs?: number;
  retentionDays?: number;
  project?: string;
  fastCheckpoint?: boolean;
}

export interface BackupServiceOptions {
  repository: Repository;
  databases: Record<string, BackupDatabaseConfig>;
  /** Called when an automated backup fails (there is no caller to throw to). */
  onScheduledError?: (database: string, err: unknown) => void;
  timezone?: string;
}

export interface StartBackupOptions {
  type?: BackupType;
  label?: string | null;
}

export interface StartedBackup {
  id: string;
  /** Settles with the completed record, or rejects with the failure (recorded as failed). */
  done: Promise<BackupRecord>;
}

export interface BackupService {
  /** Start a backup now; throws BACKUP_IN_PROGRESS (with the running id) when one runs. */
  start(database: string, opts?: StartBackupOptions): StartedBackup;
  /** Start and wait. */
  run(database: string, opts?: StartBackupOptions): Promise<BackupRecord>;
  progress(database: string): BackupProgress | null;
  running(): BackupProgress[];
  /** Begin the cron schedules. */
  startSchedules(): void;
  /** Stop schedules and interrupt running backups (recorded as interrupted); waits for them. */
  stop(): Promise<void>;
}

export function createBackupService(opts: BackupServiceOptions): BackupService {
  const locks = new BackupLocks();
  const progress = new Map<string, BackupProgress>();
  const aborts = new Map<string, AbortController>();
  const pending = new Set<Promise<unknown>>();
  let scheduler: BackupScheduler | null = null;

  const config = (database: string): BackupDatabaseConfig => {
    const c = opts.databases[database];
    if (!c) throw new PitrdError('DATABASE_NOT_FOUND', `no database "${database}" is configured for base backups`, { context: { database } });
    return c;
  };

  const service: BackupService = {
    start(database, startOpts = {}) {
      const cfg = config(database);
      // The label goes into backup_label, which a restore's PostgreSQL parses line by line: a
      // newline would make a "completed" backup that cannot be restored, a NUL a late failure.
      if (startOpts.label !== undefined && startOpts.label !== null) assertPgText('label', startOpts.label);
      const id = newBackupId();
      const release = locks.acquire(database, id);
      const abort = new AbortController();
      aborts.set(database, abort);
      progress.set(database, { backupId: id, database, phase: 'starting', bytesDone: 0, bytesTotalEstimate: null, currentArchive: null, startedAt: new Date().toISOString() });
      const done = runBackup({
        id,
        database: opts.repository.database({ project: cfg.project ?? 'default', name: database }),
        store: opts.repository.store,
        connection: cfg.connection,
        type: startOpts.type ?? 'manual',
        label: startOpts.label ?? null,
        pitr: pitrCheck(opts.repository, database, cfg),
        ...(cfg.retentionDays !== undefined ? { retentionDays: cfg.retentionDays } : {}),
        ...(cfg.project !== undefined ? { project: cfg.project } : {}),
        ...(cfg.fastCheckpoint !== undefined ? { fastCheckpoint: cfg.fastCheckpoint } : {}),
        signal: abort.signal,
        onProgress: (p) => progress.set(database, { ...p }),
      }).finally(() => {
        progress.delete(database);
        aborts.delete(database);
        release();
      });
      const tracked = done.catch(() => undefined);
      pending.add(tracked);
      void tracked.finally(() => pending.delete(tracked));
      return { id, done };
    },
    run(database, startOpts) {
      return service.start(database, startOpts).done;
    },
    progress(database) {
      const p = progress.get(database);
      return p ? { ...p } : null;
    },
    running() {
      return [...progress.values()].map((p) => ({ ...p }));
    },
    startSchedules() {
      if (scheduler) return;
      scheduler = new BackupScheduler(opts.timezone);
      for (const [database, cfg] of Object.entries(opts.databases)) {
        const expr = cfg.schedule === undefined ? DEFAULT_SCHEDULE : cfg.schedule;
        if (expr === null) continue;
        scheduler.add(database, expr, async () => {
          try {
            await service.run(database, { type: 'automated' });
          } catch (err) {
            opts.onScheduledError?.(database, err);
          }
        });
      }
    },
    async stop() {
      await scheduler?.stop();
      scheduler = null;
      for (const a of aborts.values()) a.abort(new Error('pitrd is shutting down'));
      await Promise.allSettled([...pending]);
    },
  };
  return service;
}


function pitrCheck(repository: Repository, database: string, cfg: BackupDatabaseConfig): PitrWalCheck | null {
  if (cfg.pitr === true) {
    const wal = repository.database({ project: cfg.project ?? 'default', name: database }).wal;
    return { isWalArchived: (timeline, name) => wal.hasSegment(timeline, name), ...(cfg.walTimeoutMs !== undefined ? { timeoutMs: cfg.walTimeoutMs } : {}) };
  }
  return cfg.pitr ? cfg.pitr : null;
}
