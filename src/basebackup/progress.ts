/** What a running base backup reports while it runs (readable at any time, e.g. by the API). */

export type BackupPhase = 'starting' | 'streaming' | 'waiting_for_wal' | 'finishing';

export interface BackupProgress {
  backupId: string;
  database: string;
  phase: BackupPhase;
  /** Bytes the server has sent so far (its own counter, 'p' messages). */
  bytesDone: number;
  /**
   * Estimate of the bytes to send: the server's tablespace sizes once BASE_BACKUP announced
   * them, before that the sum of pg_database_size. null when neither is known.
   */
  bytesTotalEstimate: number | null;
  /** Archive being streamed (base.tar, 16385.tar, backup_manifest). */
  currentArchive: string | null;
  startedAt: string;
}

/** Fraction done in [0, 1], or null without an estimate. Capped: estimates run short (WAL, growth). */
export function fractionDone(p: Pick<BackupProgress, 'bytesDone' | 'bytesTotalEstimate'>): number | null {
  if (p.bytesTotalEstimate === null || p.bytesTotalEstimate <= 0) return null;
  return Math.min(1, p.bytesDone / p.bytesTotalEstimate);
}
