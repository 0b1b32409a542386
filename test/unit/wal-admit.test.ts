/**
 * Target admission (src/wal/admit.ts) over synthetic summaries: which backup, what PostgreSQL is
 * told, and the refusals with their codes. The window/plan agreement over random archives is
 * test/unit/window-plan-agreement.test.ts; real restores to the edges, test/integration/restore-window-edges.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { isPitrdError } from '../../src/errors.js';
import { admitTarget, describeWindow, formatLsn, rangesOf, restorableReaches, Lineage, xidCandidates, type AdmitRequest, type TimelineHistory, type WindowBackup, type WindowInput, type WindowSegment } from '../../src/wal/index.js';

const SEG = 1024 * 1024;
const M = BigInt(SEG);
const none = new Map<number, TimelineHistory>();
const t = (n: number, s = '00') => `2026-01-01T10:${String(n).padStart(2, '0')}:${s}.123456Z`;

/** Segment n: a commit at minute n (xid 100+n), a record to the end, optional restore points. */
function seg(n: number, points: string[] = []): WindowSegment {
  return {
    timeline: 1, segno: BigInt(n), endLsn: BigInt(n + 1) * M, firstCommitTime: t(n), lastCommitTime: t(n), lastCommitLsn: BigInt(n) * M + 0x8000n,
    lastRecordLsn: BigInt(n + 1) * M - 0x40n, minXid: 100 + n, maxXid: 100 + n,
    restorePoints: points.map((name, i) => ({ name, time: t(n, '30'), lsn: BigInt(n) * M + 0x9000n + BigInt(i) })), checkpoints: [],
  };
}
const backup = (id: string, startSeg: number, stopSeg: number): WindowBackup => ({
  id, timeline: 1, start_lsn: BigInt(startSeg) * M + 0x28n, stop_lsn: BigInt(stopSeg) * M + 0x100n, stop_time: `2026-01-01T10:${String(stopSeg).padStart(2, '0')}:00.000001Z`, status: 'completed',
});
const b2 = backup('b2', 2, 3);
const b6 = backup('b6', 6, 7);
const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);
const input = (segs: WindowSegment[], backups: WindowBackup[] = [b2, b6]): WindowInput => ({ segSize: SEG, segments: segs, histories: none, backups });
const admit = (i: WindowInput, req: Partial<AdmitRequest> & Pick<AdmitRequest, 'target'>) => admitTarget(i, { timeline: 1, ...req });

function refusal(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (e) {
    if (isPitrdError(e)) return e;
    throw e;
  }
  throw new Error('expected a refusal');
}

describe('admitTarget', () => {
  const all = input(range(1, 10).map((n) => seg(n)));

  it('a time with a later commit goes to PostgreSQL as is, from the newest backup consistent before it', () => {
    const a = admit(all, { target: { kind: 'time', time: t(5) } });
    expect(a.backup.id).toBe('b2');
    expect(a.target).toEqual({ kind: 'time', time: t(5) });
    expect(a.translated).toBeNull();
    expect(admit(all, { target: { kind: 'time', time: t(8) } }).backup.id).toBe('b6');
  });

  it('a time at or after the last commit, up to the window end, becomes the last record LSN', () => {
    const a = admit(all, { target: { kind: 'time', time: t(10) } });
    expect(a.target).toEqual({ kind: 'lsn', lsn: formatLsn(11n * M - 0x40n) });
    expect(a.inclusive).toBe(true);
    expect(a.translated).toMatch(/no archived commit is later/);
    // Exclusive at the last commit: that commit is the one to stop before, PostgreSQL can.
    expect(admit(all, { target: { kind: 'time', time: t(10) }, inclusive: false }).target.kind).toBe('time');
  });

  it("an LSN up to the archive's end is accepted; past the last record's start it becomes that record", () => {
    expect(admit(all, { target: { kind: 'lsn', lsn: formatLsn(9n * M) } }).target).toEqual({ kind: 'lsn', lsn: formatLsn(9n * M) });
    expect(admit(all, { target: { kind: 'lsn', lsn: formatLsn(11n * M) } }).target).toEqual({ kind: 'lsn', lsn: formatLsn(11n * M - 0x40n) });
    const e = refusal(() => admit(all, { target: { kind: 'lsn', lsn: formatLsn(11n * M + 1n) } }));
    expect(e.code).toBe('TARGET_TIME_INVALID');
    expect(e.message).toContain(`the last archived LSN is ${formatLsn(11n * M)}`);
    expect(e.message).toContain(describeWindow(rangesOf(restorableReaches(new Lineage(1, all), all))));
  });

  it('an xid is placed by its record: the backup consistent before it; none found is refused', () => {
    expect(admit(all, { target: { kind: 'xid', xid: '104' }, xidLsn: 4n * M + 0x8000n }).backup.id).toBe('b2');
    expect(admit(all, { target: { kind: 'xid', xid: '109' }, xidLsn: 9n * M + 0x8000n }).backup.id).toBe('b6');
    expect(xidCandidates(all, 1, 104).map((c) => c.name)).toEqual(['000000010000000000000004']);
    expect(refusal(() => admit(all, { target: { kind: 'xid', xid: '999' }, xidLsn: null })).code).toBe('TARGET_TIME_INVALID');
  });

  it('a restore point picks the backup before it; a name created twice needs a backup to say which', () => {
    const twice = input(range(1, 10).map((n) => seg(n, n === 4 || n === 9 ? ['p'] : n === 5 ? ['once'] : [])));
    expect(admit(twice, { target: { kind: 'name', name: 'once' } }).backup.id).toBe('b2');
    const e = refusal(() => admit(twice, { target: { kind: 'name', name: 'p' } }));
    expect(e.code).toBe('TARGET_AMBIGUOUS');
    expect(admit(twice, { target: { kind: 'name', name: 'p' }, backupId: 'b2' }).backup.id).toBe('b2');
    expect(admit(twice, { target: { kind: 'name', name: 'p' }, backupId: 'b6' }).backup.id).toBe('b6');
    expect(refusal(() => admit(twice, { target: { kind: 'name', name: 'nope' } })).code).toBe('TARGET_TIME_INVALID');
  });

  it('across missing WAL: WAL_GAP for a target past it, latest refused, and a newer backup after it serves its own stretch', () => {
    const gap = input([...range(1, 4), ...range(6, 10)].map((n) => seg(n)));
    expect(refusal(() => admit(gap, { target: { kind: 'time', time: t(5, '30') } })).code).toBe('WAL_GAP');
    expect(admit(gap, { target: { kind: 'time', time: t(8) } }).backup.id).toBe('b6');
    expect(refusal(() => admit(input([...range(1, 5), ...range(7, 10)].map((n) => seg(n)), [b2]), { target: { kind: 'latest' } })).code).toBe('WAL_GAP');
    expect(refusal(() => admit(gap, { target: { kind: 'time', time: '2026-01-01T09:00:00Z' } })).code).toBe('TARGET_TIME_INVALID');
  });

  it('an explicit backup restores only from it; one whose WAL is missing is refused with WAL_GAP', () => {
    expect(admit(all, { target: { kind: 'time', time: t(8) }, backupId: 'b2' }).backup.id).toBe('b2');
    expect(refusal(() => admit(all, { target: { kind: 'time', time: t(5) }, backupId: 'b6' })).code).toBe('TARGET_TIME_INVALID');
    expect(refusal(() => admit(input([...range(1, 2), ...range(4, 10)].map((n) => seg(n))), { target: { kind: 'immediate' }, backupId: 'b2' })).code).toBe('WAL_GAP');
    expect(refusal(() => admit(all, { target: { kind: 'latest' }, backupId: 'nope' })).code).toBe('BACKUP_NOT_FOUND');
  });
});
