import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../src/receiver/backoff.js';
import { chooseStartPoint, startInvariantViolation, type StartPoint, type StartPointInput } from '../../src/receiver/start-point.js';
import { defaultSlotName } from '../../src/postgres/index.js';

const MB = 1024 * 1024;
const base: StartPointInput = {
  segSize: MB,
  archiveLast: null,
  spoolComplete: [],
  spoolPartials: [],
  slot: null,
  server: { timeline: 1, xlogpos: 0x0_0345_6789n },
};

describe('chooseStartPoint', () => {
  it('falls back to the server position, rounded down to a segment', () => {
    expect(chooseStartPoint(base)).toEqual({ lsn: 0x0_0340_0000n, timeline: 1, source: 'server' });
  });
  it('prefers the slot restart_lsn and its timeline', () => {
    const p = chooseStartPoint({ ...base, slot: { restartLsn: 0x0_0212_3456n, restartTimeline: 1 } });
    expect(p).toEqual({ lsn: 0x0_0210_0000n, timeline: 1, source: 'slot' });
  });
  it('resumes after the last complete segment, archived or spooled', () => {
    const p = chooseStartPoint({
      ...base,
      archiveLast: { timeline: 1, name: '000000010000000000000005' },
      spoolComplete: [{ timeline: 1, name: '000000010000000000000007' }],
      slot: { restartLsn: 0x0_0080_0000n, restartTimeline: 1 },
    });
    expect(p).toEqual({ lsn: 8n * BigInt(MB), timeline: 1, source: 'spool' });
  });
  it('restarts a leftover partial from its segment start', () => {
    const p = chooseStartPoint({
      ...base,
      spoolComplete: [{ timeline: 1, name: '000000010000000000000007' }],
      spoolPartials: [{ timeline: 1, name: '000000010000000000000008' }],
      slot: { restartLsn: 8n * BigInt(MB) + 100n, restartTimeline: 1 },
    });
    expect(p).toMatchObject({ lsn: 8n * BigInt(MB), timeline: 1 });
  });
  it('prefers the higher timeline at the same position', () => {
    const p = chooseStartPoint({
      ...base,
      archiveLast: { timeline: 1, name: '000000010000000000000007' },
      spoolPartials: [{ timeline: 2, name: '000000020000000000000008' }],
    });
    expect(p).toMatchObject({ lsn: 8n * BigInt(MB), timeline: 2 });
  });
  it('reports a gap when the archive ends before the slot restart_lsn', () => {
    const p = chooseStartPoint({
      ...base,
      archiveLast: { timeline: 1, name: '000000010000000000000003' },
      slot: { restartLsn: 9n * BigInt(MB) + 5n, restartTimeline: 1 },
    });
    expect(p).toEqual({ lsn: 9n * BigInt(MB), timeline: 1, source: 'slot', gap: { from: 4n * BigInt(MB), to: 9n * BigInt(MB) } });
  });
  // A crash while segment 8 was being fsync'd and renamed, the writer already filling 9: two
  // partials; 8 was never made durable, so the start is 8, not 9 (the hole of issue 13).
  const seg = (n: number, tli = 1) => ({ timeline: tli, name: `0000000${tli}00000000000000${n.toString(16).toUpperCase().padStart(2, '0')}` });
  const M = BigInt(MB);
  it('restarts from the lowest of two partials left by a crash during a segment completion', () => {
    const input = { ...base, archiveLast: seg(6), spoolComplete: [seg(7)], spoolPartials: [seg(8), seg(9)], slot: { restartLsn: 8n * M + 4096n, restartTimeline: 1 } };
    const p = chooseStartPoint(input);
    expect(p).toEqual({ lsn: 8n * M, timeline: 1, source: 'spool' });
    expect(startInvariantViolation(input, p)).toBeNull();
    // The old rule (highest partial) breaks the invariant.
    expect(startInvariantViolation(input, { lsn: 9n * M, timeline: 1, source: 'partial' })).toMatch(/the server still has/);
  });
  it('goes back to a partial below the complete position that nothing holds, while the server has it', () => {
    const input = { ...base, archiveLast: seg(12), spoolPartials: [{ ...seg(8), archived: false }, seg(13)], slot: { restartLsn: 8n * M, restartTimeline: 1 } };
    expect(chooseStartPoint(input)).toEqual({ lsn: 8n * M, timeline: 1, source: 'partial' });
  });
  it('reports such a hole as lost when the slot is past it, and goes on from the complete position', () => {
    const input = { ...base, archiveLast: seg(12), spoolPartials: [{ ...seg(8), archived: false }, seg(13)], slot: { restartLsn: 13n * M + 5n, restartTimeline: 1 } };
    const p = chooseStartPoint(input);
    expect(p).toEqual({ lsn: 13n * M, timeline: 1, source: 'archive', gap: { from: 8n * M, to: 9n * M } });
    expect(startInvariantViolation(input, p)).toBeNull();
    const silent: StartPoint = { lsn: 13n * M, timeline: 1, source: 'archive' };
    expect(startInvariantViolation(input, silent)).toMatch(/without reporting it as a gap/);
  });
  it('does not call a partial lost when the archive could not be asked about it', () => {
    const input = { ...base, archiveLast: seg(12), spoolPartials: [{ ...seg(8), archived: null }], slot: { restartLsn: 13n * M, restartTimeline: 1 } };
    const p = chooseStartPoint(input);
    expect(p).toEqual({ lsn: 13n * M, timeline: 1, source: 'archive' });
    expect(startInvariantViolation(input, p)).toBeNull();
  });
  it('names partials a complete copy supersedes as stale, and keeps the others', () => {
    const p = chooseStartPoint({
      ...base,
      archiveLast: seg(12, 2),
      spoolComplete: [seg(13, 2)],
      spoolPartials: [{ ...seg(9), archived: false }, { ...seg(11, 2), archived: true }, seg(13, 2), seg(14, 2)],
      slot: { restartLsn: 14n * M, restartTimeline: 2 },
    });
    expect(p).toEqual({ lsn: 14n * M, timeline: 2, source: 'spool', stalePartials: ['000000010000000000000009.partial', '00000002000000000000000B.partial', '00000002000000000000000D.partial'] });
  });
  it('refuses a start that is not a segment boundary', () => {
    expect(startInvariantViolation(base, { lsn: 5n, timeline: 1, source: 'server' })).toMatch(/segment boundary/);
  });
  it('works with 16 MiB segments and segment numbers past one xlogid', () => {
    const p = chooseStartPoint({ ...base, segSize: 16 * MB, archiveLast: { timeline: 3, name: '0000000300000001000000FF' } });
    expect(p).toEqual({ lsn: 0x2_0000_0000n, timeline: 3, source: 'archive' });
  });
});

describe('backoffDelay', () => {
  it('grows exponentially up to the cap', () => {
    const p = { initialMs: 500, maxMs: 30_000 };
    expect([0, 1, 2, 3, 10, 50].map((a) => backoffDelay(a, p))).toEqual([500, 1000, 2000, 4000, 30_000, 30_000]);
    expect(backoffDelay(2, { initialMs: 100, maxMs: 10_000, factor: 3 })).toBe(900);
  });
});

describe('defaultSlotName', () => {
  it('sanitizes to a valid slot name', () => {
    expect(defaultSlotName('Orders-DB.eu')).toBe('pitrd_orders_db_eu');
    expect(defaultSlotName('x'.repeat(100)).length).toBe(63);
  });
});
