/**
 * Restore across a timeline switch: the real receiver streams from a standby of a PG 15 primary
 * and archives timeline 1; a real PITR base backup is taken on timeline 1; the standby is
 * promoted (timeline 2, 00000002.history) and the receiver follows it. Marker rows are committed
 * before the switch (on the primary) and after it (on the promoted server). Restores to a time on
 * timeline 1, to a time on timeline 2 (timeline-1 backup + history file), to the first commit of
 * timeline 2 and to `latest` must each hold exactly the rows committed at or before the target.
 * Commit times come from the commit records (track_commit_timestamp), as recovery compares them.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackupService } from '../../src/basebackup/index.js';
import { createReceiver, type Receiver } from '../../src/receiver/index.js';
import { openRepository, type BackupRecord, type DatabaseRepository, type Repository } from '../../src/repository/index.js';
import { planRestore, runRestore, type RecoveryOptions } from '../../src/restore/index.js';
import { createObjectStore, type ObjectStore } from '../../src/storage/index.js';
import { parseTimelineHistory } from '../../src/wal/index.js';
import { makeTempDir, startPostgres, type PgCluster } from '../harness/index.js';
import { waitFor } from '../harness/receiver.js';
import { startStandby, type StandbyCluster } from '../harness/standby.js';

let primary: PgCluster;
let standby: StandbyCluster;
let store: ObjectStore;
let repo: Repository;
let db: DatabaseRepository;
let receiver: Receiver | null = null;
let backup: BackupRecord;
const dirs: string[] = [];
/** Marker rows in commit order: commit time (µs since the Unix epoch) and the timeline it was committed on. */
const rows: Array<{ id: number; commitMicros: bigint; timeline: number }> = [];
let switchLsn = 0n;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** ISO 8601 UTC with all six fractional digits. */
function isoMicros(micros: bigint): string {
  const ms = Number(micros / 1000n);
  return new Date(ms).toISOString().replace('Z', `${String(micros % 1000n).padStart(3, '0')}Z`);
}
const midpoint = (a: bigint, b: bigint) => isoMicros((a + b) / 2n);

async function insertMarkers(c: PgCluster, ids: number[], timeline: number): Promise<void> {
  for (const id of ids) {
    // Spacing only: a target between two commit times lies strictly between them.
    await sleep(150);
    await c.query(`INSERT INTO marker (id) VALUES ($1)`, [id]);
    await c.query(`SELECT pg_switch_wal()`);
  }
  for (const r of await c.query<{ id: number; us: string }>(
    `SELECT id, (extract(epoch FROM pg_xact_commit_timestamp(xmin)) * 1000000)::bigint::text AS us FROM marker WHERE id = ANY($1::int[]) ORDER BY id`,
    [ids],
  )) {
    rows.push({ id: r.id, commitMicros: BigInt(r.us), timeline });
  }
}

beforeAll(async () => {
  // No autovacuum: its commits would land between the marker commits.
  primary = await startPostgres({ walSegmentSizeMB: 1, settings: { autovacuum: 'off', track_commit_timestamp: 'on', wal_keep_size: "'256MB'" } });
  await primary.query(`CREATE TABLE marker (id integer PRIMARY KEY)`);
  standby = await startStandby(primary, { autovacuum: 'off', track_commit_timestamp: 'on', wal_keep_size: "'256MB'" });
  const repoDir = makeTempDir('rtl-repo');
  const spool = makeTempDir('rtl-spool');
  dirs.push(repoDir, spool);
  store = createObjectStore({ type: 'fs', path: repoDir });
  repo = await openRepository(store, { compression: 'gzip' });
  db = repo.database({ project: 'default', name: 'main' });
  // The receiver streams from the standby: when it is promoted, the receiver follows it onto timeline 2.
  receiver = createReceiver({ database: 'main', connection: { ...standby.connection }, repository: db, spoolDir: spool, reconnectBackoff: { initialMs: 200, maxMs: 1000 } });
  await receiver.start();
  await waitFor('receiver streaming from the standby', () => receiver!.status().status === 'running', 60_000);

  // The base backup is taken from the primary, on timeline 1; its WAL reaches the archive through the standby.
  const service = createBackupService({ repository: repo, databases: { main: { connection: { ...primary.connection }, schedule: null, pitr: true, walTimeoutMs: 90_000 } } });
  try {
    backup = await service.run('main', { label: 'timeline-1' });
  } finally {
    await service.stop();
  }
  expect(backup.status).toBe('completed');
  expect(backup.timeline).toBe(1);

  await insertMarkers(primary, [1, 2, 3], 1);
  // Let the standby replay everything of timeline 1 before it is promoted (polling, not a timed assertion).
  const [{ lsn }] = (await primary.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')) as [{ lsn: string }];
  await waitFor(`standby replayed up to ${lsn}`, async () => (await standby.query<{ ok: boolean }>('SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok', [lsn]))[0]?.ok, 60_000);
  await standby.promote();
  // Nothing more is written on the old primary: its timeline 1 ends at the switch.
  await primary.destroy();

  await insertMarkers(standby, [4, 5, 6], 2);
  // A commit after the last row, so time targets after row 6 and `latest` have a record past them.
  await standby.query(`CREATE TABLE tail ()`);
  const [{ last }] = (await standby.query<{ last: string }>(`SELECT pg_walfile_name(pg_current_wal_lsn()) AS last`)) as [{ last: string }];
  await standby.query(`SELECT pg_switch_wal()`);
  expect(last.startsWith('00000002')).toBe(true);
  await waitFor(`segment ${last} archived`, () => db.wal.hasSegment(2, last), 90_000);
  const history = await db.wal.getHistory(2);
  expect(history).not.toBeNull();
  switchLsn = parseTimelineHistory(2, history!.toString('utf8')).entries[0]!.switchLsn;
}, 240_000);

afterAll(async () => {
  await receiver?.stop().catch(() => undefined);
  await store?.close();
  await standby?.destroy();
  await primary?.destroy();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function restoredIds(opts: RecoveryOptions): Promise<{ ids: number[]; backup: string | null; timeline: number }> {
  const root = makeTempDir('rtl-target');
  dirs.push(root);
  const r = await runRestore({ db, repo, ...opts, targetDir: join(root, 'data'), mode: 'running', prefetchDepth: 4 });
  try {
    expect(r.record.status).toBe('completed');
    expect(r.record.wal_files_applied).toBeGreaterThan(0);
    const c = new pg.Client({ host: '127.0.0.1', port: r.port!, user: 'postgres', database: 'postgres', password: standby.connection.password });
    await c.connect();
    try {
      const ids = (await c.query<{ id: number }>('SELECT id FROM marker ORDER BY id')).rows.map((x) => x.id);
      return { ids, backup: r.record.backup_id, timeline: r.plan.targetTimeline };
    } finally {
      await c.end();
    }
  } finally {
    await r.stopServer!();
    rmSync(root, { recursive: true, force: true });
  }
}

const idsUpTo = (micros: bigint) => rows.filter((r) => r.commitMicros <= micros).map((r) => r.id);

describe('restore across a timeline switch (promoted standby)', () => {
  it('the archive holds both timelines and the plan follows the history from the timeline-1 backup', async () => {
    expect(rows.map((r) => [r.id, r.timeline])).toEqual([[1, 1], [2, 1], [3, 1], [4, 2], [5, 2], [6, 2]]);
    expect(switchLsn).toBeGreaterThan(0n);
    const plan = await planRestore(db, { repo, target: { kind: 'time', time: midpoint(rows[4]!.commitMicros, rows[5]!.commitMicros) } });
    expect(plan.backup.id).toBe(backup.id);
    expect(plan.targetTimeline).toBe(2);
    expect([...plan.timelines].sort()).toEqual([1, 2]);
  });

  it('(a) a time on timeline 1 before the switch restores exactly the rows committed by then', async () => {
    const t = rows[1]!.commitMicros + (rows[2]!.commitMicros - rows[1]!.commitMicros) / 2n;
    const r = await restoredIds({ target: { kind: 'time', time: isoMicros(t) } });
    expect(r.backup).toBe(backup.id);
    expect(r.ids).toEqual(idsUpTo(t));
    expect(r.ids).toEqual([1, 2]);
  }, 120_000);

  it('(a) the same time with recovery_target_timeline 1 stays on timeline 1', async () => {
    const t = rows[0]!.commitMicros + (rows[1]!.commitMicros - rows[0]!.commitMicros) / 2n;
    const r = await restoredIds({ target: { kind: 'time', time: isoMicros(t) }, timeline: 1 });
    expect(r.timeline).toBe(1);
    expect(r.ids).toEqual([1]);
  }, 120_000);

  it('(b) a time on timeline 2 after the switch restores from the timeline-1 backup through the history file', async () => {
    const t = rows[4]!.commitMicros + (rows[5]!.commitMicros - rows[4]!.commitMicros) / 2n;
    const r = await restoredIds({ target: { kind: 'time', time: isoMicros(t) } });
    expect(r.backup).toBe(backup.id);
    expect(r.timeline).toBe(2);
    expect(r.ids).toEqual(idsUpTo(t));
    expect(r.ids).toEqual([1, 2, 3, 4, 5]);
  }, 120_000);

  it('(b) the exact commit time of the first row of timeline 2 keeps that row (inclusive)', async () => {
    const t = rows[3]!.commitMicros;
    const r = await restoredIds({ target: { kind: 'time', time: isoMicros(t) }, timeline: 2 });
    expect(r.ids).toEqual([1, 2, 3, 4]);
  }, 120_000);

  it('(c) latest restores every row of both timelines', async () => {
    const r = await restoredIds({ target: { kind: 'latest' } });
    expect(r.backup).toBe(backup.id);
    expect(r.ids).toEqual([1, 2, 3, 4, 5, 6]);
  }, 120_000);
});
