import { describe, expect, it } from 'vitest';
import {
  computeRecoveryWindows,
  findGaps,
  Lineage,
  reachFrom,
  parseTimelineHistory,
  segmentName,
  type TimelineHistory,
  type WindowBackup,
  type WindowSegment,
} from '../../src/wal/index.js';

const SEG = 16 * 1024 * 1024;
const S = BigInt(SEG);
const time = (segno: number, i: number) => `2026-01-01T00:${String(segno).padStart(2, '0')}:0${i}.000000Z`;

/** Segment `segno` of timeline `tli` with two commits (at :segno:00 and :segno:01) unless told none. */
function seg(tli: number, segno: number, commits = true): WindowSegment {
  const base = BigInt(segno) * S;
  return {
    timeline: tli,
    segno: BigInt(segno),
    endLsn: base + S,
    firstCommitTime: commits ? time(segno, 0) : null,
    lastCommitTime: commits ? time(segno, 1) : null,
    lastCommitLsn: commits ? base + S - 100n : null,
  };
}
const range = (tli: number, from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => seg(tli, from + i));
const backup = (id: string, tli: number, startSeg: number, stopSeg: number, extra: Partial<WindowBackup> = {}): WindowBackup => ({
  id,
  timeline: tli,
  start_lsn: BigInt(startSeg) * S + 40n,
  stop_lsn: BigInt(stopSeg) * S + 200n,
  stop_time: time(stopSeg, 0).replace('.000000Z', '.500000Z'),
  status: 'completed',
  ...extra,
});
const none = new Map<number, TimelineHistory>();

describe('recovery window', () => {
  it('spans from the oldest restorable backup to the last commit', () => {
    const [w] = computeRecoveryWindows({ segSize: SEG, segments: range(1, 1, 10), histories: none, backups: [backup('b2', 1, 5, 6), backup('b1', 1, 2, 3)] });
    expect(w).toMatchObject({ timeline: 1, status: 'ok', backupId: 'b1', from: '2026-01-01T00:03:00.500000Z', to: time(10, 1), gaps: [] });
    expect(w!.fromLsn).toBe(3n * S + 200n);
    // to_lsn: the end of the gap-free WAL (the highest LSN target a restore accepts).
    expect(w!.toLsn).toBe(11n * S);
    expect(w!.lastSegment).toBe(segmentName(1, 10n, SEG));
  });

  it('runs `to` through the timestamps of archived WAL only, never through a backup\'s stop time (a clock reading)', () => {
    // b1 consistent in segment 2; the archive ends with segment 4, whose newest record time is
    // 00:04:01 (a checkpoint in segment 4 at 00:04:30 counts too). b2 stopped later (its stop
    // time read by the server's clock at 00:09): WAL before that reading need not be archived.
    const segments = [...range(1, 1, 3), { ...seg(1, 4), checkpoints: [{ lsn: 4n * S + 500n, time: '2026-01-01T00:04:30.000000Z' }] }];
    const b1 = backup('b1', 1, 1, 2);
    const b2 = backup('b2', 1, 4, 4, { stop_lsn: 4n * S + 300n, stop_time: '2026-01-01T00:09:00.000000Z' });
    const windows = (backups: WindowBackup[]) => computeRecoveryWindows({ segSize: SEG, segments, histories: none, backups });
    expect(windows([b1, b2])[0]).toMatchObject({ from: b1.stop_time, to: '2026-01-01T00:04:30.000000Z' });
    expect(reachFrom(new Lineage(1, { segSize: SEG, segments, histories: none, backups: [b2] }), b2)!.receivedThrough).toBe('2026-01-01T00:04:30.000000Z');
    // b2 alone: no archived record after its consistency point carries a time: the stretch is that point alone.
    expect(windows([b2])[0]).toMatchObject({ from: b2.stop_time, to: b2.stop_time });
    // A later WAL time archived moves it on.
    const more = [...segments, { ...seg(1, 5), lastCommitTime: '2026-01-01T00:09:05.000000Z' }];
    expect(computeRecoveryWindows({ segSize: SEG, segments: more, histories: none, backups: [b1, b2] })[0]).toMatchObject({ to: '2026-01-01T00:09:05.000000Z' });
  });

  it('stops at the first gap after the backup and lists every missing segment', () => {
    const segments = [...range(1, 1, 4), ...range(1, 6, 7), ...range(1, 9, 9)];
    const [w] = computeRecoveryWindows({ segSize: SEG, segments, histories: none, backups: [backup('b', 1, 1, 2)] });
    expect(w!.status).toBe('ok');
    expect(w!.to).toBe(time(4, 1));
    expect(w!.gaps).toEqual([segmentName(1, 5n, SEG), segmentName(1, 8n, SEG)]);
    expect(findGaps(segments.map((s) => segmentName(1, s.segno, SEG)), 1, SEG)).toEqual(w!.gaps);
  });

  it('skips a backup whose own WAL has a gap, and incomplete backups', () => {
    const segments = [...range(1, 1, 2), ...range(1, 4, 8)];
    const backups = [backup('broken', 1, 1, 3), backup('running', 1, 4, 4, { status: 'running' }), backup('ok', 1, 5, 6)];
    const [w] = computeRecoveryWindows({ segSize: SEG, segments, histories: none, backups });
    expect(w).toMatchObject({ status: 'ok', backupId: 'ok', to: time(8, 1) });
    const [x] = computeRecoveryWindows({ segSize: SEG, segments, histories: none, backups: [backup('broken', 1, 1, 3)] });
    expect(x).toMatchObject({ status: 'no-restorable-backup', from: null, to: null });
  });

  it('without any base backup describes the archive alone', () => {
    const [w] = computeRecoveryWindows({ segSize: SEG, segments: [seg(1, 3, false), ...range(1, 4, 6)], histories: none, backups: [] });
    expect(w).toMatchObject({ status: 'no-backup', backupId: null, from: time(4, 0), to: time(6, 1), fromLsn: null });
  });

  it('a backup at the very start and one at the very end', () => {
    const segments = [seg(1, 0, false), ...range(1, 1, 3)];
    const [start] = computeRecoveryWindows({ segSize: SEG, segments, histories: none, backups: [backup('first', 1, 0, 0)] });
    expect(start).toMatchObject({ backupId: 'first', from: '2026-01-01T00:00:00.500000Z', to: time(3, 1) });
    // Ends in the last segment after its last commit: the consistency point is the whole window.
    const late = backup('last', 1, 3, 3, { stop_lsn: 4n * S - 50n, stop_time: '2026-01-01T00:03:59.000000Z' });
    const [end] = computeRecoveryWindows({ segSize: SEG, segments, histories: none, backups: [late] });
    expect(end).toMatchObject({ backupId: 'last', from: '2026-01-01T00:03:59.000000Z', to: '2026-01-01T00:03:59.000000Z', toLsn: 4n * S });
    // Its stop LSN lies beyond the archived WAL: not restorable yet.
    const beyond = backup('beyond', 1, 3, 4);
    expect(computeRecoveryWindows({ segSize: SEG, segments, histories: none, backups: [beyond] })[0]!.status).toBe('no-restorable-backup');
  });

  it('follows a timeline switch through the history file', () => {
    // Timeline 2 forked from 1 in the middle of segment 4; 1 went on (a divergent future).
    const h2 = parseTimelineHistory(2, `1\t0/${(4n * S + 4096n).toString(16).toUpperCase()}\tno recovery target specified\n`);
    const histories = new Map([[2, h2]]);
    const tl1 = range(1, 1, 6).map((s) => (s.segno >= 5n ? { ...s, lastCommitTime: '2026-01-01T01:00:00.000000Z' } : s));
    const tl2 = range(2, 4, 8);
    const wins = computeRecoveryWindows({ segSize: SEG, segments: [...tl1, ...tl2], histories, backups: [backup('b', 1, 1, 2)] });
    expect(wins.map((w) => w.timeline)).toEqual([1, 2]);
    expect(wins[0]).toMatchObject({ status: 'ok', to: '2026-01-01T01:00:00.000000Z', lastSegment: segmentName(1, 6n, SEG) });
    // Timeline 2 reads 1..3 from timeline 1, then its own 4..8 — never timeline 1's 5 and 6.
    expect(wins[1]).toMatchObject({ status: 'ok', backupId: 'b', to: time(8, 1), lastSegment: segmentName(2, 8n, SEG), gaps: [] });

    // Without timeline 2's copy of the switch segment, its window stops on the parent.
    const noSwitchSeg = [...tl1, ...tl2.filter((s) => s.segno !== 4n)];
    const [, w2] = computeRecoveryWindows({ segSize: SEG, segments: noSwitchSeg, histories, backups: [backup('b', 1, 1, 2)] });
    expect(w2).toMatchObject({ to: time(3, 1), gaps: [segmentName(2, 4n, SEG)] });

    // A backup taken on timeline 1 after the fork is not in timeline 2's past: for timeline 2
    // there is no base backup at all, only the archive.
    const [w1b, w3] = computeRecoveryWindows({ segSize: SEG, segments: [...tl1, ...tl2], histories, backups: [backup('late', 1, 5, 5)] });
    expect(w1b).toMatchObject({ status: 'ok', backupId: 'late' });
    expect(w3).toMatchObject({ status: 'no-backup', backupId: null, from: time(1, 0), to: time(8, 1) });
  });
});
