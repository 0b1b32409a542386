/**
 * The recovery window: which points in time (and LSNs) a restore can reach, per timeline. Pure.
 * Built from the same per-backup reach (./reach.ts) that the restore plan admits targets with
 * (./admit.ts), so what the API reports and what a restore accepts cannot disagree.
 */
import type { Lsn, TimelineId } from '../types.js';
import { Lineage, lineageBackups, micros, reachFrom, type Reach, type WindowInput, type WindowSegment } from './reach.js';
import { parseSegmentName, segmentName } from './segment.js';

export { Lineage, lineageBackups, micros, reachFrom } from './reach.js';
export type { Reach, WindowBackup, WindowInput, WindowSegment } from './reach.js';

export type WindowStatus = 'ok' | 'no-backup' | 'no-restorable-backup' | 'no-wal';

/** One stretch of restorable time: the gap-free WAL from one or more base backups. */
export interface WindowRange {
  /** The oldest backup the stretch starts from. */
  backupId: string;
  from: string;
  fromLsn: Lsn;
  /**
   * The time through which the stretch's WAL is received (Reach.receivedThrough: timestamps of
   * archived records only). When no archived record after the consistency point carries a time
   * yet, the stretch is the consistency point alone: `to` = `from`.
   */
  to: string;
  /** End of the stretch's gap-free WAL: the highest LSN target accepted. */
  toLsn: Lsn;
  lastCommitTime: string | null;
  lastSegment: string;
  /** The restorable backups of the stretch with their reach, oldest consistency point first. */
  reaches: Reach[];
}

export interface RecoveryWindow {
  timeline: TimelineId;
  status: WindowStatus;
  /** Base backup the window starts from; null when there is none (status no-backup). */
  backupId: string | null;
  from: string | null;
  fromLsn: Lsn | null;
  to: string | null;
  toLsn: Lsn | null;
  /** Last segment of gap-free WAL from the start point. */
  lastSegment: string | null;
  /** Segment names missing between the first and the last archived segment of this lineage. */
  gaps: string[];
  /**
   * Every restorable stretch, oldest first; from/to above are the first. More than one only when
   * a gap separates WAL reachable from older backups from WAL reachable from newer ones.
   */
  ranges: WindowRange[];
}

/** Missing names in a list of one timeline's segments, between its first and last. */
export function findGaps(segmentNames: readonly string[], timeline: TimelineId, segSize: number): string[] {
  const nos = segmentNames
    .map((n) => parseSegmentName(n, segSize))
    .filter((s) => s.timeline === timeline)
    .map((s) => s.segno)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const gaps: string[] = [];
  for (let i = 1; i < nos.length; i++) {
    for (let s = nos[i - 1]! + 1n; s < nos[i]!; s++) gaps.push(segmentName(timeline, s, segSize));
  }
  return gaps;
}

/** Timelines the input knows of (segments and backups), ascending. */
export function windowTimelines(input: WindowInput): TimelineId[] {
  const t = new Set<TimelineId>();
  for (const s of input.segments) t.add(s.timeline);
  for (const b of input.backups) t.add(b.timeline);
  return [...t].sort((a, b) => a - b);
}

/** The recovery window of each timeline that appears in the input. */
export function computeRecoveryWindows(input: WindowInput): RecoveryWindow[] {
  return windowTimelines(input).map((t) => windowOf(new Lineage(t, input), input));
}

/**
 * The restorable stretches of a lineage: every completed backup whose WAL reaches its consistency
 * point gives [stop time, received-through time]; backups sharing a gap-free run share one stretch.
 */
export function restorableReaches(lin: Lineage, input: WindowInput): Reach[] {
  const out: Reach[] = [];
  for (const b of lineageBackups(lin, input.backups)) {
    const r = reachFrom(lin, b);
    if (r) out.push(r);
  }
  return out;
}

export function rangesOf(reaches: readonly Reach[]): WindowRange[] {
  const out: WindowRange[] = [];
  for (const r of reaches) {
    const prev = out[out.length - 1];
    // Same gap-free run (reaches are ordered by consistency point): one stretch. Its end is what
    // the archived WAL says; a newer backup's stop time is a clock reading, not a WAL time, and
    // does not move it.
    if (prev && r.backup.stop_lsn <= prev.toLsn) {
      prev.reaches.push(r);
      if (r.receivedThrough !== null) prev.to = latest(prev.to, r.receivedThrough);
      continue;
    }
    out.push({
      backupId: r.backup.id,
      from: r.backup.stop_time,
      fromLsn: r.backup.stop_lsn,
      to: r.receivedThrough === null ? r.backup.stop_time : latest(r.backup.stop_time, r.receivedThrough),
      toLsn: r.endLsn,
      lastCommitTime: r.lastCommit?.time ?? null,
      lastSegment: r.lastSegment,
      reaches: [r],
    });
  }
  return out;
}

const latest = (a: string, b: string): string => (micros(b) > micros(a) ? b : a);

function windowOf(lin: Lineage, input: WindowInput): RecoveryWindow {
  const segnos = lin.segnos();
  const gaps: string[] = [];
  const tli = lin.timeline;
  if (segnos.length > 0) {
    const first = segnos[0]!;
    const last = segnos[segnos.length - 1]!;
    for (let s = first; s <= last; s++) if (!lin.at(s)) gaps.push(lin.name(s));
  }
  const empty: RecoveryWindow = { timeline: tli, status: 'no-wal', backupId: null, from: null, fromLsn: null, to: null, toLsn: null, lastSegment: null, gaps, ranges: [] };
  if (segnos.length === 0) return { ...empty, status: input.backups.length ? 'no-restorable-backup' : 'no-wal' };
  const inLineage = input.backups.filter((b) => lin.holds(b));
  if (!inLineage.some((b) => b.status === 'completed')) {
    if (inLineage.length > 0) return { ...empty, status: 'no-restorable-backup' };
    return { ...empty, ...archiveOnly(lin, segnos), status: 'no-backup' };
  }
  const ranges = rangesOf(restorableReaches(lin, input));
  const r = ranges[0];
  if (!r) return { ...empty, status: 'no-restorable-backup' };
  return { timeline: tli, status: 'ok', backupId: r.backupId, from: r.from, fromLsn: r.fromLsn, to: r.to, toLsn: r.toLsn, lastSegment: r.lastSegment, gaps, ranges };
}

/** No base backup yet: what the archive alone covers, from its first segment (nothing restorable). */
function archiveOnly(lin: Lineage, segnos: bigint[]): Pick<RecoveryWindow, 'from' | 'to' | 'toLsn' | 'lastSegment'> {
  let end = segnos[0]!;
  while (lin.at(end + 1n)) end++;
  let from: WindowSegment | null = null;
  let to: WindowSegment | null = null;
  for (let s = segnos[0]!; s <= end; s++) {
    const seg = lin.at(s)!;
    if (seg.firstCommitTime !== null) from ??= seg;
    if (seg.lastCommitTime !== null) to = seg;
  }
  return { from: from?.firstCommitTime ?? null, to: to?.lastCommitTime ?? null, toLsn: to?.lastCommitLsn ?? lin.at(end)!.endLsn, lastSegment: lin.name(end) };
}
