import { describe, expect, it } from 'vitest';
import { findContinuityGaps } from '../../src/catalog/continuity.js';
import { parseTimelineHistory, segmentName } from '../../src/wal/index.js';

const SEG = 1024 * 1024;
const set = (...nos: number[]) => new Set(nos.map(BigInt));
const name = (tli: number, segno: number) => segmentName(tli, BigInt(segno), SEG);
// Timeline 2 branched from 1 inside segment 5.
const histories = new Map([[2, parseTimelineHistory(2, '1\t0/580000\tno recovery target specified\n')]]);

describe('findContinuityGaps', () => {
  it('finds nothing in a complete archive across a timeline switch', () => {
    const archived = new Map([[1, set(1, 2, 3, 4, 5)], [2, set(5, 6, 7, 8)]]);
    expect(findContinuityGaps({ segSize: SEG, archived, histories, backups: [{ id: 'b1', timeline: 1, startSegno: 2n }] })).toEqual([]);
  });

  it('names a parent gap on every timeline whose recovery path crosses it', () => {
    const archived = new Map([[1, set(1, 2, 4, 5)], [2, set(5, 6, 7)]]);
    const gaps = findContinuityGaps({ segSize: SEG, archived, histories, backups: [{ id: 'b1', timeline: 1, startSegno: 2n }] });
    expect(gaps).toEqual([
      { timeline: 1, missing: [name(1, 3)], backups: ['b1'] },
      { timeline: 2, missing: [name(1, 3)], backups: ['b1'] },
    ]);
  });

  it('reads the switch segment from the child: a missing child copy is a gap even if the parent has it', () => {
    const archived = new Map([[1, set(1, 2, 3, 4, 5)], [2, set(6, 7)]]);
    expect(findContinuityGaps({ segSize: SEG, archived, histories, backups: [] })).toEqual([{ timeline: 2, missing: [name(2, 5)], backups: [] }]);
  });

  it('counts from a backup that starts before the first archived segment', () => {
    const archived = new Map([[1, set(4, 5, 6)]]);
    expect(findContinuityGaps({ segSize: SEG, archived, histories: new Map(), backups: [{ id: 'old', timeline: 1, startSegno: 2n }] })).toEqual([
      { timeline: 1, missing: [name(1, 2), name(1, 3)], backups: ['old'] },
    ]);
  });
});
