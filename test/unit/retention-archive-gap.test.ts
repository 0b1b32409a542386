import { describe, expect, it } from 'vitest';
import { findContinuityGaps } from '../../src/catalog/index.js';
import { summarizeGaps } from '../../src/service/index.js';
import { segmentName, type TimelineHistory } from '../../src/wal/index.js';

const SEG = 16 * 1024 * 1024;
const name = (t: number, n: number) => segmentName(t, BigInt(n), SEG);
const segs = (...ns: number[]) => new Set(ns.map(BigInt));

describe('summarizeGaps', () => {
  it('a continuous archive has no gap', () => {
    const gaps = findContinuityGaps({ segSize: SEG, archived: new Map([[1, segs(1, 2, 3, 4)]]), histories: new Map(), backups: [] });
    expect(summarizeGaps(gaps, SEG)).toEqual({ gap: null, missingSegments: 0 });
  });

  it('reports the oldest run of missing segments and counts every missing one', () => {
    // Missing 3-4 and 7.
    const gaps = findContinuityGaps({ segSize: SEG, archived: new Map([[1, segs(1, 2, 5, 6, 8)]]), histories: new Map(), backups: [{ id: 'b1', timeline: 1, startSegno: 2n }] });
    expect(summarizeGaps(gaps, SEG)).toEqual({
      gap: { timeline: 1, missingFrom: name(1, 3), missingTo: name(1, 4), missingSegments: 3, backups: ['b1'] },
      missingSegments: 3,
    });
  });

  it('a backup older than the archive makes the segments it needs a gap', () => {
    const gaps = findContinuityGaps({ segSize: SEG, archived: new Map([[1, segs(5, 6)]]), histories: new Map(), backups: [{ id: 'b0', timeline: 1, startSegno: 3n }] });
    expect(summarizeGaps(gaps, SEG).gap).toEqual({ timeline: 1, missingFrom: name(1, 3), missingTo: name(1, 4), missingSegments: 2, backups: ['b0'] });
  });

  it('a gap on the parent timeline, seen again in the child lineage, counts once', () => {
    // Timeline 2 left timeline 1 in segment 6; segment 3 of timeline 1 is missing.
    const h2: TimelineHistory = { timeline: 2, entries: [{ parent: 1, switchLsn: 6n * BigInt(SEG) + 0x100n, reason: '' }] };
    const gaps = findContinuityGaps({ segSize: SEG, archived: new Map([[1, segs(1, 2, 4, 5, 6)], [2, segs(6, 7)]]), histories: new Map([[2, h2]]), backups: [] });
    expect(gaps.map((g) => [g.timeline, g.missing])).toEqual([
      [1, [name(1, 3)]],
      [2, [name(1, 3)]],
    ]);
    expect(summarizeGaps(gaps, SEG)).toEqual({ gap: { timeline: 1, missingFrom: name(1, 3), missingTo: name(1, 3), missingSegments: 1, backups: [] }, missingSegments: 1 });
  });
});
