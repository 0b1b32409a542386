import type { Lsn, TimelineId } from '../types.js';
import type { CatalogTimelineHistory } from './types.js';

/**
 * The timeline graph as retention needs it: which timelines descend from a point (timeline, LSN)
 * and which descend from a timeline at all. A timeline's history file lists ALL its ancestors, so
 * no walk up the tree is needed.
 */
export class TimelineGraph {
  private readonly ancestors = new Map<TimelineId, CatalogTimelineHistory['ancestors']>();

  constructor(histories: readonly CatalogTimelineHistory[]) {
    for (const h of histories) this.ancestors.set(h.timeline, h.ancestors);
  }

  /**
   * Timelines whose WAL continues the history through (timeline, lsn): the timeline itself and
   * every timeline that left it after `lsn`. One that left it at or before `lsn` never contained
   * that point, so a backup starting there cannot be recovered along it.
   */
  descendantsOfPoint(timeline: TimelineId, lsn: Lsn, known: Iterable<TimelineId>): TimelineId[] {
    const out = new Set<TimelineId>([timeline]);
    for (const t of known) {
      const entry = this.ancestors.get(t)?.find((a) => a.timeline === timeline);
      if (entry && entry.switchpoint > lsn) out.add(t);
    }
    return [...out].sort((a, b) => a - b);
  }

  /** True when `t` is `ancestor` or lists it in its history. */
  descendsFrom(t: TimelineId, ancestor: TimelineId): boolean {
    return t === ancestor || (this.ancestors.get(t)?.some((a) => a.timeline === ancestor) ?? false);
  }
}
