import type { Repository } from '../repository/index.js';
import type { TimelineId } from '../types.js';
import { computeRecoveryWindows, formatLsn, type WindowStatus } from '../wal/index.js';
import { databaseIdentity, loadHistories, loadSummaries, windowBackups } from './load.js';

/** One timeline's recovery window, in the API's snake_case shape. */
export interface RecoveryWindowView {
  timeline: TimelineId;
  status: WindowStatus;
  backup_id: string | null;
  /** Earliest reachable time: the base backup's consistency point (stop time). */
  from: string | null;
  /** Latest reachable time: the last commit in gap-free WAL after the backup. */
  to: string | null;
  /** When the window's base backup became consistent (its stop time; equals `from` when status is ok). */
  base_backup_time: string | null;
  /** Newest commit in any archived, summarised segment of the timeline, even beyond a gap. */
  latest_wal_time: string | null;
  from_lsn: string | null;
  to_lsn: string | null;
  last_segment: string | null;
  gaps: string[];
}

/**
 * Recovery windows of a database from the stored summaries (run summarizeArchive first for
 * segments archived since), timeline histories and backup.json records. Reads no segment; summaries of segments no longer archived are ignored.
 */
export async function recoveryWindow(repo: Repository, dbName: string): Promise<RecoveryWindowView[]> {
  const db = repo.database(dbName);
  const { segSize } = await databaseIdentity(db);
  const { summaries } = await loadSummaries(db);
  const { histories } = await loadHistories(db);
  const backups = windowBackups(await db.backups.list());
  // A summary outlives its segment when the object is lost or removed by hand: only segments
  // still archived (same content) count, which costs one LIST and no segment reads.
  const archived = new Map<string, string>();
  for await (const s of db.wal.listSegments()) archived.set(`${s.timeline}:${s.name}`, s.sha256);
  const segments = [...summaries.values()].filter((s) => archived.get(`${s.timeline}:${s.name}`) === s.sha256);
  // Newest commit anywhere on a timeline, whether or not it is reachable past a gap.
  const latest = new Map<TimelineId, string>();
  for (const s of segments) if (s.lastCommitTime !== null) latest.set(s.timeline, s.lastCommitTime);
  return computeRecoveryWindows({ segSize, segments, histories, backups }).map((w) => ({
    timeline: w.timeline,
    status: w.status,
    backup_id: w.backupId,
    from: w.from,
    to: w.to,
    base_backup_time: w.backupId ? (backups.find((b) => b.id === w.backupId)?.stop_time ?? null) : null,
    latest_wal_time: latest.get(w.timeline) ?? null,
    from_lsn: w.fromLsn === null ? null : formatLsn(w.fromLsn),
    to_lsn: w.toLsn === null ? null : formatLsn(w.toLsn),
    last_segment: w.lastSegment,
    gaps: w.gaps,
  }));
}
