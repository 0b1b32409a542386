import { describe, expect, it } from 'vitest';
import { isPitrdError } from '../../src/errors.js';
import type { BackupRecord } from '../../src/repository/index.js';
import { choosePlan } from '../../src/restore/plan.js';
import { micros, walReach, type WindowCatalog } from '../../src/restore/window-check.js';
import type { RecoveryTarget } from '../../src/restore/target.js';
import { formatLsn, segmentName, type SegmentSummary } from '../../src/wal/index.js';

const SEG = 1024 * 1024;
const M = BigInt(SEG);

function backup(id: string, startSeg: number, stopSeg: number, stopTime: string): BackupRecord {
  return {
    id, database: 'main', type: 'manual', status: 'completed', label: null, created_at: stopTime,
    start_lsn: formatLsn(BigInt(startSeg) * M + 0x28n), stop_lsn: formatLsn(BigInt(stopSeg) * M + 0x100n), start_time: stopTime, stop_time: stopTime, timeline: 1,
    original_size: 1, stored_size: 1, compression: 'gzip', files: [], pg_version: 15, system_identifier: '1',
    expires_at: null, error: null, pinned: false,
  };
}

/** Segment `n` of timeline 1, with a commit at minute n past 10:00 (its LSN mid-segment). */
function summary(n: number, extra: Partial<SegmentSummary> = {}): SegmentSummary {
  const t = `2026-01-01T10:${String(n).padStart(2, '0')}:00.123456Z`;
  return {
    name: segmentName(1, BigInt(n), SEG), timeline: 1, segno: BigInt(n), systemId: '1',
    startLsn: BigInt(n) * M, endLsn: BigInt(n + 1) * M, firstCommitTime: t, lastCommitTime: t, lastCommitLsn: BigInt(n) * M + 0x8000n,
    minXid: null, maxXid: null, commits: 1, aborts: 0, restorePoints: [], checkpoints: [], endOfRecovery: [], switched: false, partial: false,
    sha256: 'x', continuation: {} as SegmentSummary['continuation'], ...extra,
  };
}

function catalog(segs: number[], opts: { unsummarized?: number[]; points?: Record<number, string[]> } = {}): WindowCatalog {
  const summaries = new Map<string, SegmentSummary>();
  for (const n of segs) {
    if (opts.unsummarized?.includes(n)) continue;
    const rp = (opts.points?.[n] ?? []).map((name, i) => ({ name, time: `2026-01-01T10:${String(n).padStart(2, '0')}:30Z`, lsn: BigInt(n) * M + 0x9000n + BigInt(i) }));
    summaries.set(`1:${n}`, summary(n, { restorePoints: rp }));
  }
  return { segSize: SEG, archived: new Map([[1, new Set(segs.map(BigInt))]]), summaries, lineage: [{ tli: 1, fromSegno: 0n }] };
}

const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);
const b2 = backup('b2', 2, 3, '2026-01-01T10:03:00Z');
const b6 = backup('b6', 6, 7, '2026-01-01T10:07:00Z');
const tl = new Set([1]);

function refusal(fn: () => unknown): Error & { code: string; context?: Record<string, unknown> } {
  try {
    fn();
  } catch (e) {
    if (isPitrdError(e)) return e as Error & { code: string };
    throw e;
  }
  throw new Error('expected a refusal');
}

describe('walReach', () => {
  it('runs from the backup start to the last archived segment, last commit after consistency', () => {
    const r = walReach(catalog(range(1, 10)), b2);
    expect(r).toMatchObject({ lastSegment: segmentName(1, 10n, SEG), endLsn: 11n * M, firstMissing: null, summarized: true });
    expect(r.lastCommit).toEqual({ time: '2026-01-01T10:10:00.123456Z', lsn: 10n * M + 0x8000n });
  });

  it('stops at the first missing segment and names it', () => {
    const r = walReach(catalog([...range(1, 5), ...range(7, 10)]), b2);
    expect(r.firstMissing).toBe(segmentName(1, 6n, SEG));
    expect(r.lastSegment).toBe(segmentName(1, 5n, SEG));
    expect(r.latestCommitTime).toBe('2026-01-01T10:10:00.123456Z');
  });
});

describe('choosePlan', () => {
  const plan = (segs: WindowCatalog, t: RecoveryTarget) => choosePlan(segs, [b2, b6], t, tl);

  it('accepts a time inside the window (microsecond-exact at the last commit)', () => {
    expect(plan(catalog(range(1, 10)), { kind: 'time', time: '2026-01-01T10:05:00Z' }).backup.id).toBe('b2');
    expect(plan(catalog(range(1, 10)), { kind: 'time', time: '2026-01-01T10:10:00.123456Z' }).backup.id).toBe('b6');
  });

  it('refuses a time after the last archived commit with TARGET_TIME_INVALID naming target, bounds and why', () => {
    const e = refusal(() => plan(catalog(range(1, 10)), { kind: 'time', time: '2026-01-01T10:10:00.123457Z' }));
    expect(e.code).toBe('TARGET_TIME_INVALID');
    expect(e.message).toContain('2026-01-01T10:10:00.123457Z');
    expect(e.message).toContain('after the last archived commit 2026-01-01T10:10:00.123456Z');
    expect(e.message).toContain(b6.stop_time);
  });

  it('refuses a time before the oldest backup (selectBackup) with TARGET_TIME_INVALID', () => {
    const e = refusal(() => plan(catalog(range(1, 10)), { kind: 'time', time: '2026-01-01T10:01:00Z' }));
    expect(e.code).toBe('TARGET_TIME_INVALID');
    expect(e.message).toContain(b2.stop_time);
  });

  it('a time beyond a gap after the chosen backup is WAL_GAP naming the first missing segment', () => {
    const cat = catalog([...range(1, 4), ...range(6, 10)]);
    const e = refusal(() => choosePlan(cat, [b2], { kind: 'time', time: '2026-01-01T10:08:00Z' }, tl));
    expect(e.code).toBe('WAL_GAP');
    expect(e.message).toContain(segmentName(1, 5n, SEG));
    // Before the gap: fine.
    expect(choosePlan(cat, [b2], { kind: 'time', time: '2026-01-01T10:04:00Z' }, tl).backup.id).toBe('b2');
    // A newer backup past the gap makes the same target reachable.
    expect(plan(cat, { kind: 'time', time: '2026-01-01T10:08:00Z' }).backup.id).toBe('b6');
  });

  it('an LSN past the end of gap-free WAL: TARGET_TIME_INVALID (says LSN) or WAL_GAP when a segment is missing', () => {
    const e = refusal(() => plan(catalog(range(1, 10)), { kind: 'lsn', lsn: formatLsn(11n * M + 1n) }));
    expect(e.code).toBe('TARGET_TIME_INVALID');
    expect(e.message).toContain(`LSN ${formatLsn(11n * M + 1n)}`);
    expect(e.message).toContain(formatLsn(11n * M));
    expect(plan(catalog(range(1, 10)), { kind: 'lsn', lsn: formatLsn(11n * M) }).backup.id).toBe('b6');
    const g = refusal(() => choosePlan(catalog([...range(1, 4), ...range(6, 10)]), [b2], { kind: 'lsn', lsn: formatLsn(7n * M) }, tl));
    expect(g.code).toBe('WAL_GAP');
    expect(g.message).toContain(segmentName(1, 5n, SEG));
  });

  it('latest is refused with WAL_GAP when a segment after the backup is missing', () => {
    const e = refusal(() => choosePlan(catalog([...range(1, 4), ...range(6, 10)]), [b2], { kind: 'latest' }, tl));
    expect(e.code).toBe('WAL_GAP');
    expect(e.message).toContain(segmentName(1, 5n, SEG));
    expect(plan(catalog(range(1, 10)), { kind: 'latest' }).backup.id).toBe('b6');
  });

  it('a gap before the chosen backup does not matter', () => {
    expect(plan(catalog([1, 2, 3, ...range(6, 10)]), { kind: 'latest' }).backup.id).toBe('b6');
  });

  it('with unsummarised segments the upper time bound is unknown and not refused on a guess', () => {
    expect(plan(catalog(range(1, 10), { unsummarized: [10] }), { kind: 'time', time: '2026-01-01T11:00:00Z' }).reach.summarized).toBe(false);
  });

  it('a restore point picks the newest backup consistent before it, not the newest backup', () => {
    const cat = catalog(range(1, 10), { points: { 5: ['before-b6'], 9: ['after-b6'] } });
    expect(plan(cat, { kind: 'name', name: 'before-b6' }).backup.id).toBe('b2');
    expect(plan(cat, { kind: 'name', name: 'after-b6' }).backup.id).toBe('b6');
  });

  it('an unknown restore point name is TARGET_TIME_INVALID naming it (when every segment is summarised)', () => {
    const e = refusal(() => plan(catalog(range(1, 10), { points: { 5: ['x'] } }), { kind: 'name', name: 'nope' }));
    expect(e.code).toBe('TARGET_TIME_INVALID');
    expect(e.message).toContain('"nope"');
    // Unsummarised segments might hold it: fall back to the newest backup.
    expect(plan(catalog(range(1, 10), { unsummarized: [10] }), { kind: 'name', name: 'nope' }).backup.id).toBe('b6');
  });

  it('a restore point behind a gap is WAL_GAP', () => {
    const cat = catalog([...range(1, 4), ...range(6, 10)], { points: { 8: ['rp'] } });
    const e = refusal(() => choosePlan(cat, [b2], { kind: 'name', name: 'rp' }, tl));
    expect(e.code).toBe('WAL_GAP');
    expect(e.message).toContain(segmentName(1, 5n, SEG));
  });
});

describe('micros', () => {
  it('keeps sub-millisecond digits', () => {
    expect(micros('2026-01-01T10:00:00.123456Z') - micros('2026-01-01T10:00:00.123Z')).toBe(456n);
  });
});
