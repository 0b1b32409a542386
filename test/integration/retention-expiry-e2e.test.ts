/**
 * Expiry end to end on real objects: a real PostgreSQL 15 (1 MB segments), the real receiver
 * archiving its WAL into an fs repository, three real PITR base backups with marker rows between
 * them, WAL summaries from the catalog. Retention runs with a one-day window whose clock is
 * injected: `now` is one day after an instant T taken between two commits, so T is the oldest
 * time inside the window. Expiry must delete exactly what the policy says — the backup older
 * than the window's anchor and the WAL (objects, markers, summaries) before the anchor's start —
 * leave every other object byte-identical, and a restore to T must then succeed and hold exactly
 * the rows committed by T.
 */
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackupService } from '../../src/basebackup/index.js';
import { summarizeArchive, verifyDatabase } from '../../src/catalog/index.js';
import { isPitrdError } from '../../src/errors.js';
import { createReceiver, type Receiver } from '../../src/receiver/index.js';
import { openRepository, type BackupRecord, type DatabaseRepository, type Repository } from '../../src/repository/index.js';
import { runRestore } from '../../src/restore/index.js';
import { DAY_MS, runExpiry } from '../../src/retention/index.js';
import { createObjectStore, type ObjectStore } from '../../src/storage/index.js';
import { parseLsn, parseSegmentName, segnoOf } from '../../src/wal/index.js';
import { makeTempDir, startPostgres, type PgCluster } from '../harness/index.js';
import { waitFor } from '../harness/receiver.js';

const DB = 'main';
const ROOT = `projects/default/databases/${DB}/`;
const SEG = 1024 * 1024;
const policy = { retentionDays: 1, minFullBackups: 1 };

let source: PgCluster;
let store: ObjectStore;
let repo: Repository;
let db: DatabaseRepository;
let receiver: Receiver | null = null;
const dirs: string[] = [];
const backups: BackupRecord[] = [];
/** Marker rows in commit order. */
const rows: Array<{ id: number; committed_at: Date }> = [];
/** The oldest time inside the window: after row 3's commit, before row 4's. */
let T: Date;
let NOW: number;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function row(): Promise<void> {
  const [r] = await source.query<{ id: number; committed_at: Date }>('INSERT INTO marker DEFAULT VALUES RETURNING id, committed_at');
  rows.push(r!);
  await source.query('SELECT pg_switch_wal()');
}

beforeAll(async () => {
  source = await startPostgres({ walSegmentSizeMB: 1 });
  await source.query('CREATE TABLE marker (id serial PRIMARY KEY, committed_at timestamptz NOT NULL DEFAULT clock_timestamp())');
  const repoDir = makeTempDir('ret-e2e-repo');
  const spool = makeTempDir('ret-e2e-spool');
  dirs.push(repoDir, spool);
  store = createObjectStore({ type: 'fs', path: repoDir });
  repo = await openRepository(store, { compression: 'gzip' });
  db = repo.database({ project: 'default', name: DB });
  receiver = createReceiver({ database: DB, connection: { ...source.connection }, repository: db, spoolDir: spool });
  await receiver.start();
  const service = createBackupService({ repository: repo, databases: { [DB]: { connection: { ...source.connection }, schedule: null, pitr: true, walTimeoutMs: 90_000 } } });
  try {
    const backup = async (label: string) => {
      const rec = await service.run(DB, { label });
      expect(rec.status).toBe('completed');
      backups.push(rec);
    };
    await row(); // 1
    await backup('b1');
    await row(); // 2
    await backup('b2');
    await row(); // 3
    // T strictly between row 3's commit and row 4's (same clock: one machine).
    await sleep(50);
    T = new Date();
    await sleep(50);
    await row(); // 4
    await backup('b3');
    await row(); // 5
    await row(); // 6: a commit after row 5 for recovery to stop at
  } finally {
    await service.stop();
  }
  const last = (await source.query<{ f: string }>('SELECT pg_walfile_name(pg_current_wal_lsn()) AS f'))[0]!.f;
  await source.query('SELECT pg_switch_wal()');
  await waitFor(`segment ${last} archived`, () => db.wal.hasSegment(1, last), 60_000);
  // Nothing changes under the comparison below: the receiver stops (flushing and uploading first).
  await receiver.stop();
  receiver = null;
  const sum = await summarizeArchive(repo, { project: 'default', name: DB });
  expect(sum.failed).toEqual([]);
  NOW = T.getTime() + policy.retentionDays * DAY_MS;
}, 240_000);

afterAll(async () => {
  await receiver?.stop().catch(() => undefined);
  await store?.close();
  await source?.destroy();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Every key with the sha256 of its stored bytes. */
async function contents(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const o of store.listAll('')) out.set(o.key, sha(await store.getBuffer(o.key)));
  return out;
}

async function archivedNames(): Promise<string[]> {
  const out: string[] = [];
  for await (const s of db.wal.listSegments()) out.push(s.name);
  return out;
}

async function markerIds(port: number): Promise<number[]> {
  const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', password: source.connection.password });
  await c.connect();
  try {
    return (await c.query<{ id: number }>('SELECT id FROM marker ORDER BY id')).rows.map((r) => r.id);
  } finally {
    await c.end();
  }
}

describe('retention expiry on a real archive', () => {
  it('the scenario is what the test means: b1 and b2 before T, b3 after; rows 1-3 before T, 4-6 after', () => {
    const [b1, b2, b3] = backups.map((b) => Date.parse(b.stop_time!));
    expect(b1! < b2! && b2! < T.getTime() && T.getTime() < b3!).toBe(true);
    expect(rows.map((r) => r.committed_at.getTime() < T.getTime())).toEqual([true, true, true, false, false, false]);
  });

  it('deletes exactly the backup and the WAL the policy says, keeps everything else byte-identical, and T stays restorable', async () => {
    const [b1, b2, b3] = backups as [BackupRecord, BackupRecord, BackupRecord];
    const names = await archivedNames();
    expect(names.every((n) => n.startsWith('00000001'))).toBe(true);
    const anchorStart = segnoOf(parseLsn(b2.start_lsn!), SEG);
    // The WAL b2 (the window's anchor) and b3 need: from b2's start segment on.
    const goneWal = names.filter((n) => parseSegmentName(n, SEG).segno < anchorStart);
    const keptWal = names.filter((n) => parseSegmentName(n, SEG).segno >= anchorStart);
    // b1 started in an older segment than b2: there is WAL to expire.
    expect(segnoOf(parseLsn(b1.start_lsn!), SEG)).toBeLessThan(anchorStart);
    expect(goneWal.length).toBeGreaterThan(0);
    const before = await contents();

    // Dry run: the plan, and nothing touched.
    const dry = await runExpiry(repo, { project: 'default', name: DB }, policy, { dryRun: true, now: NOW });
    expect(dry.plan.window_start).toBe(T.toISOString());
    expect(dry.plan.delete_backups.map((b) => [b.id, b.reason])).toEqual([[b1.id, 'older-than-window']]);
    expect(Object.fromEntries(dry.plan.keep_backups.map((b) => [b.id, b.reasons]))).toEqual({ [b2.id]: ['window-anchor'], [b3.id]: ['inside-window', 'min-full-backups'] });
    expect(dry.plan.delete_wal.map((r) => [r.timeline, r.first, r.last, r.count, r.reason])).toEqual([[1, goneWal[0], goneWal.at(-1), goneWal.length, 'before-oldest-retained-backup']]);
    expect(dry.plan.delete_histories).toEqual([]);
    expect(await contents()).toEqual(before);

    const report = await runExpiry(repo, { project: 'default', name: DB }, policy, { now: NOW });
    expect(report.deleted).toEqual({ backups: [b1.id], wal_segments: goneWal.length, histories: [] });
    expect(report.resumed).toEqual({ backups: [], wal_segments: 0 });

    // Exactly these keys went: b1's directory, and each expired segment's object, marker and summary.
    const gone = new Set(goneWal);
    const expectedGone = (key: string) => {
      const rel = key.slice(ROOT.length);
      if (rel.startsWith(`backups/${b1.id}/`)) return true;
      const m = /^(?:wal|wal-summary)\/00000001\/([0-9A-F]{24})[.]/.exec(rel);
      return m !== null && gone.has(m[1]!);
    };
    const after = await contents();
    const expected = new Map([...before].filter(([k]) => !expectedGone(k)));
    // Sanity: each expired segment had an object, a marker and a summary; b1 had data.
    expect(before.size - expected.size).toBe(goneWal.length * 3 + [...before.keys()].filter((k) => k.startsWith(`${ROOT}backups/${b1.id}/`)).length);
    expect(new Map([...after].filter(([k]) => !k.startsWith(`${ROOT}retention/`)))).toEqual(expected);
    expect([...after.keys()].filter((k) => k.startsWith(`${ROOT}retention/`))).toEqual([`${ROOT}retention/last-report.json`]);

    // Through the repository: b2 and b3 remain, the WAL from b2's start on, and the archive is whole.
    expect((await db.backups.list()).map((b) => b.id).sort()).toEqual([b2.id, b3.id].sort());
    expect(await archivedNames()).toEqual(keptWal);
    const verify = await verifyDatabase(repo, { project: 'default', name: DB }, { quick: true });
    expect(verify.problems).toEqual([]);

    // A second run finds nothing more to delete.
    const again = await runExpiry(repo, { project: 'default', name: DB }, policy, { now: NOW });
    expect(again.deleted).toEqual({ backups: [], wal_segments: 0, histories: [] });

    // The oldest time inside the window restores from the anchor, with exactly rows 1-3.
    const root = makeTempDir('ret-e2e-restore');
    dirs.push(root);
    const r = await runRestore({ db, repo, target: { kind: 'time', time: T.toISOString() }, targetDir: join(root, 'data'), mode: 'running', prefetchDepth: 2 });
    try {
      expect(r.record.status).toBe('completed');
      expect(r.plan.backup.id).toBe(b2.id);
      expect(await markerIds(r.port!)).toEqual([1, 2, 3]);
    } finally {
      await r.stopServer!();
    }
  }, 240_000);

  it('a time before the window, once restorable from the expired backup, is now refused and nothing is written', async () => {
    const [, b2] = backups as [BackupRecord, BackupRecord];
    const restoresBefore = await db.restores.list();
    // Between rows 1 and 2: only b1 (expired) was consistent by then.
    const target = new Date((rows[0]!.committed_at.getTime() + rows[1]!.committed_at.getTime()) / 2).toISOString();
    const root = makeTempDir('ret-e2e-refused');
    dirs.push(root);
    const err = await runRestore({ db, repo, target: { kind: 'time', time: target }, targetDir: join(root, 'data') }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(isPitrdError(err, 'TARGET_TIME_INVALID')).toBe(true);
    expect((err as Error).message).toContain(b2.id);
    expect(await db.restores.list()).toEqual(restoresBefore);
  }, 120_000);
});
