/**
 * The restore plan checks the recovery window before touching a disk: a real PG 15 source, the
 * real receiver archiving into an fs repository, two real PITR base backups and restore points.
 * Targets past the archive or behind a deleted segment are refused up front (nothing written, no
 * restore record); a restore point picks the backup consistent before it; a target inside the
 * window restores exactly the rows committed by then.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPitrdError } from '../../src/errors.js';
import type { BackupRecord, DatabaseRepository, Repository } from '../../src/repository/index.js';
import { runRestore, type RecoveryTarget } from '../../src/restore/index.js';
import type { ObjectStore } from '../../src/storage/index.js';
import type { PgCluster } from '../harness/index.js';
import { startArchiveFixture, type ArchiveFixture } from '../harness/archive-fixture.js';

let fx: ArchiveFixture;
let source: PgCluster;
let store: ObjectStore;
let repo: Repository;
let db: DatabaseRepository;
let repoDir = '';
let backup1: BackupRecord;
let backup2: BackupRecord;
/** Marker rows in commit order, with the segment each commit went into. */
const rows: Array<{ id: number; committed_at: Date; segment: string }> = [];

const between = (a: Date, b: Date) => new Date((a.getTime() + b.getTime()) / 2).toISOString();

async function marker(): Promise<void> {
  const [r] = await source.query<{ id: number; committed_at: Date }>(`INSERT INTO marker DEFAULT VALUES RETURNING id, committed_at`);
  const segment = (await source.query<{ f: string }>(`SELECT pg_walfile_name(pg_current_wal_lsn()) AS f`))[0]!.f;
  rows.push({ ...r!, segment });
  await source.query(`SELECT pg_switch_wal()`);
  // Spacing only (no assertion on time): a target between two rows' clocks falls between their commits.
  await new Promise((res) => setTimeout(res, 200));
}

beforeAll(async () => {
  // No autovacuum: its commits would move the end of the window while the tests run.
  // Uncompressed: a test removes a stored segment and puts its bytes back.
  fx = await startArchiveFixture({ tag: 'rwin', settings: { autovacuum: 'off' }, compression: 'none' });
  ({ source, store, repo, db, repoDir } = fx);
  await source.query(`CREATE TABLE marker (id serial PRIMARY KEY, committed_at timestamptz NOT NULL DEFAULT clock_timestamp())`);
  backup1 = await fx.backup('window-1');
  await marker();
  await marker();
  await source.query(`SELECT pg_create_restore_point('before_backup2')`);
  backup2 = await fx.backup('window-2');
  await marker();
  await source.query(`SELECT pg_create_restore_point('after_backup2')`);
  await marker();
  await marker();
  expect([backup1.status, backup2.status]).toEqual(['completed', 'completed']);
  await fx.switchAndWait();
}, 240_000);

afterAll(async () => {
  await fx?.destroy();
});

const markerIds = (port: number) => fx.markerIds(port);

async function restoreAndRead(target: RecoveryTarget): Promise<{ ids: number[]; backup: string | null }> {
  return fx.restoreRunning({ repo, target, prefetchDepth: 2 }, async (r) => {
    expect(r.record.status).toBe('completed');
    return { ids: await markerIds(r.port!), backup: r.record.backup_id };
  });
}

/** Run a restore expected to be refused by the plan; check nothing was left anywhere. */
async function refused(target: RecoveryTarget): Promise<Error & { code: string }> {
  const root = fx.tempDir('refused');
  const dataDir = join(root, 'data');
  const before = (await db.restores.list()).length;
  const err = await runRestore({ db, repo, target, targetDir: dataDir }).catch((e: unknown) => e);
  expect(isPitrdError(err)).toBe(true);
  expect(existsSync(dataDir)).toBe(false);
  expect(readdirSync(root)).toEqual([]);
  expect((await db.restores.list()).length).toBe(before);
  return err as Error & { code: string };
}

describe('restore plan checks the recovery window', () => {
  it('a time after the last archived commit is TARGET_TIME_INVALID naming target and window, nothing left behind', async () => {
    const late = new Date(rows[rows.length - 1]!.committed_at.getTime() + 3600_000).toISOString();
    const err = await refused({ kind: 'time', time: late });
    expect(err.code).toBe('TARGET_TIME_INVALID');
    expect(err.message).toContain(late);
    expect(err.message).toContain('after the last archived commit');
    expect(err.message).toContain(backup2.stop_time!);
    // The summaries were brought up to date by the plan itself: every archived segment has one.
    let archived = 0;
    for await (const _ of db.wal.listSegments(1)) archived++;
    expect((await db.walSummaries.list(1)).length).toBe(archived);
  }, 60_000);

  it('an LSN beyond the archived WAL is TARGET_TIME_INVALID saying LSN', async () => {
    const err = await refused({ kind: 'lsn', lsn: 'FF/0' });
    expect(err.code).toBe('TARGET_TIME_INVALID');
    expect(err.message).toContain('LSN FF/0');
  }, 60_000);

  it('an unknown restore point name is TARGET_TIME_INVALID naming it', async () => {
    const err = await refused({ kind: 'name', name: 'never_created' });
    expect(err.code).toBe('TARGET_TIME_INVALID');
    expect(err.message).toContain('"never_created"');
  }, 60_000);

  it('a segment deleted between the backup and the target is WAL_GAP naming it, nothing left behind', async () => {
    // Row 4's commit segment lies after backup 2; the target (row 5) lies beyond it.
    const victim = rows[3]!.segment;
    let key = '';
    for await (const s of db.wal.listSegments(1)) if (s.name === victim) key = s.key!;
    expect(key).not.toBe('');
    const saved = readFileSync(join(repoDir, key));
    await store.delete([key]);
    try {
      const err = await refused({ kind: 'time', time: rows[4]!.committed_at.toISOString() });
      expect(err.code).toBe('WAL_GAP');
      expect(err.message).toContain(victim);
      const latest = await refused({ kind: 'latest' });
      expect(latest.code).toBe('WAL_GAP');
      expect(latest.message).toContain(victim);
    } finally {
      writeFileSync(join(repoDir, key), saved);
    }
  }, 60_000);

  it('a restore point made before the second backup restores from the first backup', async () => {
    const r = await restoreAndRead({ kind: 'name', name: 'before_backup2' });
    expect(r.backup).toBe(backup1.id);
    expect(r.ids).toEqual([1, 2]);
  }, 120_000);

  it('a restore point made after the second backup restores from the second backup', async () => {
    const r = await restoreAndRead({ kind: 'name', name: 'after_backup2' });
    expect(r.backup).toBe(backup2.id);
    expect(r.ids).toEqual([1, 2, 3]);
  }, 120_000);

  it('a time inside the window restores exactly the rows committed by then', async () => {
    const r = await restoreAndRead({ kind: 'time', time: between(rows[3]!.committed_at, rows[4]!.committed_at) });
    expect(r.backup).toBe(backup2.id);
    expect(r.ids).toEqual([1, 2, 3, 4]);
  }, 120_000);
});
