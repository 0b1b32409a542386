import type { Lsn, TimelineId } from '../types.js';
import { isoToTimestampTz } from './format.js';
import type { TimelineHistory } from './history.js';
import { parseSegmentName, segmentName, segnoOf } from './segment.js';

/** The few summary fields the window needs (a full SegmentSummary fits). */
export interface WindowSegment {
  timeline: TimelineId;
  segno: bigint;
  endLsn: Lsn;
  firstCommitTime: string | null;
  lastCommitTime: string | null;
  lastCommitLsn: Lsn | null;
}

export interface WindowBackup {
  id: string;
  timeline: TimelineId;
  start_lsn: Lsn;
  stop_lsn: Lsn;
  /** ISO 8601 UTC: the consistency point. */
  stop_time: string;
  status: string;
}

export type WindowStatus = 'ok' | 'no-backup' | 'no-restorable-backup' | 'no-wal';

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
}

export interface WindowInput {
  segSize: number;
  segments: readonly WindowSegment[];
  /** History of every timeline > 1 that appears (timeline 1 has none). */
  histories: ReadonlyMap<TimelineId, TimelineHistory>;
  backups: readonly WindowBackup[];
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

/** Timelines of `tli`'s lineage with the first segment each one is read from (oldest first). */
function lineage(tli: TimelineId, histories: ReadonlyMap<TimelineId, TimelineHistory>, segSize: number): { tli: TimelineId; fromSegno: bigint }[] {
  const h = histories.get(tli);
  const out: { tli: TimelineId; fromSegno: bigint }[] = [];
  let begin = 0n;
  for (const e of h?.entries ?? []) {
    out.push({ tli: e.parent, fromSegno: segnoOf(begin, segSize) });
    begin = e.switchLsn;
  }
  // Like restore_command recovery: the switch segment is read from the child, which holds a copy
  // of the parent's WAL up to the switch point followed by its own.
  out.push({ tli, fromSegno: segnoOf(begin, segSize) });
  return out;
}

const key = (tli: TimelineId, segno: bigint) => `${tli}:${segno}`;

/**
 * The recovery window of each timeline: from the oldest restorable backup's consistency point to
 * the last commit in gap-free WAL after it, following timeline switches via history files.
 */
export function computeRecoveryWindows(input: WindowInput): RecoveryWindow[] {
  const bySeg = new Map<string, WindowSegment>();
  const timelines = new Set<TimelineId>();
  for (const s of input.segments) {
    bySeg.set(key(s.timeline, s.segno), s);
    timelines.add(s.timeline);
  }
  for (const b of input.backups) timelines.add(b.timeline);
  return [...timelines].sort((a, b) => a - b).map((t) => windowOf(t, input, bySeg));
}

function windowOf(tli: TimelineId, input: WindowInput, bySeg: Map<string, WindowSegment>): RecoveryWindow {
  const { segSize } = input;
  const lin = lineage(tli, input.histories, segSize);
  // Which timeline's file holds segment `segno` in this lineage: the newest that had begun.
  const tliFor = (segno: bigint): TimelineId => {
    for (let i = lin.length - 1; i > 0; i--) if (segno >= lin[i]!.fromSegno) return lin[i]!.tli;
    return lin[0]!.tli;
  };
  const segAt = (segno: bigint) => bySeg.get(key(tliFor(segno), segno));

  let first: bigint | null = null;
  let last: bigint | null = null;
  for (const s of bySeg.values()) {
    if (tliFor(s.segno) !== s.timeline || !lin.some((l) => l.tli === s.timeline)) continue;
    if (first === null || s.segno < first) first = s.segno;
    if (last === null || s.segno > last) last = s.segno;
  }
  const gaps: string[] = [];
  if (first !== null && last !== null) {
    for (let s = first; s <= last; s++) if (!segAt(s)) gaps.push(segmentName(tliFor(s), s, segSize));
  }
  const empty: RecoveryWindow = { timeline: tli, status: 'no-wal', backupId: null, from: null, fromLsn: null, to: null, toLsn: null, lastSegment: null, gaps };
  if (first === null) return { ...empty, status: input.backups.length ? 'no-restorable-backup' : 'no-wal' };

  /** Last segno of the gap-free run starting at `start`, or null when `start` itself is missing. */
  const runEnd = (start: bigint): bigint | null => {
    if (!segAt(start)) return null;
    let s = start;
    while (s < last! && segAt(s + 1n)) s++;
    return s;
  };
  const lastCommitIn = (start: bigint, end: bigint, notBefore: Lsn) => {
    for (let s = end; s >= start; s--) {
      const seg = segAt(s)!;
      if (seg.lastCommitTime !== null && seg.lastCommitLsn !== null && seg.lastCommitLsn >= notBefore) {
        return { time: seg.lastCommitTime, lsn: seg.lastCommitLsn };
      }
    }
    return null;
  };

  const inLineage = (b: WindowBackup) => {
    const i = lin.findIndex((l) => l.tli === b.timeline);
    if (i < 0) return false;
    const next = lin[i + 1];
    // The backup must start before its timeline was left for the next one in this lineage.
    const h = input.histories.get(tli);
    const sw = next && h ? h.entries[i]?.switchLsn : undefined;
    return sw === undefined || b.start_lsn < sw;
  };
  const candidates = input.backups
    .filter((b) => b.status === 'completed' && inLineage(b))
    .sort((a, b) => (a.start_lsn < b.start_lsn ? -1 : a.start_lsn > b.start_lsn ? 1 : 0));

  if (candidates.length === 0) {
    if (input.backups.some((b) => inLineage(b))) return { ...empty, status: 'no-restorable-backup' };
    // No base backup yet: describe what the archive alone covers, from its first segment.
    const end = runEnd(first)!;
    let from: WindowSegment | null = null;
    for (let s = first; s <= end && !from; s++) if (segAt(s)!.firstCommitTime !== null) from = segAt(s)!;
    const to = lastCommitIn(first, end, 0n);
    return {
      ...empty,
      status: 'no-backup',
      from: from?.firstCommitTime ?? null,
      fromLsn: null,
      to: to?.time ?? null,
      toLsn: to?.lsn ?? segAt(end)!.endLsn,
      lastSegment: segmentName(tliFor(end), end, segSize),
    };
  }

  for (const b of candidates) {
    const start = segnoOf(b.start_lsn, segSize);
    const end = runEnd(start);
    // Restorable only if the WAL reaches its stop LSN (consistency) without a gap.
    if (end === null || segnoOf(b.stop_lsn, segSize) > end) continue;
    const endSeg = segAt(end)!;
    if (segnoOf(b.stop_lsn, segSize) === end && endSeg.endLsn < b.stop_lsn) continue;
    const to = lastCommitIn(start, end, b.stop_lsn);
    return {
      timeline: tli,
      status: 'ok',
      backupId: b.id,
      from: b.stop_time,
      fromLsn: b.stop_lsn,
      // With no commit after consistency, the consistency point is all one can reach.
      to: to && isoToTimestampTz(to.time) > isoToTimestampTz(b.stop_time) ? to.time : b.stop_time,
      toLsn: to ? to.lsn : b.stop_lsn,
      lastSegment: segmentName(tliFor(end), end, segSize),
      gaps,
    };
  }
  return { ...empty, status: 'no-restorable-backup' };
}
