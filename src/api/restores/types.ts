/**
 * Restores as the API sees them. The target is PostgreSQL's recovery_target_* family, one kind
 * at a time; the service (src/service/restores.ts) runs the restore (src/restore) in the
 * background and records it in the repository's restores/{id}.json.
 */

/** What a restore can stop at: PostgreSQL's recovery_target_* family, plus the archive's end and the backup's consistency point. */
export type TargetKind = 'time' | 'lsn' | 'xid' | 'name' | 'latest' | 'immediate';

/**
 * The recovery target fields of a restore or branch body, as sent (at most one target; the
 * service parses them with the CLI's parser and answers VALIDATION_ERROR naming `body.<field>`).
 */
export interface TargetBody {
  target_time?: string | undefined;
  target_lsn?: string | undefined;
  target_xid?: string | number | undefined;
  target_name?: string | undefined;
  target?: 'latest' | 'immediate' | undefined;
  inclusive?: boolean | undefined;
  timeline?: number | 'latest' | 'current' | undefined;
  /** POST …/pitr/restore only: an event id of GET …/pitr/events; the restore stops just before it. */
  before_event?: string | undefined;
}

export type RestoreMode = 'stopped' | 'running';

export interface RestoreRequest {
  /** The body's target fields; none given: `defaultTarget`, or VALIDATION_ERROR when that is null. */
  target: TargetBody;
  /** POST …/backups/:id/restore stops at the backup's consistency point unless told otherwise. */
  defaultTarget: 'immediate' | null;
  /** Restore from this base backup instead of the newest one that reaches the target. */
  backupId?: string;
  mode: RestoreMode;
  /** A directory under the daemon's restore root (relative, or absolute inside it); default: a new one. */
  targetDir?: string;
}

export interface RestoreProgressView {
  phase: string;
  /** Base backup bytes unpacked / to unpack. */
  bytes_done: number | null;
  bytes_total: number | null;
  /** WAL segments handed to PostgreSQL / in the archive from the backup on. */
  segments_applied: number | null;
  segments_total: number | null;
  replay_lsn: string | null;
}

export type RestoreStatusView = 'pending' | 'running' | 'completed' | 'failed' | 'interrupted';

export interface RestoreView {
  id: string;
  database: string;
  status: RestoreStatusView;
  target_kind: TargetKind | null;
  /** RFC 3339 time, 'latest', or null for other kinds (seed 004's field). */
  target_time: string | null;
  target_lsn: string | null;
  target_xid: string | null;
  target_name: string | null;
  backup_id: string | null;
  mode: RestoreMode | null;
  /** The restored data directory on the daemon's host (null for restores run elsewhere, e.g. the CLI). */
  target_dir: string | null;
  /** While a 'running' restore's server is up: where to connect (never a password). */
  connection_uri: string | null;
  wal_files_applied: number;
  /** While it runs in this daemon: the phase (plan, extract, replay, target_reached) and counters so far. */
  progress: RestoreProgressView | null;
  started_at: string;
  completed_at: string | null;
  error: string | null;
  /** When DELETE stopped its server and removed its data directory (the record stays). */
  removed_at: string | null;
}

/** What the restore routes need from the daemon. */
export interface RestoreService {
  /**
   * Check the target against the recovery window and the archive (TARGET_TIME_INVALID, WAL_GAP,
   * BACKUP_NOT_FOUND … before anything is written), record the restore, run it in the background.
   */
  start(projectId: string, name: string, req: RestoreRequest): Promise<RestoreView>;
  /** Every restore of the database (any order; the route sorts). */
  list(projectId: string, name: string): Promise<RestoreView[]>;
  /** RESTORE_NOT_FOUND when absent. */
  get(projectId: string, name: string, restoreId: string): Promise<RestoreView>;
  /**
   * Stop the server of a restore left running and remove its data directory (RESTORE_NOT_FOUND,
   * CONFLICT while it runs or for a branch's restore); again on a removed one: the same view.
   */
  remove(projectId: string, name: string, restoreId: string): Promise<RestoreView>;
}
