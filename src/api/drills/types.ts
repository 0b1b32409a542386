/**
 * Restore drills as the API sees them: a backup restored into a scratch directory on the
 * daemon's host, checked, removed (src/service/drills.ts); the record is the repository's
 * drills/{id}.json.
 */

export type DrillPhaseName = 'fetch' | 'extract' | 'replay' | 'checks';

export interface DrillView {
  id: string;
  database: string;
  status: 'running' | 'succeeded' | 'failed' | 'interrupted';
  trigger: 'schedule' | 'api' | 'cli';
  backup_id: string | null;
  /** The restore it ran (GET …/pitr/restores/:id). */
  restore_id: string | null;
  /** What recovery was held to: `lsn X/Y` (the latest point of the window), `immediate`, or `latest` before the plan. */
  target: string | null;
  started_at: string;
  completed_at: string | null;
  /** Seconds per phase; null for a phase not reached (yet). */
  phases: Record<DrillPhaseName, number | null>;
  /** Measured recovery time: fetch + extract + replay. */
  rto_seconds: number | null;
  wal: { segments: number; bytes: number } | null;
  checks: {
    databases: number;
    tables: number;
    rows: number;
    indexes_checked: number;
    amcheck_unavailable: string[];
    sql_checks: number;
    table_rows: Array<{ table: string; rows: number }>;
  } | null;
  /** What failed: the phase, the object (a repository key, `db.schema.index`, `db.schema.table`, `check_sql[i]`), the code and the message. */
  failures: Array<{ phase: DrillPhaseName; object: string | null; code: string; message: string }>;
}

export interface DrillRequest {
  /** Restore this backup (default: the newest, to the latest point of its window). */
  backupId?: string;
}

/** What the drill routes need from the daemon. */
export interface DrillService {
  /**
   * Admit (DRILL_IN_PROGRESS, RESTORE_LIMIT_REACHED, INSUFFICIENT_DISK_SPACE: nothing recorded)
   * and start a drill; the view of its first record (running, or failed when the repository
   * cannot restore: a WAL gap, a backup that is not there).
   */
  start(projectId: string, name: string, req: DrillRequest): Promise<DrillView>;
  /** Every drill of the database (any order; the route sorts). */
  list(projectId: string, name: string): Promise<DrillView[]>;
  /** DRILL_NOT_FOUND when absent. */
  get(projectId: string, name: string, drillId: string): Promise<DrillView>;
}
