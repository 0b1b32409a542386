import { describe, expect, it } from 'vitest';
import { PitrdError } from '../../src/errors.js';
import {
  crc32c,
  formatTimelineHistory,
  isAncestor,
  isoToTimestampTz,
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
