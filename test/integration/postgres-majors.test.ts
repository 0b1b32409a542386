/**
 * PostgreSQL 13 to 18 end to end (15, the suite's default major, is covered by every other
 * file): one source cluster per major (test/harness/pg-bins.ts), the real receiver archiving its
 * WAL into an fs repository. On every major: archived segments are byte-identical to the server's
 * own pg_wal files and read back as that major's WAL; a base backup (BASE_BACKUP's pre-15 protocol
 * on 13 and 14, one COPY per tablespace), then restores to an LSN and to a time between two
 * commits hold exactly the rows committed up to the target, run by the binaries of the backup's
 * major (postgres.bin_dirs), and refused before anything is written when this host has none.
 * Every restore's extraction checks the files against the backup's manifest with pitrd's own
 * pg_verifybackup equivalent (src/restore/verify-manifest.ts); the test also checks the stored
 * manifest directly.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPitrdError } from '../../src/errors.js';
import { setConfiguredBinDirs } from '../../src/postgres/cluster/index.js';
import { extractBackup, runRestore } from '../../src/restore/index.js';
import { streamToBuffer } from '../../src/storage/index.js';
import { verifyAgainstManifest } from '../../src/restore/verify-manifest.js';
import { readSegment } from '../../src/wal/index.js';
import { pgBinDir, type TestMajor } from '../harness/index.js';
import { startArchiveFixture, type ArchiveFixture } from '../harness/archive-fixture.js';

const MAJORS: TestMajor[] = [13, 14, 16, 17, 18];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const between = (a: Date, b: Date) => new Date((a.getTime() + b.getTime()) / 2).toISOString();

afterAll(() => setConfiguredBinDirs({}));

describe.each(MAJORS)('PostgreSQL %i', (major) => {
  let fx: ArchiveFixture;
  /** Marker rows in commit order. */
  const rows: Array<{ id: number; committed_at: Date }> = [];

  beforeAll(async () => {
    // wal_keep_size keeps the server's own copies of the segments to compare with.
    fx = await startArchiveFixture({ tag: `pg${major}`, major, settings: { wal_keep_size: "'64MB'" } });
    // The marker table lives in a tablespace: the backup has two archives (one COPY each before
    // 15) and every restore proves tablespace extraction too.
    await fx.source.query(`CREATE TABLESPACE ts LOCATION '${fx.tempDir('tblspc')}'`);
    await fx.source.query(`CREATE TABLE marker (id serial PRIMARY KEY, committed_at timestamptz NOT NULL DEFAULT clock_timestamp()) TABLESPACE ts`);
  }, 120_000);

  afterAll(async () => {
    await fx?.destroy();
  });

  it('archives segments byte-identical to the server’s pg_wal, read back as this major’s WAL', async () => {
    const [v] = await fx.source.query<{ v: string }>(`SELECT current_setting('server_version_num') AS v`);
    expect(Math.floor(Number(v!.v) / 10000)).toBe(major);
    await fx.source.query(`INSERT INTO marker DEFAULT VALUES`);
    const seg = await fx.switchAndWait();
    const archived = await fx.db.wal.getSegment(1, seg);
    expect(archived.equals(readFileSync(join(fx.source.dataDir, 'pg_wal', seg)))).toBe(true);
    const read = readSegment(archived, { name: seg });
    expect(read.major).toBe(major);
    expect(read.records.length).toBeGreaterThan(0);
    await fx.source.query(`TRUNCATE marker RESTART IDENTITY`);
  }, 120_000);

  it('restores to an LSN and to a time exactly, with the binaries of the backup’s major', async () => {
    const rec = await fx.backup(`pg${major}`);
    expect(rec.status).toBe('completed');
    expect(rec.pg_version).toBe(major);
    expect(rec.files.map((f) => f.name.replace(/\.gz$/, '')).sort()).toEqual([`${(rec.tablespaces as Array<{ oid: number }>)[0]!.oid}.tar`, 'backup_manifest', 'base.tar'].sort());
    // The stored manifest is this major's and matches the extracted files (pitrd's pg_verifybackup).
    const mf = rec.files.find((f) => f.name.startsWith('backup_manifest'))!;
    const manifest = await streamToBuffer(await fx.db.backups.getData(rec.id, mf.name, { sha256: mf.sha256 }));
    expect(JSON.parse(manifest.toString('utf8'))['PostgreSQL-Backup-Manifest-Version']).toBe(major >= 17 ? 2 : 1);
    const extracted = join(fx.tempDir('extract'), 'data');
    await extractBackup({ db: fx.db, backup: rec, targetDir: extracted });
    expect(await verifyAgainstManifest(extracted, manifest)).toEqual([]);
    let lsnAfter2 = '';
    for (let i = 1; i <= 4; i++) {
      await sleep(100);
      const [r] = await fx.source.query<{ id: number; committed_at: Date }>(`INSERT INTO marker DEFAULT VALUES RETURNING id, committed_at`);
      rows.push(r!);
      if (i === 2) lsnAfter2 = (await fx.source.query<{ l: string }>(`SELECT pg_current_wal_lsn()::text AS l`))[0]!.l;
    }
    await fx.switchAndWait();

    // No binaries of this major configured (and none in the usual places): refused, nothing written.
    setConfiguredBinDirs({});
    const root = fx.tempDir('nobin');
    const err = await runRestore({ db: fx.db, target: { kind: 'lsn', lsn: lsnAfter2 }, targetDir: join(root, 'data') }).catch((e: unknown) => e);
    expect(isPitrdError(err, 'POSTGRES_BINARIES_MISSING')).toBe(true);
    expect((err as Error).message).toContain(`PostgreSQL ${major}`);
    expect(readdirSync(root)).toEqual([]);

    setConfiguredBinDirs({ [String(major)]: pgBinDir(major) });
    const atLsn = await fx.restoreRunning({ target: { kind: 'lsn', lsn: lsnAfter2 } }, async (r) => fx.markerIds(r.port!));
    expect(atLsn).toEqual([1, 2]);
    const atTime = await fx.restoreRunning({ target: { kind: 'time', time: between(rows[2]!.committed_at, rows[3]!.committed_at) } }, async (r) => fx.markerIds(r.port!));
    expect(atTime).toEqual([1, 2, 3]);
  }, 240_000);
});
