import type { TimelineId } from '../types.js';
import { lineageSteps, segmentName, stepTimeline, type TimelineHistory } from '../wal/index.js';

export interface ContinuityInput {
  segSize: number;
  /** Archived segment numbers per timeline. */
  archived: ReadonlyMap<TimelineId, ReadonlySet<bigint>>;
  histories: ReadonlyMap<TimelineId, TimelineHistory>;
  /** Completed backups: recovery from each needs WAL from its start to the end of the archive. */
  backups: readonly { id: string; timeline: TimelineId; startSegno: bigint }[];
}

export interface ContinuityGap {
  /** Timeline whose recovery path lacks the segments. */
  timeline: TimelineId;
  /** Missing segment names, in LSN order (named on the timeline restore would read them from). */
  missing: string[];
  /** Backups whose recovery to the end of this timeline is cut by the gap. */
  backups: string[];
}

/**
 * Which segments each timeline's recovery path lacks, from the oldest point needed (the earliest
 * backup in its lineage, or its first archived segment) to its last archived segment. The
 * timeline a segment is read from follows restore_command: the newest timeline of the lineage
 * that had begun at that segment (the switch segment comes from the child).
 */
export function findContinuityGaps(input: ContinuityInput): ContinuityGap[] {
  const out: ContinuityGap[] = [];
  for (const tli of [...input.archived.keys()].sort((a, b) => a - b)) {
    const own = input.archived.get(tli)!;
    if (own.size === 0) continue;
    const lin = lineageSteps(tli, input.histories.get(tli), input.segSize);
    const tliFor = (s: bigint): TimelineId => stepTimeline(lin, s);
    const has = (s: bigint) => input.archived.get(tliFor(s))?.has(s) ?? false;
    const last = [...own].reduce((a, b) => (b > a ? b : a));
    let first: bigint | null = null;
    for (const l of lin) {
      for (const s of input.archived.get(l.tli) ?? []) if (tliFor(s) === l.tli && (first === null || s < first)) first = s;
    }
    const relevant = input.backups.filter((b) => lin.some((l) => l.tli === b.timeline) && b.startSegno <= last);
    for (const b of relevant) if (first === null || b.startSegno < first) first = b.startSegno;
    if (first === null) continue;
    const missing: bigint[] = [];
    for (let s = first; s <= last; s++) if (!has(s)) missing.push(s);
    if (missing.length === 0) continue;
    const lastMissing = missing[missing.length - 1]!;
    out.push({
      timeline: tli,
      missing: missing.map((s) => segmentName(tliFor(s), s, input.segSize)),
      backups: relevant.filter((b) => b.startSegno <= lastMissing).map((b) => b.id),
    });
  }
  return out;
}
