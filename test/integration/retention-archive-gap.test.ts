/**
 * The daemon's archive-gap check (src/service/archive-gap.ts) over a real repository on fs and on
 * S3 (s3rver): synthetic but real objects — segments, commit markers, history files, backup
 * records — written through the repository, then damaged or changed the way a bucket can be.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { ArchiveGapMonitor } from '../../src/service/index.js';
import { PitrdError } from '../../src/errors.js';
import { openRepository, type Repository } from '../../src/repository/index.js';
import type { ObjectStore } from '../../src/storage/index.js';
import { formatLsn, segmentName } from '../../src/wal/index.js';
import { lazyDrivers } from './repository-drivers.js';

const SEG = 16 * 1024 * 1024;
const DB = 'app';
const name = (t: number, n: number) => segmentName(t, BigInt(n), SEG);
const lsnAt = (segno: number, off = 0x28) => formatLsn(BigInt(segno) * BigInt(SEG) + BigInt(off));

/** Delegates to a real store; `failing` makes listings fail like an unreachable bucket. */
function flaky(inner: ObjectStore): ObjectStore & { failing: boolean } {
  const s: ObjectStore & { failing: boolean } = {
    failing: false,
    capabilities: inner.capabilities,
    location: inner.location,
    put: (k, b, o) => inner.put(k, b, o),
    get: (k, r) => inner.get(k, r),
    getBuffer: (k, r) => inner.getBuffer(k, r),
    head: (k) => inner.head(k),
    list: (p, o) => inner.list(p, o),
    listAll(prefix) {
      if (s.failing) throw new PitrdError('STORAGE_UNAVAILABLE', 'injected: bucket unreachable', { retryable: true });
      return inner.listAll(prefix);
    },
    delete: (k) => inner.delete(k),
    signedUrl: (k, e) => inner.signedUrl(k, e),
    close: () => inner.close(),
  };
  return s;
}

async function populate(repo: Repository): Promise<void> {
  const db = repo.database({ project: 'default', name: DB });
  await db.saveInfo({ project: 'default', system_identifier: '7300000000000000042', pg_version: 15, wal_segment_size: SEG });
  for (let n = 1; n <= 8; n++) await db.wal.putSegment(1, name(1, n), randomBytes(256));
}

async function completedBackup(repo: Repository, id: string, segno: number): Promise<void> {
  const db = repo.database({ project: 'default', name: DB });
  const r = await db.backups.putData(id, 'base.tar', randomBytes(128));
  await db.backups.save({
    id, database: DB, type: 'manual', status: 'completed', created_at: new Date().toISOString(), start_time: new Date().toISOString(), stop_time: new Date().toISOString(),
    start_lsn: lsnAt(segno), stop_lsn: lsnAt(segno, 0x9000), timeline: 1,
    files: [{ name: 'base.tar', size: r.originalSize, stored_size: r.size, sha256: r.sha256 }],
  });
}

for (const driver of lazyDrivers()) {
  describe(`archive gap check on ${driver.name}`, () => {
    afterAll(async () => {
      await driver.stop();
    });

    async function fixture() {
      const store = flaky(await driver.fresh());
      const repo = await openRepository(store, { compression: 'gzip' });
      const warnings: string[] = [];
      const monitor = new ArchiveGapMonitor(repo, { warn: (_o, m) => warnings.push(m) });
      return { store, repo, monitor, warnings };
    }

    it('nothing archived is no state; a continuous archive has no gap', async () => {
      const { repo, monitor } = await fixture();
      expect(await monitor.check({ project: 'default', name: DB })).toBeNull();
      await populate(repo);
      await completedBackup(repo, 'b1', 2);
      expect(await monitor.check({ project: 'default', name: DB })).toMatchObject({ gap: null, missingSegments: 0 });
    });

    it('a deleted segment object is a gap naming it and the backups it cuts; putting it back closes it', async () => {
      const { store, repo, monitor } = await fixture();
      await populate(repo);
      await completedBackup(repo, 'b1', 2);
      await completedBackup(repo, 'b2', 6);
      expect((await monitor.check({ project: 'default', name: DB }))?.gap).toBeNull();
      const db = repo.database({ project: 'default', name: DB });
      const seg = (await (async () => {
        for await (const s of db.wal.listSegments()) if (s.name === name(1, 4)) return s;
        return null;
      })())!;
      const bytes = await db.wal.getSegment(1, seg.name);
      // The object goes, its commit marker stays: the listing no longer shows the segment.
      await store.delete([seg.key!]);
      const st = await monitor.check({ project: 'default', name: DB });
      expect(st).toMatchObject({ gap: { timeline: 1, missingFrom: name(1, 4), missingTo: name(1, 4), missingSegments: 1, backups: ['b1'] }, missingSegments: 1 });
      // putSegment stores a segment again whose marker lost its object.
      await db.wal.putSegment(1, seg.name, bytes);
      expect(await monitor.check({ project: 'default', name: DB })).toMatchObject({ gap: null, missingSegments: 0 });
    });

    it('a backup appearing with a start older than the archive opens a gap; its deletion closes it', async () => {
      const { repo, monitor } = await fixture();
      await populate(repo);
      expect((await monitor.check({ project: 'default', name: DB }))?.gap).toBeNull();
      const db = repo.database({ project: 'default', name: DB });
      // Segments 1-2 expired while a backup that needs them remained: that backup cannot recover.
      await db.wal.removeSegments([{ timeline: 1, name: name(1, 1) }, { timeline: 1, name: name(1, 2) }]);
      expect((await monitor.check({ project: 'default', name: DB }))?.gap).toBeNull();
      await completedBackup(repo, 'old', 1);
      expect(await monitor.check({ project: 'default', name: DB })).toMatchObject({ gap: { missingFrom: name(1, 1), missingTo: name(1, 2), missingSegments: 2, backups: ['old'] } });
      await db.backups.remove('old');
      expect((await monitor.check({ project: 'default', name: DB }))?.gap).toBeNull();
    });

    it('a gap on the parent timeline before a switch is reported once, through the history file', async () => {
      const { store, repo, monitor } = await fixture();
      await populate(repo);
      const db = repo.database({ project: 'default', name: DB });
      await db.wal.putHistory(2, Buffer.from(`1\t${lsnAt(8, 0x3000)}\tno recovery target specified\n`));
      for (let n = 8; n <= 10; n++) await db.wal.putSegment(2, name(2, n), randomBytes(256));
      expect(await monitor.check({ project: 'default', name: DB })).toMatchObject({ gap: null, missingSegments: 0 });
      const victim = (await (async () => {
        for await (const s of db.wal.listSegments(1)) if (s.name === name(1, 5)) return s;
        return null;
      })())!;
      await store.delete([victim.key!]);
      expect(await monitor.check({ project: 'default', name: DB })).toMatchObject({ gap: { timeline: 1, missingFrom: name(1, 5), missingTo: name(1, 5) }, missingSegments: 1 });
    });

    it('while a retention run is in flight, or the bucket is unreachable, the previous result stands', async () => {
      const { store, repo, monitor, warnings } = await fixture();
      await populate(repo);
      const ok = await monitor.check({ project: 'default', name: DB });
      expect(ok?.gap).toBeNull();
      const db = repo.database({ project: 'default', name: DB });
      const journal = db.keys.retentionJournal;
      await store.put(journal, Buffer.from('{}'));
      // Mid-run deletions are not gaps: the listing is not trusted until the journal is gone.
      await db.wal.removeSegments([{ timeline: 1, name: name(1, 3) }]);
      expect(await monitor.check({ project: 'default', name: DB })).toBe(ok);
      await store.delete([journal]);
      const gap = await monitor.check({ project: 'default', name: DB });
      expect(gap).toMatchObject({ gap: { missingFrom: name(1, 3) }, missingSegments: 1 });

      // A journal older than any run is a crashed run's: it no longer freezes the check.
      await store.put(journal, Buffer.from('{}'));
      await db.wal.removeSegments([{ timeline: 1, name: name(1, 6) }]);
      expect(await monitor.check({ project: 'default', name: DB })).toBe(gap);
      const stale = new ArchiveGapMonitor(repo, undefined, 0);
      expect(await stale.check({ project: 'default', name: DB })).toMatchObject({ gap: { missingFrom: name(1, 3), missingTo: name(1, 3) }, missingSegments: 2 });
      await store.delete([journal]);
      await db.wal.putSegment(1, name(1, 6), randomBytes(256));

      store.failing = true;
      expect(await monitor.check({ project: 'default', name: DB })).toBe(gap);
      expect(warnings).toEqual(['archive gap check failed; keeping the previous result']);
      store.failing = false;

      // A result younger than maxAge is served as is; an older one is checked again.
      expect(await monitor.current({ project: 'default', name: DB }, 60_000, gap!.checkedAt + 1000)).toBe(gap);
      const fresh = await monitor.current({ project: 'default', name: DB }, 60_000, gap!.checkedAt + 120_000);
      expect(fresh).not.toBe(gap);
      expect(fresh).toMatchObject({ missingSegments: 1 });
    });
  });
}
