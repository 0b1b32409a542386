/** A base backup as the API shows it (seed 004: id, type, status, size_bytes, created_at, expires_at). */
export interface BackupView {
  id: string;
  type: 'manual' | 'automated';
  status: 'pending' | 'running' | 'completed' | 'failed' | 'interrupted';
  label: string | null;
  /** Bytes stored in the repository (after compression/encryption); null until completed. */
  size_bytes: number | null;
  original_size_bytes: number | null;
  created_at: string;
  expires_at: string | null;
  start_lsn: string | null;
  stop_lsn: string | null;
  /** The consistency point: restorable to any time at or after it. */
  stop_time: string | null;
  timeline: number | null;
  pinned: boolean;
  /** true: WAL inside base.tar (restorable alone); false: PITR backup (WAL in the archive); null: not known yet. */
  wal_included: boolean | null;
  error: string | null;
  /** While it runs. */
  progress: { phase: string; bytes_done: number; bytes_total_estimate: number | null; current_archive: string | null } | null;
}

export interface BackupDownloadView {
  /** URL of base.tar{ext}: the stored object's bytes (compressed as `compression` says). */
  download_url: string;
  expires_at: string;
  compression: string;
  files: Array<{ name: string; url: string; size_bytes: number; original_size_bytes: number; sha256: string }>;
}

/** A retention run's report (src/retention ExpiryReport). */
export interface RetentionRunView {
  database: string;
  dry_run: boolean;
  started_at: string;
  finished_at: string;
  resumed: { backups: string[]; wal_segments: number };
  plan: unknown;
  deleted: { backups: string[]; wal_segments: number; histories: number[] };
}

/** What the backup routes need from the daemon. */
export interface BackupService {
  /** Every backup of the database (any order; the route sorts). */
  list(projectId: string, name: string): Promise<BackupView[]>;
  /** Starts a manual backup in the background; BACKUP_IN_PROGRESS naming the running one. */
  create(projectId: string, name: string, label: string | null): Promise<BackupView>;
  /** BACKUP_NOT_FOUND when absent. */
  get(projectId: string, name: string, backupId: string): Promise<BackupView>;
  /** `request.host`: the request's Host header, for links when the daemon has no public URL. */
  download(projectId: string, name: string, backupId: string, request?: { host?: string | undefined }): Promise<BackupDownloadView>;
  /** CONFLICT for a running one, or a pinned one without force. */
  remove(projectId: string, name: string, backupId: string, force: boolean): Promise<{ id: string; deleted: true }>;
  runRetention(projectId: string, name: string, dryRun: boolean): Promise<RetentionRunView>;
}
