import { createHash, randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { openRepository, type Repository } from '../../src/repository/index.js';
import { DAY_MS, runExpiry, type ExpiryStep } from '../../src/retention/index.js';
import type { ObjectStore } from '../../src/storage/index.js';
import { formatLsn, segmentName } from '../../src/wal/index.js';
import { lazyDrivers } from './repository-drivers.js';

const SEG = 16 * 1024 * 1024;
const DB = 'app';
const ROOT = `projects/default/databases/${DB}/`;
const name = (t: number, n: number) => segmentName(t, BigInt(n), SEG);
const lsnAt = (segno: number, off = 0x28) => formatLsn(BigInt(segno) * BigInt(SEG) + BigInt(off));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const policy = { retentionDays: 7, minFullBackups: 1 };

/**
 * The repository is written at the real clock; decisions are made at NOW, 100 days later, so
 * every object's archive time is long before the window and only the catalog's own times count.
 */
const NOW = Date.now() + 100 * DAY_MS;
const at = (daysBefore: number) => new Date(NOW - daysBefore * DAY_MS).toISOString();

/**
 * Timeline 1: segments 1..20. Timeline 2 left it in segment 15 (after the anchor's start):
 * segments 15..22. Timeline 3 left it in segment 3 (before the anchor's start): 3..5, abandoned.
 * Backups: b-day30 (seg 2), b-day20 (seg 6), failed f-day25, anchor b-day10 (seg 10, tl 1),
 * b-day3 (seg 17, tl 2), and a running one.
 */
async function populate(repo: Repository): Promise<void> {
  const db = repo.database({ project: 'default', name: DB });
  await db.saveInfo({ project: 'default', system_identifier: '7300000000000000001', pg_version: 15, wal_segment_size: SEG });
  const put = async (t: number, from: number, to: number) => {
    for (let n = from; n <= to; n++) {
      await db.wal.putSegment(t, name(t, n), Buffer.concat([Buffer.from(`${name(t, n)} `), randomBytes(1024)]));
      await db.walSummaries.put(t, name(t, n), { start_lsn: lsnAt(n, 0), first_commit: null });
    }
  };
  await put(1, 1, 20);
  await db.wal.putHistory(2, Buffer.from(`1\t${lsnAt(15, 0x3000)}\tno recovery target specified\n`));
  await put(2, 15, 22);
  await db.wal.putHistory(3, Buffer.from(`1\t${lsnAt(3, 0x100)}\tbefore 2026-01-01\n`));
  await put(3, 3, 5);
  const completed = async (id: string, daysBefore: number, segno: number, timeline: number) => {
    const data = Buffer.concat([Buffer.from(`base.tar of ${id} `), randomBytes(2048)]);
    const r = await db.backups.putData(id, 'base.tar', data);
    const m = await db.backups.putData(id, 'backup_manifest', Buffer.from(`{"backup":"${id}"}`));
    await db.backups.save({
      id, database: DB, type: 'automated', status: 'completed', created_at: at(daysBefore + 0.01), start_time: at(daysBefore + 0.01), stop_time: at(daysBefore),
      start_lsn: lsnAt(segno), stop_lsn: lsnAt(segno, 0x9000), timeline,
      files: [
        { name: 'base.tar', size: r.originalSize, stored_size: r.size, sha256: r.sha256 },
        { name: 'backup_manifest', size: m.originalSize, stored_size: m.size, sha256: m.sha256 },
      ],
    });
  };
  await completed('b-day30', 30, 2, 1);
  await completed('b-day20', 20, 6, 1);
  await completed('b-day10', 10, 10, 1);
  await completed('b-day3', 3, 17, 2);
  // A failed backup leaves only its record (its data was cleaned when it failed).
  await db.backups.save({ id: 'f-day25', database: DB, type: 'automated', status: 'failed', created_at: at(25), error: 'connection lost' });
  // A running backup with data already uploaded but no stop point: created long ago, never finished.
  await db.backups.putData('r-running', 'base.tar', randomBytes(512));
  await db.backups.save({ id: 'r-running', database: DB, type: 'manual', status: 'running', created_at: at(40), start_lsn: lsnAt(19), timeline: 2 });
}

/** What the policy says goes: keys (relative to the store) that must be gone after a run. */
function expectedDeleted(key: string): boolean {
  const rel = key.slice(ROOT.length);
  if (/^backups\/(b-day30|b-day20|f-day25)\//.test(rel)) return true;
  const wal = /^(?:wal|wal-summary)\/([0-9A-F]{8})\/([0-9A-F]{24})/.exec(rel);
  if (wal) {
    const tli = Number.parseInt(wal[1]!, 16);
    const segno = Number.parseInt(wal[2]!.slice(16), 16);
    return tli === 3 || (tli === 1 && segno < 10);
  }
  return rel === 'wal/00000003.history';
}

/** Every key with the sha256 of its stored bytes. */
async function contents(store: ObjectStore): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const o of store.listAll('')) out.set(o.key, sha(await store.getBuffer(o.key)));
  return out;
}

const withoutRetentionRecords = (m: Map<string, string>) => new Map([...m].filter(([k]) => !k.startsWith(`${ROOT}retention/`)));

function assertExactlyExpired(before: Map<string, string>, after: Map<string, string>): void {
  const expected = new Map([...before].filter(([k]) => !expectedDeleted(k)));
  // Sanity: the scenario does delete something of each kind.
  expect(before.size - expected.size).toBeGreaterThan(40);
  expect(withoutRetentionRecords(after)).toEqual(expected);
  expect(after.has(`${ROOT}retention/expiry-in-progress.json`)).toBe(false);
}

for (const driver of lazyDrivers()) {
  describe(`retention expiry on ${driver.name}`, () => {
    afterAll(async () => {
      await driver.stop();
    });

    async function fixture(): Promise<{ store: ObjectStore; repo: Repository; before: Map<string, string> }> {
      const store = await driver.fresh();
      // Encrypted and compressed: retention must not need to read what it deletes.
      const repo = await openRepository(store, { compression: 'gzip', key: randomBytes(32) });
      await populate(repo);
      return { store, repo, before: await contents(store) };
    }

    it('a dry run reports the plan and changes nothing', async () => {
      const { store, repo, before } = await fixture();
      const report = await runExpiry(repo, { project: 'default', name: DB }, policy, { dryRun: true, now: NOW });
      expect(report.dry_run).toBe(true);
      expect(report.plan.delete_backups.map((b) => [b.id, b.reason])).toEqual([
        ['b-day30', 'older-than-window'],
        ['f-day25', 'failed-older-than-window'],
        ['b-day20', 'older-than-window'],
      ]);
      expect(report.plan.delete_wal.map((r) => [r.timeline, r.first, r.last, r.count, r.reason])).toEqual([
        [1, name(1, 1), name(1, 9), 9, 'before-oldest-retained-backup'],
        [3, name(3, 3), name(3, 5), 3, 'timeline-not-reachable'],
      ]);
      expect(report.plan.delete_histories).toEqual([3]);
      expect(report.deleted).toEqual({ backups: [], wal_segments: 0, histories: [] });
      expect(await contents(store)).toEqual(before);
    });

    it('deletes exactly what the policy says and leaves everything else byte-identical', async () => {
      const { store, repo, before } = await fixture();
      const report = await runExpiry(repo, { project: 'default', name: DB }, policy, { now: NOW });
      expect(report.deleted).toEqual({ backups: ['b-day30', 'f-day25', 'b-day20'], wal_segments: 12, histories: [3] });
      const keep = Object.fromEntries(report.plan.keep_backups.map((b) => [b.id, b.reasons]));
      expect(keep).toEqual({ 'b-day10': ['window-anchor'], 'b-day3': ['inside-window', 'min-full-backups'], 'r-running': ['running'] });
      assertExactlyExpired(before, await contents(store));

      // What remains is readable through the repository: the anchor's data and its WAL.
      const db = repo.database({ project: 'default', name: DB });
      expect((await db.backups.list()).map((b) => b.id).sort()).toEqual(['b-day10', 'b-day3', 'r-running']);
      const segs: string[] = [];
      for await (const s of db.wal.listSegments()) segs.push(s.name);
      expect(segs.filter((s) => s.startsWith('00000001'))).toEqual(Array.from({ length: 11 }, (_, i) => name(1, 10 + i)));
      expect(await db.wal.historyTimelines()).toEqual([2]);
      expect((await db.wal.getSegment(1, name(1, 10))).subarray(0, 24).toString()).toBe(name(1, 10));

      // The report is recorded; a second run has nothing left to do.
      const recorded = JSON.parse((await store.getBuffer(`${ROOT}retention/last-report.json`)).toString('utf8'));
      expect(recorded.deleted).toEqual(report.deleted);
      const again = await runExpiry(repo, { project: 'default', name: DB }, policy, { now: NOW });
      expect(again.deleted).toEqual({ backups: [], wal_segments: 0, histories: [] });
      expect(again.resumed).toEqual({ backups: [], wal_segments: 0 });
      assertExactlyExpired(before, await contents(store));
    });

    it('a pinned backup and a restore in progress keep their backups and the WAL they need', async () => {
      const { store, repo, before } = await fixture();
      const db = repo.database({ project: 'default', name: DB });
      const b20 = await db.backups.get('b-day20');
      await db.backups.save({ ...b20!, pinned: true });
      await db.restores.save({ id: 'restore-1', database: DB, status: 'running', backup_id: 'b-day30', started_at: new Date().toISOString() });
      const withLocks = await contents(store);
      const report = await runExpiry(repo, { project: 'default', name: DB }, policy, { now: NOW });
      expect(report.deleted).toEqual({ backups: ['f-day25'], wal_segments: 1, histories: [] });
      const keep = Object.fromEntries(report.plan.keep_backups.map((b) => [b.id, b.reasons]));
      expect(keep['b-day20']).toEqual(['pinned']);
      expect(keep['b-day30']).toEqual(['restore-in-progress']);
      // b-day30 starts in segment 2: only segment 1 goes. Timeline 3 left timeline 1 after that
      // start, so it (and its history file) is now reachable and kept.
      expect(report.plan.delete_wal.map((r) => [r.timeline, r.first, r.last])).toEqual([[1, name(1, 1), name(1, 1)]]);
      const after = withoutRetentionRecords(await contents(store));
      const gone = [...withLocks.keys()].filter((k) => !after.has(k)).sort();
      expect(gone).toEqual(
        [`${ROOT}backups/f-day25/backup.json`, `${ROOT}wal-summary/00000001/${name(1, 1)}.json`, ...[...before.keys()].filter((k) => k.startsWith(`${ROOT}wal/00000001/${name(1, 1)}`))].sort(),
      );
      for (const [k, v] of after) expect(withLocks.get(k)).toBe(v);
    });

    // Steps with WAL batches of 5: backup.json then data of b-day30, f-day25, b-day20 (1-6); the
    // 12 segments oldest first in batches of 5, 5, 2, each markers then objects (7-12); the
    // history file (13). Crash points: after a backup.json but before its data (1, 5), after the
    // markers of a WAL batch but before its objects (9), before the history file (12).
    const halfDeleted: Record<number, string> = { 1: 'b-day30', 5: 'b-day20' };
    for (const crashAfter of [1, 5, 9, 12]) {
      it(`a run that crashed after ${crashAfter} deletion step(s) is finished by the next run`, async () => {
        const { store, repo, before } = await fixture();
        const steps: ExpiryStep[] = [];
        await expect(
          runExpiry(repo, { project: 'default', name: DB }, policy, {
            now: NOW,
            walBatchSize: 5,
            afterStep: (s, done) => {
              steps.push(s);
              if (done === crashAfter) throw new Error(`injected crash after step ${done}`);
            },
          }),
        ).rejects.toThrow(`injected crash after step ${crashAfter}`);
        const crashed = await contents(store);
        expect(crashed.has(`${ROOT}retention/expiry-in-progress.json`)).toBe(true);
        // Nothing half-deleted looks restorable: every listed backup has all of its files.
        const db = repo.database({ project: 'default', name: DB });
        for (const b of await db.backups.list()) for (const f of b.files) expect(crashed.has(`${ROOT}backups/${b.id}/${f.name}`)).toBe(true);
        const half = halfDeleted[crashAfter];
        if (half !== undefined) {
          expect(steps.at(-1)).toEqual({ kind: 'backup-json', backup: half });
          // Its data is still there, but no backup.json refers to it.
          expect(crashed.has(`${ROOT}backups/${half}/base.tar`)).toBe(true);
          expect(await db.backups.get(half)).toBeNull();
        }
        let halfSegments = 0;
        if (crashAfter === 9) {
          // The second batch (oldest first across timelines) lost its markers, not its objects:
          // the repository no longer lists those segments, the objects are still stored.
          const last = steps.at(-1);
          expect(last?.kind).toBe('wal-markers');
          const batch = last?.kind === 'wal-markers' ? last.segments : [];
          expect(batch).toHaveLength(5);
          for (const s of batch) {
            expect(await db.wal.hasSegment(s.timeline, s.segment)).toBe(false);
            expect([...crashed.keys()].some((k) => k.startsWith(`${ROOT}wal/${s.segment.slice(0, 8)}/${s.segment}`))).toBe(true);
          }
          halfSegments = batch.length;
        }
        if (crashAfter === 12) expect(steps.at(-1)?.kind).toBe('wal-objects');

        const report = await runExpiry(repo, { project: 'default', name: DB }, policy, { now: NOW });
        expect(report.resumed).toEqual({ backups: half === undefined ? [] : [half], wal_segments: halfSegments });
        assertExactlyExpired(before, await contents(store));
      });
    }
  });
}
