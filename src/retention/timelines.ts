import type { Lsn, TimelineId } from '../types.js';
import { isAncestor, timelineRange, type TimelineHistory } from '../wal/index.js';

/**
 * The timeline graph as retention needs it: which timelines descend from a point (timeline, LSN)
 * and which descend from a timeline at all. A timeline's history file lists ALL its ancestors, so
 * no walk up the tree is needed: each question is src/wal's lineage rule asked of one file.
 */
export class TimelineGraph {
  private readonly byTimeline = new Map<TimelineId, TimelineHistory>();

  constructor(histories: readonly TimelineHistory[]) {
    for (const h of histories) this.byTimeline.set(h.timeline, h);
  }

  /** `t`'s history; a timeline without a history file (1, or one not archived) is its own lineage. */
  private history(t: TimelineId): TimelineHistory {
    return this.byTimeline.get(t) ?? { timeline: t, entries: [] };
  }

  /**
   * Timelines whose WAL continues the history through (timeline, lsn): the timeline itself and
   * every timeline that left it after `lsn`. One that left it at or before `lsn` never contained
   * that point, so a backup starting there cannot be recovered along it.
   */
  descendantsOfPoint(timeline: TimelineId, lsn: Lsn, known: Iterable<TimelineId>): TimelineId[] {
    const out = new Set<TimelineId>([timeline]);
    for (const t of known) if (isAncestor(this.history(t), timeline, lsn)) out.add(t);
    return [...out].sort((a, b) => a - b);
  }

  /** True when `t` is `ancestor` or lists it in its history. */
  descendsFrom(t: TimelineId, ancestor: TimelineId): boolean {
    return timelineRange(this.history(t), ancestor) !== null;
  }
}
