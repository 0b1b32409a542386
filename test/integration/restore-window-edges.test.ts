/**
 * Every target inside the reported recovery window restores, edges included (issue 13 item 5):
 * real PostgreSQL 15, the real receiver archiving into a real repository, two base backups.
 * The window's exact `to`, a time between the last commit and `to`, the archive's end LSN, an xid
 * and a restore point from before the newest backup each restore exactly (marker rows checked).
 * A restore point created twice is refused unless a backup says which one is meant (then the one
 * PostgreSQL stops at is restored); an xid not in the archive and an LSN past the end are refused
 * before anything is written, naming the same window the API reports.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recoveryWindow, summarizeArchive, type RecoveryWindowView } from '../../src/catalog/index.js';
import { isPitrdError } from '../../src/errors.js';
import type { BackupRecord } from '../../src/repository/index.js';
import { runRestore, type RecoveryTarget } from '../../src/restore/index.js';
import { startArchiveFixture, type ArchiveFixture } from '../harness/archive-fixture.js';

let fx: ArchiveFixture;
let older: BackupRecord;
let newest: BackupRecord;
let xidOfRow2 = '';
let w: RecoveryWindowView;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  fx = await startArchiveFixture({ tag: 'edges', settings: { autovacuum: 'off' } });
  const q = (sql: string, args: unknown[] = []) => fx.source.query<Record<string, string>>(sql, args);
  await q(`CREATE TABLE marker (id integer PRIMARY KEY)`);
  older = await fx.backup('older');
  await q(`INSERT INTO marker VALUES (1)`);
  await q(`SELECT pg_create_restore_point('twice')`);
  xidOfRow2 = (await q(`INSERT INTO marker VALUES (2) RETURNING xmin::text AS x`))[0]!.x!;
  await q(`INSERT INTO marker VALUES (3)`);
  await q(`SELECT pg_create_restore_point('early')`);
  await q(`SELECT pg_switch_wal()`);
  newest = await fx.backup('newest');
  for (const id of [4, 5]) await q(`INSERT INTO marker VALUES ($1)`, [id]);
  await q(`SELECT pg_create_restore_point('twice')`);
  await q(`INSERT INTO marker VALUES (6)`);
  // WAL written after the last commit, carrying a later time: the window runs through it.
  await sleep(300);
  await q(`SELECT pg_create_restore_point('tail')`);
  await fx.switchAndWait();
  await summarizeArchive(fx.repo, { project: 'default', name: 'main' });
  w = (await recoveryWindow(fx.repo, { project: 'default', name: 'main' })).find((x) => x.timeline === 1)!;
}, 240_000);

afterAll(async () => {
  await fx?.destroy();
});

async function restoreRows(target: RecoveryTarget, backupId?: string): Promise<{ ids: number[]; backup: string }> {
  return fx.restoreRunning({ target, repo: fx.repo, prefetchDepth: 4, ...(backupId ? { backupId } : {}) }, async (r) => {
    expect(r.record.status).toBe('completed');
    return { ids: await fx.markerIds(r.port!), backup: r.plan.backup.id };
  });
}

/** A refusal: its error, and proof nothing was written (no restore record, no target directory content). */
async function refused(target: RecoveryTarget, backupId?: string): Promise<Error & { code: string; message: string }> {
  const before = (await fx.db.restores.list()).length;
  const dir = join(fx.tempDir('refused'), 'data');
  const err = await runRestore({ db: fx.db, repo: fx.repo, target, targetDir: dir, ...(backupId ? { backupId } : {}) }).then(
    () => null,
    (e: unknown) => e,
  );
  expect(isPitrdError(err)).toBe(true);
  expect((await fx.db.restores.list()).length).toBe(before);
  expect(existsSync(dir) ? readdirSync(dir) : []).toEqual([]);
  return err as Error & { code: string; message: string };
}

const all = [1, 2, 3, 4, 5, 6];

describe('every target inside the reported window restores', () => {
  it('the window runs from the older backup through the WAL written after the last commit', () => {
    expect(w).toMatchObject({ status: 'ok', backup_id: older.id, from: older.stop_time, gaps: [] });
    expect(w.last_commit_time).not.toBeNull();
    // `to` is the time the WAL runs through (the tail restore point), later than the last commit.
    expect(Date.parse(w.to!)).toBeGreaterThan(Date.parse(w.last_commit_time!));
    expect(w.latest_wal_time).toBe(w.to);
    expect(w.ranges).toHaveLength(1);
  });

  it("to the window's exact `to`", async () => {
    expect((await restoreRows({ kind: 'time', time: w.to! })).ids).toEqual(all);
  }, 120_000);

  it('to a time between the last commit and `to`', async () => {
    const mid = new Date((Date.parse(w.last_commit_time!) + Date.parse(w.to!)) / 2).toISOString();
    expect(mid > w.last_commit_time! && mid < w.to!).toBe(true);
    expect((await restoreRows({ kind: 'time', time: mid })).ids).toEqual(all);
  }, 120_000);

  it("to the archive's end LSN (`to_lsn`), and an LSN past it is refused naming that LSN and the API's window", async () => {
    expect((await restoreRows({ kind: 'lsn', lsn: w.to_lsn! })).ids).toEqual(all);
    const [hi, lo] = w.to_lsn!.split('/').map((x) => BigInt(`0x${x}`));
    const past = ((hi! << 32n) | lo!) + 1n;
    const err = await refused({ kind: 'lsn', lsn: `${(past >> 32n).toString(16).toUpperCase()}/${(past & 0xffffffffn).toString(16).toUpperCase()}` });
    expect(err.code).toBe('TARGET_TIME_INVALID');
    expect(err.message).toContain(`the last archived LSN is ${w.to_lsn}`);
    expect(err.message).toContain(`from ${w.from} to ${w.to}`);
  }, 120_000);

  it('to an xid committed before the newest backup: restored from the older one', async () => {
    const r = await restoreRows({ kind: 'xid', xid: xidOfRow2 });
    expect(r).toEqual({ ids: [1, 2], backup: older.id });
  }, 120_000);

  it('to a restore point from before the newest backup: restored from the older one', async () => {
    expect(await restoreRows({ kind: 'name', name: 'early' })).toEqual({ ids: [1, 2, 3], backup: older.id });
  }, 120_000);

  it('a restore point name used twice is refused unless a backup says which one; with one, the one PostgreSQL stops at', async () => {
    const err = await refused({ kind: 'name', name: 'twice' });
    expect(err.code).toBe('TARGET_AMBIGUOUS');
    expect(await restoreRows({ kind: 'name', name: 'twice' }, newest.id)).toEqual({ ids: [1, 2, 3, 4, 5], backup: newest.id });
  }, 120_000);

  it('an xid not in the archive and a time after `to` are refused before anything is written', async () => {
    expect((await refused({ kind: 'xid', xid: '4000000000' })).code).toBe('TARGET_TIME_INVALID');
    const after = new Date(Date.parse(w.to!) + 60_000).toISOString();
    const err = await refused({ kind: 'time', time: after });
    expect(err.code).toBe('TARGET_TIME_INVALID');
    expect(err.message).toContain(`from ${w.from} to ${w.to}`);
  }, 60_000);

  it('a malformed time is VALIDATION_ERROR on the CLI, as over the API', async () => {
    const r = await fx.cli(['restore', '--to-time', 'yesterday', '--target-dir', join(fx.tempDir('cli'), 'data')]);
    expect(r.exitCode).not.toBe(0);
    expect(`${r.stdout}${r.stderr}`).toContain('VALIDATION_ERROR');
  }, 60_000);
});
