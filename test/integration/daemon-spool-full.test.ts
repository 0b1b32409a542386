/**
 * A full spool, end to end: a real PostgreSQL 15 (1 MiB segments), the daemon in-process with
 * `spool.max_bytes` of 4 segments streaming into a real s3rver process, pg_receivewal on its own
 * slot as the reference copy. The S3 server is killed by PID while WAL is generated, so the spool
 * fills:
 * - the receiver stops receiving (status `spool_full`, last_error SPOOL_FULL), health raises the
 *   `spool_full` alert (and /metrics pitrd_alert_active), the spool stays within max_bytes;
 * - nothing is confirmed past what is durable: the slot stays at or behind the receiver's flushed
 *   position while the server writes on, so the slot keeps the WAL on the server;
 * - when S3 is back the backlog is uploaded, streaming resumes and catches up, the alert clears,
 *   and the archive has no hole and is byte-identical to pg_receivewal's.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseLsn } from '../../src/wal/lsn.js';
import { cleanUp, s3StorageConfig, startPostgres, startS3, type PgCluster, type S3Server } from '../harness/index.js';
import { compareArchiveWithReference, startPgReceivewal, switchWal, type PgReceivewal } from '../harness/receiver.js';
import { startDaemonFixture, waitFor, type DaemonFixture } from './daemon-fixture.js';

const DB = 'main';
const BASE = `/projects/default/databases/${DB}`;
const SEG = 1024 * 1024;
const MAX = 4 * SEG;

let pg: PgCluster;
let s3: S3Server;
let ref: PgReceivewal;
let fx: DaemonFixture;

beforeAll(async () => {
  [pg, s3] = await Promise.all([startPostgres({ walSegmentSizeMB: 1 }), startS3()]);
  ref = await startPgReceivewal(pg, 'reference');
  await pg.query('CREATE TABLE filler (id serial PRIMARY KEY, v text)');
  fx = await startDaemonFixture(
    {
      storage: s3StorageConfig(s3, { prefix: 'spoolfull' }),
      spool: { max_bytes: MAX },
      health: { upload_failure_alert_seconds: 1 },
      databases: [{ name: DB, connection: { host: '127.0.0.1', port: pg.port, user: 'postgres', password: pg.connection.password, dbname: 'postgres', sslmode: 'disable' } }],
    },
    { schedules: false, healthIntervalMs: 300 },
  );
  await waitFor('receiver running', async () => (await status())?.status === 'running', 90_000);
}, 180_000);

// The default hook timeout (120 s): closing the daemon drains uploads, slow on a busy machine.
afterAll(() => cleanUp(() => fx?.close(), () => ref?.stop(), () => pg?.destroy(), () => s3?.destroy()));

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function status(): Promise<any> {
  return (await fx.call('GET', `${BASE}/pitr/receiver-status`)).json.data;
}

async function alerts(): Promise<Array<{ kind: string; severity: string; message: string }>> {
  return (await fx.call('GET', `${BASE}/health`)).json.data.alerts;
}

/** About one segment of WAL, then a switch: returns the segment the switch completed. */
async function oneSegment(): Promise<string> {
  await pg.query("INSERT INTO filler (v) SELECT repeat(md5(g::text), 8) FROM generate_series(1, 3000) g");
  return (await switchWal(pg)).segment;
}

function spoolBytes(dir: string): { complete: number; partial: number } {
  let complete = 0;
  let partial = 0;
  for (const f of existsSync(dir) ? readdirSync(dir) : []) {
    if (/^[0-9A-F]{24}$/.test(f)) complete += statSync(join(dir, f)).size;
    else if (/^[0-9A-F]{24}\.partial$/.test(f)) partial += statSync(join(dir, f)).size;
  }
  return { complete, partial };
}

describe('a spool that reaches spool.max_bytes while storage is down', () => {
  it('stops receiving and confirming, alerts SPOOL_FULL, holds WAL in the slot, then catches up byte-identical', async () => {
    const spool = join(fx.config.spool_dir, 'default', DB);
    const wal = fx.daemon.repo.database({ project: 'default', name: DB }).wal;
    const first = await oneSegment();
    await waitFor(`archive to hold ${first}`, () => wal.hasSegment(1, first), 90_000);

    await s3.stop();
    // WAL until the spool is full: at most 4 segments fit, 8 are written.
    for (let i = 0; i < 8; i++) await oneSegment();
    const full = await waitFor('status spool_full', async () => ((await status())?.status === 'spool_full' ? status() : null), 120_000);
    expect(full.last_error.code).toBe('SPOOL_FULL');
    expect(full.last_error.message).toMatch(/spool\.max_bytes is 4194304/);
    // Within the limit: complete segments waiting for upload plus the partial one.
    const held = spoolBytes(spool);
    expect(held.complete).toBeLessThanOrEqual(MAX);
    expect(held.complete + held.partial).toBeLessThanOrEqual(MAX + SEG);
    expect(full.upload_backlog.bytes).toBeLessThanOrEqual(MAX);

    const raised = await waitFor('spool_full alert', async () => {
      const a = await alerts();
      return a.some((x) => x.kind === 'spool_full') ? a : null;
    }, 60_000);
    expect(raised.find((a) => a.kind === 'spool_full')).toMatchObject({ severity: 'critical' });
    expect(raised.find((a) => a.kind === 'spool_full')!.message).toMatch(/SPOOL_FULL|spool\.max_bytes/);
    expect((await fx.call('GET', '/metrics')).text).toMatch(/pitrd_alert_active\{project="default",database="main",kind="spool_full",severity="critical"\} 1/);

    // Paused: the server writes on, nothing more is received, the slot holds the WAL.
    const flushedAtPause = full.last_flushed_lsn as string;
    for (let i = 0; i < 3; i++) await oneSegment();
    const paused = await status();
    expect(paused.status).toBe('spool_full');
    expect(paused.last_flushed_lsn).toBe(flushedAtPause);
    const [slot] = await pg.query<{ restart_lsn: string; behind: string }>(
      "SELECT restart_lsn::text AS restart_lsn, (pg_current_wal_lsn() - restart_lsn)::text AS behind FROM pg_replication_slots WHERE slot_name = 'pitrd_main'",
    );
    // Never confirmed past what is durable in the spool; the server keeps what we did not take.
    expect(parseLsn(slot!.restart_lsn)).toBeLessThanOrEqual(parseLsn(flushedAtPause));
    expect(Number(slot!.behind)).toBeGreaterThan(3 * SEG);

    // Storage back: the backlog goes up, streaming resumes and catches up.
    await s3.start();
    for (const e of fx.daemon.databases.listEntries()) e.receiver?.retryUploads();
    const last = await oneSegment();
    await waitFor(`archive to hold ${last}`, () => wal.hasSegment(1, last), 180_000);
    // The status reaches the API from the receiver's thread at its push interval: wait for it, not one read.
    await waitFor('receiver running again', async () => (await status())?.status === 'running', 60_000);
    await waitFor('alerts cleared', async () => !(await alerts()).some((a) => ['spool_full', 'upload_failing', 'storage_unavailable', 'receiver_down', 'archive_gap', 'wal_lost'].includes(a.kind)), 90_000);
    await waitFor(`pg_receivewal to hold ${last}`, () => ref.segments().includes(last), 60_000);
    const { names, compared } = await compareArchiveWithReference(wal, ref, 1);
    expect(names).toContain(last);
    expect(names).toContain(first);
    expect(compared).toBeGreaterThanOrEqual(12);
  }, 420_000);
});
