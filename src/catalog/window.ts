import type { Repository, DatabaseRef } from '../repository/index.js';
import type { TimelineId } from '../types.js';
import { computeRecoveryWindows, formatLsn, micros, type WindowInput, type WindowStatus } from '../wal/index.js';
import { loadWindowInput } from './window-input.js';

/** One restorable stretch of a window (more than one only across missing WAL). */
export interface RecoveryRangeView {
  backup_id: string;
  from: string;
  to: string;
  from_lsn: string;
  to_lsn: string;
  last_commit_time: string | null;
  last_segment: string;
}

/** One timeline's recovery window, in the API's snake_case shape. */
export interface RecoveryWindowView {
  timeline: TimelineId;
  status: WindowStatus;
  backup_id: string | null;
  /** Earliest reachable time: the base backup's consistency point (stop time). */
  from: string | null;
  /**
   * Latest reachable time: the time through which the gap-free WAL after the backup runs (the
   * newest time its records carry: commits, restore points, checkpoints). Any time from `from` to
   * `to` restores; a time after the last commit restores everything archived.
   */
  to: string | null;
  /** When the window's base backup became consistent (its stop time; equals `from` when status is ok). */
  base_backup_time: string | null;
  /** The time through which archived WAL of the timeline runs, even beyond a gap (equals `to` without gaps). */
  latest_wal_time: string | null;
  from_lsn: string | null;
  /** End of the gap-free WAL: the highest LSN target accepted. */
  to_lsn: string | null;
  /** Last commit in the window's gap-free WAL. */
  last_commit_time: string | null;
  last_segment: string | null;
  gaps: string[];
  /** Every restorable stretch, oldest first (the first is from/to). */
  ranges: RecoveryRangeView[];
}

/**
 * Recovery windows of a database from the stored summaries (run summarizeArchive first for
 * segments archived since), timeline histories and backup.json records. Reads no segment.
 */
export async function recoveryWindow(repo: Repository, ref: DatabaseRef): Promise<RecoveryWindowView[]> {
  return recoveryWindowViews(await loadWindowInput(repo.database(ref)));
}

/** The API's view of computeRecoveryWindows (pure: the property test compares it with the plan). */
export function recoveryWindowViews(input: WindowInput): RecoveryWindowView[] {
  // Newest time any archived record of a timeline carries, whether or not reachable past a gap.
  const latest = new Map<TimelineId, string>();
  const bump = (tli: TimelineId, t: string | null | undefined) => {
    if (t == null) return;
    const cur = latest.get(tli);
    if (cur === undefined || micros(t) > micros(cur)) latest.set(tli, t);
  };
  for (const s of input.segments) {
    bump(s.timeline, s.lastCommitTime);
    for (const p of s.restorePoints ?? []) bump(s.timeline, p.time);
    for (const c of s.checkpoints ?? []) bump(s.timeline, c.time);
  }
  return computeRecoveryWindows(input).map((w) => {
    const last = w.ranges[w.ranges.length - 1];
    if (last) bump(w.timeline, last.to);
    const first = w.ranges[0];
    return {
      timeline: w.timeline,
      status: w.status,
      backup_id: w.backupId,
      from: w.from,
      to: w.to,
      base_backup_time: w.backupId ? (input.backups.find((b) => b.id === w.backupId)?.stop_time ?? null) : null,
      latest_wal_time: latest.get(w.timeline) ?? null,
      from_lsn: w.fromLsn === null ? null : formatLsn(w.fromLsn),
      to_lsn: w.toLsn === null ? null : formatLsn(w.toLsn),
      last_commit_time: first?.lastCommitTime ?? (w.status === 'no-backup' ? w.to : null),
      last_segment: w.lastSegment,
      gaps: w.gaps,
      ranges: w.ranges.map((r) => ({ backup_id: r.backupId, from: r.from, to: r.to, from_lsn: formatLsn(r.fromLsn), to_lsn: formatLsn(r.toLsn), last_commit_time: r.lastCommitTime, last_segment: r.lastSegment })),
    };
  });
}
