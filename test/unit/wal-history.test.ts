import { describe, expect, it } from 'vitest';
import { PitrdError } from '../../src/errors.js';
import {
  crc32c,
  formatTimelineHistory,
  isAncestor,
  isoToTimestampTz,
  lineageSteps,
  lineageTimelines,
  stepTimeline,
  Lineage,
  parseLsn,
  parseTimelineHistory,
  timelineOfLsn,
  timestampTzToIso,
} from '../../src/wal/index.js';

const H3 = `1\t0/3000158\tno recovery target specified

# a comment
2\t0/5000000\tat restore point "x"
`;

describe('timeline history files', () => {
  it('parses entries and comments', () => {
    const h = parseTimelineHistory(3, H3);
    expect(h.entries).toEqual([
      { parent: 1, switchLsn: parseLsn('0/3000158'), reason: 'no recovery target specified' },
      { parent: 2, switchLsn: parseLsn('0/5000000'), reason: 'at restore point "x"' },
    ]);
    expect(parseTimelineHistory(3, formatTimelineHistory(h))).toEqual(h);
  });

  it('says which timeline produced an LSN and what is in a lineage', () => {
    const h = parseTimelineHistory(3, H3);
    expect(timelineOfLsn(h, parseLsn('0/3000157'))).toBe(1);
    expect(timelineOfLsn(h, parseLsn('0/3000158'))).toBe(2);
    expect(timelineOfLsn(h, parseLsn('0/5000000'))).toBe(3);
    expect(isAncestor(h, 1, parseLsn('0/3000000'))).toBe(true);
    expect(isAncestor(h, 1, parseLsn('0/3000158'))).toBe(false); // after the switch: a fork
    expect(isAncestor(h, 2, parseLsn('0/4FFFFFF'))).toBe(true);
    expect(isAncestor(h, 3, parseLsn('7/0'))).toBe(true);
    expect(isAncestor(h, 4, parseLsn('0/1'))).toBe(false);
  });

  it('rejects malformed content with WAL_INVALID naming the line', () => {
    const cases: [string, RegExp][] = [
      ['1 0/10 ok\nnonsense\n', /line 2 "nonsense": expected/],
      ['2 0/10 a\n1 0/20 b\n', /timeline 1 does not follow 2/],
      ['1 0/20 a\n2 0/10 b\n', /switch point 0\/10 is before 0\/20/],
      ['3 0/20 a\n', /parent timeline 3 is not older than 3/],
      ['1 0/123456789 a\n', /switch point 0\/123456789 is not an LSN/],
    ];
    for (const [text, re] of cases) {
      let err: unknown;
      try {
        parseTimelineHistory(3, text);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(PitrdError);
      expect((err as PitrdError).code).toBe('WAL_INVALID');
      expect((err as PitrdError).message).toMatch(re);
    }
  });
});

describe('timeline history files: the one parser (was also src/receiver/timeline-history.ts)', () => {
  // The receiver's copy's own cases, kept: same inputs, same entries, same refusals.
  it('reads entries and skips comments', () => {
    const text = '# comment\n1\t0/3000000\tno recovery target specified\n\n2\t1/A0\tbefore 2026-01-01\n';
    expect(parseTimelineHistory(3, text).entries).toEqual([
      { parent: 1, switchLsn: 0x0_0300_0000n, reason: 'no recovery target specified' },
      { parent: 2, switchLsn: 0x1_0000_00a0n, reason: 'before 2026-01-01' },
    ]);
  });
  it('rejects malformed or unordered lines', () => {
    expect(() => parseTimelineHistory(3, 'x\t0/1\n')).toThrow(/expected "parentTLI switchLSN reason"/);
    expect(() => parseTimelineHistory(3, '2\t0/1\tr\n1\t0/2\tr\n')).toThrow(/must increase/);
  });

  // Where the two bodies disagreed, the one left decides as PostgreSQL's readTimeLineHistory does.
  it('edge inputs: CRLF, no final newline, spaces, no reason, lower-case hex, empty file', () => {
    const expected = [
      { parent: 1, switchLsn: parseLsn('0/3000158'), reason: '' },
      { parent: 2, switchLsn: parseLsn('A/FF'), reason: 'at "x"' },
    ];
    for (const text of ['1\t0/3000158\r\n2\ta/ff\tat "x"\r\n', '1 0/3000158\n2   A/FF   at "x"', '  1\t0/3000158\t\n\n# c\n2\tA/FF\tat "x"  \n']) {
      expect(parseTimelineHistory(3, text).entries).toEqual(expected);
    }
    expect(parseTimelineHistory(2, '').entries).toEqual([]);
    expect(parseTimelineHistory(2, '# only a comment\n\n').entries).toEqual([]);
  });
  it('edge inputs refused: switch points going back, a parent not older than the timeline, out-of-range ids, glued reason', () => {
    const refused = ['1\t0/20\ta\n2\t0/10\tb\n', '3\t0/10\tr\n', '4294967296\t0/10\tr\n', '0\t0/10\tr\n', '1\t0/10r\n', '1\t0/\tr\n', '-1\t0/10\tr\n'];
    for (const text of refused) expect(() => parseTimelineHistory(3, text), text).toThrow(PitrdError);
  });
});

describe('a timeline lineage: one body (was in wal/reach.ts, catalog/continuity.ts, catalog/summarize.ts, restore/plan.ts)', () => {
  const SEG = 16 * 1024 * 1024;
  const S = BigInt(SEG);
  // Timeline 3: left 1 in the middle of segment 3, left 2 exactly at the start of segment 6.
  const h = parseTimelineHistory(3, `1\t${(3n * S + 0x158n).toString(16).replace(/^/, '0/')}\tr\n2\t0/${(6n * S).toString(16)}\tr\n`);

  it('the timelines recovery may read: the timeline, then its ancestors newest first', () => {
    expect(lineageTimelines(3, h)).toEqual([3, 2, 1]);
    expect(lineageTimelines(1, undefined)).toEqual([1]);
    expect(lineageTimelines(5, { timeline: 5, entries: [] })).toEqual([5]);
  });

  it('which timeline holds each segment: the switch segment comes from the child, a boundary switch from the child too', () => {
    const steps = lineageSteps(3, h, SEG);
    expect(steps).toEqual([
      { tli: 1, fromSegno: 0n, switchLsn: 3n * S + 0x158n },
      { tli: 2, fromSegno: 3n, switchLsn: 6n * S },
      { tli: 3, fromSegno: 6n, switchLsn: null },
    ]);
    expect([0n, 2n, 3n, 5n, 6n, 99n].map((n) => stepTimeline(steps, n))).toEqual([1, 1, 2, 2, 3, 3]);
    expect(stepTimeline(lineageSteps(1, undefined, SEG), 7n)).toBe(1);
  });

  it('the recovery window\'s Lineage answers the same as the shared steps (it is built on them)', () => {
    const lin = new Lineage(3, { segSize: SEG, segments: [], histories: new Map([[3, h]]), backups: [] });
    const steps = lineageSteps(3, h, SEG);
    for (let n = 0n; n < 10n; n++) expect(lin.tliFor(n)).toBe(stepTimeline(steps, n));
    expect(lin.steps).toEqual(steps);
  });
});

describe('checksums and timestamps', () => {
  it('CRC-32C of the standard check string', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(Buffer.alloc(0))).toBe(0);
  });

  it('TimestampTz <-> ISO keeps microseconds', () => {
    expect(timestampTzToIso(0n)).toBe('2000-01-01T00:00:00.000000Z');
    expect(timestampTzToIso(-1n)).toBe('1999-12-31T23:59:59.999999Z');
    const t = isoToTimestampTz('2026-11-23T08:55:01.123456Z');
    expect(timestampTzToIso(t)).toBe('2026-11-23T08:55:01.123456Z');
    expect(isoToTimestampTz('2026-11-23T08:55:01.1Z')).toBe(t - 23456n);
  });
});
