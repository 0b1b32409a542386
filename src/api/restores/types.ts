/**
 * Restores as the API sees them. The target is PostgreSQL's recovery_target_* family, one kind
 * at a time; the daemon runs the restore (src/restore) in the background and records it in the
 * repository's restores/{id}.json.
 */

import type { RecoveryTarget } from '../../restore/index.js';

/** The engine's own target type: the API accepts exactly what a restore can stop at. */
export type RestoreTargetInput = RecoveryTarget;

export type RestoreMode = 'stopped' | 'running';

export interface RestoreRequest {
  target: RestoreTargetInput;
  /** recovery_target_inclusive (time / lsn / xid targets). */
  inclusive?: boolean;
  /** recovery_target_timeline. */
  timeline?: number | 'latest' | 'current';
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
  target_kind: RestoreTargetInput['kind'] | null;
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
