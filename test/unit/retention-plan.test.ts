import { describe, expect, it } from 'vitest';
import { isPitrdError } from '../../src/errors.js';
import { DAY_MS, planExpiry, type Inventory, type InventoryBackup, type InventorySegment, type ExpiryPlan } from '../../src/retention/index.js';
import { segmentName } from '../../src/wal/index.js';

const SEG = 16 * 1024 * 1024;
const NOW = Date.parse('2026-06-30T12:00:00Z');
const daysAgo = (d: number) => NOW - d * DAY_MS;
/** LSN at the start of segment `segno` plus an offset. */
const lsn = (segno: number, off = 0x28) => BigInt(segno) * BigInt(SEG) + BigInt(off);

function seg(timeline: number, segno: number, archivedDaysAgo = 40): InventorySegment {
  return { timeline, name: segmentName(timeline, BigInt(segno), SEG), startLsn: BigInt(segno) * BigInt(SEG), endLsn: BigInt(segno + 1) * BigInt(SEG), archivedAt: daysAgo(archivedDaysAgo) };
}
const segs = (timeline: number, from: number, to: number, archivedDaysAgo = 40) => Array.from({ length: to - from + 1 }, (_, i) => seg(timeline, from + i, archivedDaysAgo));

function backup(id: string, o: { day: number; seg: number; timeline?: number; status?: InventoryBackup['status']; pinned?: boolean; expiresAt?: number }): InventoryBackup {
  const completed = (o.status ?? 'completed') === 'completed';
  return {
    id,
    status: o.status ?? 'completed',
    createdAt: daysAgo(o.day) - 60_000,
    timeline: o.timeline ?? 1,
    startLsn: lsn(o.seg),
    stopLsn: completed ? lsn(o.seg, 0x1000) : null,
    stopTime: completed ? daysAgo(o.day) : null,
    pinned: o.pinned ?? false,
    expiresAt: o.expiresAt ?? null,
  };
}

const inventory = (c: Partial<Inventory>): Inventory => ({ backups: [], segments: [], histories: [], restores: [], ...c });
const deletedIds = (p: ExpiryPlan) => p.deleteBackups.map((b) => b.id).sort();
const keptIds = (p: ExpiryPlan) => p.keepBackups.map((b) => b.id).sort();
const reasonsOf = (p: ExpiryPlan, id: string) => p.keepBackups.find((b) => b.id === id)?.reasons ?? [];
const deletedSegs = (p: ExpiryPlan) => p.deleteWal.flatMap((r) => r.segments);
const name = (t: number, n: number) => segmentName(t, BigInt(n), SEG);

/** Daily backups on timeline 1, one WAL segment per day: backup of day d starts in segment 40-d. */
const daily = (days: number[]) => days.map((d) => backup(`b-day${d}`, { day: d, seg: 40 - d }));

describe('planExpiry: backups', () => {
  it('deletes nothing when every backup is inside the window', () => {
    const p = planExpiry(inventory({ backups: daily([5, 3, 1]), segments: segs(1, 35, 40, 6) }), { retentionDays: 7, minFullBackups: 2 }, NOW);
    expect(p.deleteBackups).toEqual([]);
    expect(p.deleteWal).toEqual([]);
    expect(p.deleteHistories).toEqual([]);
    expect(keptIds(p)).toEqual(['b-day1', 'b-day3', 'b-day5']);
    expect(reasonsOf(p, 'b-day5')).toEqual(['inside-window']);
  });

  it('keeps the newest backup at or before the window start (the anchor) and deletes older ones', () => {
    const p = planExpiry(inventory({ backups: daily([20, 14, 10, 6, 2]), segments: segs(1, 18, 40) }), { retentionDays: 7, minFullBackups: 1 }, NOW);
    expect(deletedIds(p)).toEqual(['b-day14', 'b-day20']);
    expect(p.deleteBackups.every((b) => b.reason === 'older-than-window')).toBe(true);
    // Oldest consistency point is deleted first.
    expect(p.deleteBackups.map((b) => b.id)).toEqual(['b-day20', 'b-day14']);
    expect(reasonsOf(p, 'b-day10')).toEqual(['window-anchor']);
    expect(reasonsOf(p, 'b-day2')).toEqual(['inside-window', 'min-full-backups']);
    // The anchor starts in segment 30: segments 18..29 go, in one contiguous range.
    expect(p.deleteWal).toHaveLength(1);
    expect(p.deleteWal[0]).toMatchObject({ timeline: 1, first: name(1, 18), last: name(1, 29), count: 12, reason: 'before-oldest-retained-backup' });
    expect(p.keepWal).toEqual([expect.objectContaining({ timeline: 1, first: name(1, 30), last: name(1, 40), count: 11, reason: 'needed-by-retained-backup' })]);
    expect(p.walNeededFrom).toEqual({ 1: lsn(30) });
  });

  it('a backup exactly at the window start is the anchor: the whole window stays restorable', () => {
    const p = planExpiry(inventory({ backups: daily([8, 7, 3]) }), { retentionDays: 7, minFullBackups: 1 }, NOW);
    expect(deletedIds(p)).toEqual(['b-day8']);
    expect(reasonsOf(p, 'b-day7')).toEqual(['window-anchor']);
  });

  it('min_full_backups overrides the window', () => {
    const p = planExpiry(inventory({ backups: daily([30, 20, 12, 3]), segments: segs(1, 10, 40) }), { retentionDays: 7, minFullBackups: 3 }, NOW);
    expect(deletedIds(p)).toEqual(['b-day30']);
    expect(reasonsOf(p, 'b-day20')).toEqual(['min-full-backups']);
    expect(reasonsOf(p, 'b-day12')).toEqual(['window-anchor', 'min-full-backups']);
    expect(p.walNeededFrom).toEqual({ 1: lsn(20) });
    expect(deletedSegs(p)).toEqual(segs(1, 10, 19).map((s) => s.name));
  });

  it('everything older than the window: only the newest min_full_backups are kept', () => {
    const p = planExpiry(inventory({ backups: daily([35, 30, 25, 20, 15]), segments: segs(1, 5, 30) }), { retentionDays: 7, minFullBackups: 2 }, NOW);
    expect(keptIds(p)).toEqual(['b-day15', 'b-day20']);
    expect(reasonsOf(p, 'b-day15')).toEqual(['window-anchor', 'min-full-backups']);
    expect(reasonsOf(p, 'b-day20')).toEqual(['min-full-backups']);
    expect(deletedIds(p)).toEqual(['b-day25', 'b-day30', 'b-day35']);
    expect(deletedSegs(p)).toEqual(segs(1, 5, 19).map((s) => s.name));
  });

  it('orders by consistency point, never by id or timeline', () => {
    // Ids sort the opposite way of their consistency points.
    const old = { ...backup('zzz-newest-name', { day: 20, seg: 20 }) };
    const anchor = { ...backup('aaa-oldest-name', { day: 10, seg: 30 }) };
    const p = planExpiry(inventory({ backups: [anchor, old] }), { retentionDays: 7, minFullBackups: 1 }, NOW);
    expect(deletedIds(p)).toEqual(['zzz-newest-name']);
    expect(reasonsOf(p, 'aaa-oldest-name')).toEqual(['window-anchor', 'min-full-backups']);
    // A higher timeline does not make a backup newer.
    const onTl2 = backup('on-tl2', { day: 20, seg: 20, timeline: 2 });
    const onTl1 = backup('on-tl1', { day: 10, seg: 30, timeline: 1 });
    const q = planExpiry(inventory({ backups: [onTl2, onTl1] }), { retentionDays: 7, minFullBackups: 1 }, NOW);
    expect(deletedIds(q)).toEqual(['on-tl2']);
  });

  it('never deletes a pinned backup, and keeps the WAL from its start', () => {
    const backups = [backup('pinned-old', { day: 30, seg: 10, pinned: true }), ...daily([20, 10, 2])];
    const p = planExpiry(inventory({ backups, segments: segs(1, 8, 40) }), { retentionDays: 7, minFullBackups: 1 }, NOW);
    expect(deletedIds(p)).toEqual(['b-day20']);
    expect(reasonsOf(p, 'pinned-old')).toEqual(['pinned']);
    expect(p.walNeededFrom).toEqual({ 1: lsn(10) });
    expect(deletedSegs(p)).toEqual([name(1, 8), name(1, 9)]);
  });

  it('never deletes a running backup, however old its record', () => {
    const backups = [backup('stuck', { day: 30, seg: 10, status: 'running' }), backup('pending', { day: 40, seg: 0, status: 'pending' }), ...daily([20, 10, 2])];
    const p = planExpiry(inventory({ backups, segments: segs(1, 5, 40) }), { retentionDays: 7, minFullBackups: 1 }, NOW);
    expect(reasonsOf(p, 'stuck')).toEqual(['running']);
    expect(reasonsOf(p, 'pending')).toEqual(['running']);
    expect(deletedIds(p)).toEqual(['b-day20']);
    // A running backup needs its WAL from its start LSN.
    expect(p.walNeededFrom[1]).toBe(lsn(0));
    expect(p.deleteWal).toEqual([]);
  });

  it('removes failed and interrupted records older than the window, keeps recent ones', () => {
    const backups = [backup('failed-old', { day: 12, seg: 28, status: 'failed' }), backup('interrupted-old', { day: 9, seg: 31, status: 'interrupted' }), backup('failed-new', { day: 2, seg: 38, status: 'failed' }), ...daily([10, 1])];
    const p = planExpiry(inventory({ backups }), { retentionDays: 7, minFullBackups: 1 }, NOW);
    expect(deletedIds(p)).toEqual(['failed-old', 'interrupted-old']);
    expect(p.deleteBackups.every((b) => b.reason === 'failed-older-than-window')).toBe(true);
    expect(reasonsOf(p, 'failed-new')).toEqual(['failed-inside-window']);
  });

  it('keeps a backup whose expires_at is still in the future', () => {
    const backups = [backup('keep-till-next-month', { day: 30, seg: 10, expiresAt: NOW + 30 * DAY_MS }), backup('expired', { day: 25, seg: 15, expiresAt: NOW - DAY_MS }), ...daily([10])];
    const p = planExpiry(inventory({ backups }), { retentionDays: 7, minFullBackups: 1 }, NOW);
    expect(deletedIds(p)).toEqual(['expired']);
    expect(reasonsOf(p, 'keep-till-next-month')).toEqual(['not-yet-expired']);
  });
});

describe('planExpiry: restores in progress', () => {
  it('keeps the backup a running restore uses, and its WAL', () => {
    const p = planExpiry(
      inventory({ backups: daily([30, 20, 10]), segments: segs(1, 5, 40), restores: [{ id: 'r1', status: 'running', backupId: 'b-day30' }, { id: 'r0', status: 'completed', backupId: 'b-day20' }] }),
      { retentionDays: 7, minFullBackups: 1 },
      NOW,
    );
    expect(reasonsOf(p, 'b-day30')).toEqual(['restore-in-progress']);
    expect(deletedIds(p)).toEqual(['b-day20']);
    expect(deletedSegs(p)).toEqual(segs(1, 5, 9).map((s) => s.name));
  });

  it('a restore that has not chosen its backup yet holds every backup and all WAL', () => {
    const p = planExpiry(inventory({ backups: daily([30, 20, 10]), segments: segs(1, 5, 40), restores: [{ id: 'r1', status: 'pending', backupId: null }] }), { retentionDays: 7, minFullBackups: 1 }, NOW);
    expect(p.deleteBackups).toEqual([]);
    expect(p.deleteWal).toEqual([]);
    expect(reasonsOf(p, 'b-day30')).toEqual(['restore-choosing-backup']);
    expect(p.keepWal).toEqual([expect.objectContaining({ reason: 'restore-choosing-backup', count: 36 })]);
  });
});

describe('planExpiry: WAL and timelines', () => {
  it('keeps WAL across a timeline switch that descends from a retained backup', () => {
    // Anchor on timeline 1 starts in segment 30; timeline 2 left timeline 1 in segment 33.
    const switchpoint = lsn(33, 0x5000);
    const backups = [backup('old', { day: 20, seg: 20 }), backup('anchor', { day: 10, seg: 30 }), backup('on-tl2', { day: 3, seg: 36, timeline: 2 })];
    const segments = [...segs(1, 18, 34), ...segs(2, 33, 40)];
    const p = planExpiry(inventory({ backups, segments, histories: [{ timeline: 2, entries: [{ parent: 1, switchLsn: switchpoint, reason: '' }] }] }), { retentionDays: 7, minFullBackups: 1 }, NOW);
    expect(deletedIds(p)).toEqual(['old']);
    expect(p.walNeededFrom).toEqual({ 1: lsn(30), 2: lsn(30) });
    // Timeline 1 after the switch (33, 34) is still needed for targets on timeline 1 itself.
    expect(p.keepWal).toEqual([
      expect.objectContaining({ timeline: 1, first: name(1, 30), last: name(1, 34) }),
      expect.objectContaining({ timeline: 2, first: name(2, 33), last: name(2, 40) }),
    ]);
    expect(deletedSegs(p)).toEqual(segs(1, 18, 29).map((s) => s.name));
    expect(p.deleteHistories).toEqual([]);
    expect(p.keepHistories).toEqual([{ timeline: 2, keep: true, reason: 'timeline still in use' }]);
  });

  it('deletes a timeline no retained backup can reach, with its history file', () => {
    // Timeline 2 left timeline 1 (segment 12) before the anchor's start (30): abandoned.
    // Timeline 3 left timeline 1 after it: reachable. Timeline 4 left 3: reachable too.
    const histories = [
      { timeline: 2, entries: [{ parent: 1, switchLsn: lsn(12, 0x100), reason: '' }] },
      { timeline: 3, entries: [{ parent: 1, switchLsn: lsn(35), reason: '' }] },
      { timeline: 4, entries: [{ parent: 1, switchLsn: lsn(35), reason: '' }, { parent: 3, switchLsn: lsn(38), reason: '' }] },
    ];
    const segments = [...segs(1, 10, 35), ...segs(2, 12, 16), ...segs(3, 35, 38), ...segs(4, 38, 40)];
    const p = planExpiry(inventory({ backups: daily([20, 10]), segments, histories }), { retentionDays: 7, minFullBackups: 1 }, NOW);
    expect(deletedIds(p)).toEqual(['b-day20']);
    expect(p.walNeededFrom).toEqual({ 1: lsn(30), 3: lsn(30), 4: lsn(30) });
    expect(p.deleteWal.map((r) => [r.timeline, r.first, r.last, r.reason])).toEqual([
      [1, name(1, 10), name(1, 29), 'before-oldest-retained-backup'],
      [2, name(2, 12), name(2, 16), 'timeline-not-reachable'],
    ]);
    expect(p.deleteHistories).toEqual([2]);
    expect(p.keepHistories.map((h) => h.timeline)).toEqual([3, 4]);
  });

  it('keeps an ancestor history file while a descendant timeline is kept', () => {
    const histories = [
      { timeline: 2, entries: [{ parent: 1, switchLsn: lsn(5), reason: '' }] },
      { timeline: 3, entries: [{ parent: 1, switchLsn: lsn(5), reason: '' }, { parent: 2, switchLsn: lsn(8), reason: '' }] },
    ];
    // The only backup is on timeline 3: nothing of timelines 1 and 2 is needed, but 2's history stays.
    const backups = [backup('tl3', { day: 10, seg: 20, timeline: 3 })];
    const p = planExpiry(inventory({ backups, segments: [...segs(1, 1, 5), ...segs(2, 5, 8), ...segs(3, 8, 25)], histories }), { retentionDays: 7, minFullBackups: 1 }, NOW);
    expect(p.deleteWal.map((r) => [r.timeline, r.count])).toEqual([
      [1, 5],
      [2, 4],
      [3, 12],
    ]);
    expect(p.deleteHistories).toEqual([]);
    expect(p.keepHistories).toEqual([
      { timeline: 2, keep: true, reason: 'descendant timeline 3 still in use' },
      { timeline: 3, keep: true, reason: 'timeline still in use' },
    ]);
  });

  it('keeps segments archived inside the window, and a gap splits ranges', () => {
    // Segment 25 was uploaded late (archived 1 day ago); segment 22 is missing.
    const segments = [...segs(1, 18, 21), seg(1, 23), seg(1, 24), seg(1, 25, 1), ...segs(1, 26, 40)];
    const p = planExpiry(inventory({ backups: daily([20, 10]), segments }), { retentionDays: 7, minFullBackups: 1 }, NOW);
    expect(p.deleteWal.map((r) => [r.first, r.last, r.count])).toEqual([
      [name(1, 18), name(1, 21), 4],
      [name(1, 23), name(1, 24), 2],
      [name(1, 26), name(1, 29), 4],
    ]);
    expect(p.keepWal.map((r) => [r.first, r.last, r.reason])).toEqual([
      [name(1, 25), name(1, 25), 'archived-inside-window'],
      [name(1, 30), name(1, 40), 'needed-by-retained-backup'],
    ]);
  });

  it('deletes no WAL while there is no completed backup', () => {
    const backups = [backup('failed-old', { day: 20, seg: 20, status: 'failed' })];
    const p = planExpiry(inventory({ backups, segments: segs(1, 1, 40) }), { retentionDays: 7, minFullBackups: 2 }, NOW);
    expect(deletedIds(p)).toEqual(['failed-old']);
    expect(p.deleteWal).toEqual([]);
    expect(p.keepWal).toEqual([expect.objectContaining({ reason: 'no-retained-backup', count: 40 })]);
  });

  it('an empty inventory plans nothing', () => {
    const p = planExpiry(inventory({}), { retentionDays: 7, minFullBackups: 2 }, NOW);
    expect(p).toMatchObject({ deleteBackups: [], keepBackups: [], deleteWal: [], keepWal: [], deleteHistories: [], windowStart: NOW - 7 * DAY_MS });
  });

  it('refuses an invalid policy', () => {
    for (const policy of [
      { retentionDays: 0, minFullBackups: 1 },
      { retentionDays: 7, minFullBackups: -1 },
      { retentionDays: Number.NaN, minFullBackups: 1 },
    ]) {
      let err: unknown;
      try {
        planExpiry(inventory({}), policy, NOW);
      } catch (e) {
        err = e;
      }
      expect(isPitrdError(err, 'VALIDATION_ERROR')).toBe(true);
    }
  });
});
