import type { InventorySegment, SegmentRange } from './types.js';

/**
 * Group segments (any order) into runs that are contiguous in LSN on one timeline and share a
 * label. A missing segment (a gap) always ends a run, so a range never pretends to cover it.
 */
export function contiguousRuns<L>(items: readonly { seg: InventorySegment; label: L }[]): { range: SegmentRange; label: L; segments: string[] }[] {
  const sorted = [...items].sort((a, b) => a.seg.timeline - b.seg.timeline || (a.seg.startLsn < b.seg.startLsn ? -1 : a.seg.startLsn > b.seg.startLsn ? 1 : 0));
  const out: { range: SegmentRange; label: L; segments: string[] }[] = [];
  for (const { seg, label } of sorted) {
    const cur = out[out.length - 1];
    if (cur && cur.label === label && cur.range.timeline === seg.timeline && cur.range.endLsn === seg.startLsn) {
      cur.range.last = seg.name;
      cur.range.count += 1;
      cur.range.endLsn = seg.endLsn;
      cur.segments.push(seg.name);
    } else {
      out.push({
        range: { timeline: seg.timeline, first: seg.name, last: seg.name, count: 1, startLsn: seg.startLsn, endLsn: seg.endLsn },
        label,
        segments: [seg.name],
      });
    }
  }
  return out;
}
