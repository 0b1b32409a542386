/**
 * How far recovery from one base backup can replay, from WAL summaries alone. Pure: the recovery
 * window (./window.ts) and the restore plan's target admission (./admit.ts) both read it, so the
 * window the API reports and the targets a restore accepts come from one computation.
 */
import type { Lsn, TimelineId } from '../types.js';
import { isoToTimestampTz } from './format.js';
import { lineageSteps, stepTimeline, type LineageStep, type TimelineHistory } from './history.js';
import { segmentName, segnoOf } from './segment.js';

/** The summary fields the window needs (a SegmentSummary fits; see catalog's loader). */
export interface WindowSegment {
  timeline: TimelineId;
  segno: bigint;
  endLsn: Lsn;
  firstCommitTime: string | null;
  lastCommitTime: string | null;
  lastCommitLsn: Lsn | null;
  /** Start of the last whole record read in this segment (the summary's continuation.prevRecordLsn). */
  lastRecordLsn?: Lsn | null;
  /** xid range of the commit/abort records here (as met; see summary.ts). */
  minXid?: number | null;
  maxXid?: number | null;
  restorePoints?: readonly { name: string; time: string; lsn: Lsn }[];
  /** Checkpoint records (time: when the checkpoint began, whole seconds). */
  checkpoints?: readonly { time: string }[];
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

export interface WindowInput {
  segSize: number;
  /** Archived segments that have a summary of their current content (one per timeline:segno). */
  segments: readonly WindowSegment[];
  /** History of every timeline > 1 that appears (timeline 1 has none). */
  histories: ReadonlyMap<TimelineId, TimelineHistory>;
  backups: readonly WindowBackup[];
}

/** RFC 3339 (T or space, any case) → microseconds (TimestampTz): commit times are microsecond-exact. */
export const micros = (iso: string): bigint => isoToTimestampTz(iso.replace(/^(\d{4}-\d\d-\d\d)[Tt ]/, '$1T').replace(/z$/, 'Z'));

/**
 * One timeline's lineage as restore_command recovery reads it: each timeline with the first
 * segment read from it (oldest first). The switch segment is read from the child, which holds a
 * copy of the parent's WAL up to the switch point followed by its own.
 */
export class Lineage {
  readonly steps: readonly LineageStep[];
  private readonly bySeg = new Map<string, WindowSegment>();

  constructor(
    readonly timeline: TimelineId,
    private readonly input: WindowInput,
  ) {
    this.steps = lineageSteps(timeline, input.histories.get(timeline), input.segSize);
    for (const s of input.segments) if (this.tliFor(s.segno) === s.timeline) this.bySeg.set(String(s.segno), s);
  }

  get segSize(): number {
    return this.input.segSize;
  }

  /** The timeline whose file holds segment `segno` in this lineage: the newest that had begun. */
  tliFor(segno: bigint): TimelineId {
    return stepTimeline(this.steps, segno);
  }

  at(segno: bigint): WindowSegment | undefined {
    return this.bySeg.get(String(segno));
  }

  name(segno: bigint): string {
    return segmentName(this.tliFor(segno), segno, this.input.segSize);
  }

  /** Segment numbers of the lineage present, ascending. */
  segnos(): bigint[] {
    return [...this.bySeg.values()].map((s) => s.segno).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** A backup belongs to the lineage when it started on one of its timelines before that timeline was left. */
  holds(b: WindowBackup): boolean {
    const step = this.steps.find((s) => s.tli === b.timeline);
    return step !== undefined && (step.switchLsn === null || b.start_lsn < step.switchLsn);
  }
}

/** Where the gap-free WAL from a backup ends and what it holds. */
export interface Reach {
  backup: WindowBackup;
  /** Last segment of the gap-free run from the backup's start. */
  lastSegment: string;
  endSegno: bigint;
  /** End of the gap-free WAL: the highest LSN target accepted. */
  endLsn: Lsn;
  /** Start of the last whole record of the run: the last LSN a record starts at (PostgreSQL stops only at a record). */
  lastRecordLsn: Lsn;
  /** Last commit of the run at or after the consistency point. */
  lastCommit: { time: string; lsn: Lsn } | null;
  /** Newest commit time in the run from the consistency segment on (a time target stops only before a later commit). */
  maxCommitTime: string | null;
  /**
   * The time through which the run's WAL is known to have been received: the newest timestamp any
   * of its archived records carries from the consistency segment on (commits, aborts' and
   * commits' times, restore points, checkpoints), null when none does. Read from the WAL only,
   * never from a clock (the backup's stop time is the server's clock read after the backup ended:
   * WAL written before that reading may not be archived yet). Every time up to it is reached by
   * replaying the run: a commit not archived yet was written after it.
   */
  receivedThrough: string | null;
  /** The first missing segment after the run when the lineage has later ones; null when the run is the whole archive. */
  firstMissing: string | null;
}

const later = (a: string | null, b: string | null | undefined): string | null => (b == null ? a : a === null || micros(b) > micros(a) ? b : a);

/** How far recovery from `b` replays on `lin`, or null when its WAL from start to stop is not all there. */
export function reachFrom(lin: Lineage, b: WindowBackup): Reach | null {
  const start = segnoOf(b.start_lsn, lin.segSize);
  const stopSeg = segnoOf(b.stop_lsn, lin.segSize);
  if (!lin.at(start)) return null;
  const all = lin.segnos();
  const lastArchived = all[all.length - 1]!;
  let end = start;
  while (end < lastArchived && lin.at(end + 1n)) end++;
  if (stopSeg > end || (stopSeg === end && lin.at(end)!.endLsn < b.stop_lsn)) return null;
  let lastCommit: Reach['lastCommit'] = null;
  let maxCommitTime: string | null = null;
  let receivedThrough: string | null = null;
  for (let s = start; s <= end; s++) {
    const seg = lin.at(s)!;
    if (seg.lastCommitTime !== null && seg.lastCommitLsn !== null && seg.lastCommitLsn >= b.stop_lsn) lastCommit = { time: seg.lastCommitTime, lsn: seg.lastCommitLsn };
    if (s >= stopSeg) {
      maxCommitTime = later(later(maxCommitTime, seg.firstCommitTime), seg.lastCommitTime);
      receivedThrough = later(receivedThrough, seg.lastCommitTime);
      for (const p of seg.restorePoints ?? []) receivedThrough = later(receivedThrough, p.time);
      for (const c of seg.checkpoints ?? []) receivedThrough = later(receivedThrough, c.time);
    }
  }
  const endSeg = lin.at(end)!;
  return {
    backup: b,
    lastSegment: lin.name(end),
    endSegno: end,
    endLsn: endSeg.endLsn,
    lastRecordLsn: endSeg.lastRecordLsn ?? lastCommit?.lsn ?? b.stop_lsn,
    lastCommit,
    maxCommitTime,
    receivedThrough,
    firstMissing: end < lastArchived ? lin.name(end + 1n) : null,
  };
}

/** Completed backups of the lineage, oldest consistency point first. */
export function lineageBackups(lin: Lineage, backups: readonly WindowBackup[]): WindowBackup[] {
  return backups.filter((b) => b.status === 'completed' && lin.holds(b)).sort((a, b) => (a.stop_lsn < b.stop_lsn ? -1 : a.stop_lsn > b.stop_lsn ? 1 : 0));
}
