/**
 * The receiver against a real PostgreSQL 15 under pgbench load, archiving into a local (fs)
 * repository, checked byte for byte against pg_receivewal running on the same server.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReceiver, type Receiver } from '../../src/receiver/index.js';
import { formatLsn, parseLsn } from '../../src/wal/lsn.js';
import { parseSegmentName } from '../../src/wal/segment.js';
import { makeTempDir, startPostgres, type PgCluster } from '../harness/index.js';
import {
  compareArchiveWithReference,
  openReceiverRepo,
  spawnReceiverChild,
  startPgReceivewal,
  switchWal,
  waitFor,
  waitWhileProgressing,
  childProgress,
  type PgReceivewal,
  type ReceiverChild,
} from '../harness/receiver.js';

let cluster: PgCluster;
let ref: PgReceivewal;
const dirs: string[] = [];
const cleanups: Array<() => Promise<unknown>> = [];

function tempDir(tag: string): string {
  const d = makeTempDir(tag);
  dirs.push(d);
  return d;
}

function pgbench(args: string[]) {
  return cluster.exec('pgbench', ['-h', '127.0.0.1', '-p', String(cluster.port), '-U', 'postgres', ...args, 'postgres']);
}

beforeAll(async () => {
  cluster = await startPostgres({ walSegmentSizeMB: 1 });
  ref = await startPgReceivewal(cluster, 'reference');
  await pgbench(['-i', '-s', '1', '-q']);
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await ref?.stop().catch(() => undefined);
  await cluster?.destroy();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Force the current segment complete; wait until both the archive and pg_receivewal have it. */
async function settle(wal: { hasSegment(t: number, n: string): Promise<boolean> }): Promise<string> {
  const { segment } = await switchWal(cluster);
  await waitFor(`archive to hold ${segment}`, () => wal.hasSegment(1, segment), 90_000);
  await waitFor(`pg_receivewal to hold ${segment}`, () => ref.segments().includes(segment), 90_000);
  return segment;
}

describe('receiver streaming (fs repository)', () => {
  it('archives segments byte-identical to pg_receivewal under pgbench load', async () => {
    const repo = await openReceiverRepo({ kind: 'fs', dir: tempDir('repo') }, 'golden');
    cleanups.push(() => repo.close());
    const receiver = createReceiver({ database: 'golden', connection: cluster.connection, repository: repo.repository, spoolDir: tempDir('spool'), statusIntervalMs: 1000 });
    cleanups.push(() => receiver.stop());
    await receiver.start();
    await waitFor('receiver running', () => receiver.status().status === 'running');
    await pgbench(['-T', '4', '-c', '2']);
    const last = await settle(repo.wal);
    const { names, compared } = await compareArchiveWithReference(repo.wal, ref, 1);
    expect(names).toContain(last);
    expect(compared).toBeGreaterThanOrEqual(3);

    const st = receiver.status();
    expect(st.status).toBe('running');
    expect(st.system_identifier).toBe(await cluster.systemIdentifier());
    expect(st.wal_segment_size).toBe(1024 * 1024);
    expect(st.segments_archived).toBeGreaterThanOrEqual(names.length);
    expect(st.bytes_received).toBeGreaterThan(3 * 1024 * 1024);
    expect(st.timeline).toBe(1);
    const slot = await receiver.slotState();
    expect(slot).toMatchObject({ slot_name: 'pitrd_golden', active: true, wal_status: 'reserved' });
    const info = await repo.repository.info();
    expect(info).toMatchObject({ system_identifier: await cluster.systemIdentifier(), wal_segment_size: 1024 * 1024, pg_version: 15 });

    // A clean restart on request: a new session, no error counted.
    await receiver.restart();
    await waitFor('second session running', () => receiver.status().attempts === 2 && receiver.status().status === 'running');
    expect(receiver.status().errors).toBe(0);

    const final = await receiver.stop();
    expect(final.status).toBe('stopped');
    // stop() flushed and told the server: the slot advanced past everything settled, never past what is durable.
    const [row] = await cluster.query<{ restart_lsn: string }>("SELECT restart_lsn::text AS restart_lsn FROM pg_replication_slots WHERE slot_name = 'pitrd_golden'");
    const restart = parseLsn(row!.restart_lsn);
    expect(restart).toBeGreaterThanOrEqual((parseSegmentName(last, 1024 * 1024).segno + 1n) * 1024n * 1024n);
    expect(restart).toBeLessThanOrEqual(parseLsn(final.last_flushed_lsn!));
  });

  // Its own timeout: three kills and restarts of a tsx child under load. Every wait inside is
  // bounded by progress (waitWhileProgressing), not by a fixed time, so a busy machine slows it
  // down without failing it; a stuck receiver fails after a minute without progress.
  it('loses nothing when the receiver process is SIGKILLed repeatedly during the load', async () => {
    const repoDir = tempDir('repo');
    // Uncompressed on fs: segments go in by hard link from the spool, with the writer's sha256;
    // a kill may fall between link, marker and spool removal (the golden test above covers gzip).
    const repo = await openReceiverRepo({ kind: 'fs', dir: repoDir }, 'killed', 'none');
    cleanups.push(() => repo.close());
    const cfg = { database: 'killed', connection: cluster.connection, spoolDir: tempDir('spool'), repo: { kind: 'fs' as const, dir: repoDir }, compression: 'none' as const };
    let child: ReceiverChild = spawnReceiverChild(cfg);
    cleanups.push(() => child.kill());
    const running = (what: string) => waitWhileProgressing(what, () => child.status()?.status === 'running', () => childProgress(child), { stallMs: 90_000 });
    const receiving = (what: string, before: number) => waitWhileProgressing(what, () => (child.status()?.bytes_received ?? 0) > before + 512 * 1024, () => childProgress(child));
    await running('child receiver running');
    // Load until the kills are done (a fixed -T could end first on a busy machine).
    const load = cluster.exec('pgbench', ['-h', '127.0.0.1', '-p', String(cluster.port), '-U', 'postgres', '-T', '900', '-c', '2', 'postgres'], { reject: false });
    cleanups.push(async () => load.kill('SIGKILL'));
    let kills = 0;
    for (let i = 0; i < 3; i++) {
      // Kill while WAL is flowing and segments are being written.
      await receiving('child receiving WAL', child.status()?.bytes_received ?? 0);
      await child.kill();
      if (process.env.PITRD_TEST_DEBUG) console.log(child.stderr());
      kills++;
      child = spawnReceiverChild(cfg);
      await running('restarted child running');
    }
    // Let the last child stream under load for a moment, then end the load.
    await receiving('last child receiving WAL', child.status()?.bytes_received ?? 0);
    load.kill('SIGINT');
    await load;
    const { segment: last } = await switchWal(cluster);
    await waitWhileProgressing(`archive to hold ${last}`, () => repo.wal.hasSegment(1, last), () => childProgress(child));
    await waitWhileProgressing(`pg_receivewal to hold ${last}`, () => ref.segments().includes(last), () => ref.segments().length);
    const final = await child.stop();
    expect(kills).toBe(3);
    // (A restarted child may meet a transient "slot is active" while the killed one's walsender exits.)
    expect(final?.status).toBe('stopped');
    const { names, compared } = await compareArchiveWithReference(repo.wal, ref, 1);
    expect(names).toContain(last);
    expect(compared).toBeGreaterThanOrEqual(8);
  }, 600_000);

  it('reconnects after a PostgreSQL restart without a gap', async () => {
    const repo = await openReceiverRepo({ kind: 'fs', dir: tempDir('repo') }, 'restarted');
    cleanups.push(() => repo.close());
    const receiver: Receiver = createReceiver({
      database: 'restarted',
      connection: cluster.connection,
      repository: repo.repository,
      spoolDir: tempDir('spool'),
      reconnectBackoff: { initialMs: 200, maxMs: 1000 },
    });
    cleanups.push(() => receiver.stop());
    await receiver.start();
    await waitFor('receiver running', () => receiver.status().status === 'running');
    await pgbench(['-T', '2', '-c', '2']);
    await cluster.restart();
    await waitFor('receiver reconnected', () => receiver.status().status === 'running' && receiver.status().attempts >= 2, 60_000);
    await pgbench(['-T', '2', '-c', '2']);
    const last = await settle(repo.wal);
    const st = receiver.status();
    expect(st.errors).toBeGreaterThanOrEqual(1);
    expect(st.last_error?.code).toMatch(/POSTGRES_UNREACHABLE|REPLICATION_ERROR/);
    const { names, compared } = await compareArchiveWithReference(repo.wal, ref, 1);
    expect(names).toContain(last);
    expect(compared).toBeGreaterThanOrEqual(3);
  });

  it('acts as a synchronous standby: commits wait for its flush and complete', async () => {
    const repo = await openReceiverRepo({ kind: 'fs', dir: tempDir('repo') }, 'sync');
    cleanups.push(() => repo.close());
    const receiver = createReceiver({ database: 'sync', connection: cluster.connection, repository: repo.repository, spoolDir: tempDir('spool'), synchronous: true });
    try {
      await receiver.start();
      await waitFor('receiver running', () => receiver.status().status === 'running');
      await cluster.query(`ALTER SYSTEM SET synchronous_standby_names = '"pitrd_sync"'`);
      await cluster.query('SELECT pg_reload_conf()');
      await waitFor(
        'pitrd_sync to be the synchronous standby',
        async () => (await cluster.query<{ sync_state: string }>("SELECT sync_state FROM pg_stat_replication WHERE application_name = 'pitrd_sync'"))[0]?.sync_state === 'sync',
        30_000,
      );
      await cluster.query('CREATE TABLE IF NOT EXISTS sync_probe (v int)');
      const [lsnRow] = await cluster.query<{ lsn: string }>('INSERT INTO sync_probe VALUES (1) RETURNING pg_current_wal_lsn()::text AS lsn');
      // The commit returned, so a synchronous standby flushed it: ours, the only one named.
      const [flush] = await cluster.query<{ ok: boolean }>("SELECT flush_lsn >= $1::pg_lsn AS ok FROM pg_stat_replication WHERE application_name = 'pitrd_sync'", [lsnRow!.lsn]);
      expect(flush!.ok).toBe(true);
    } finally {
      // Reset before the receiver goes, or every later commit would wait for it.
      await cluster.query('ALTER SYSTEM RESET synchronous_standby_names');
      await cluster.query('SELECT pg_reload_conf()');
      await receiver.stop();
    }
  });

  it('reports a gap when its slot was lost and keeps streaming from where the server can serve', async () => {
    const repo = await openReceiverRepo({ kind: 'fs', dir: tempDir('repo') }, 'gap');
    cleanups.push(() => repo.close());
    const spoolDir = tempDir('spool');
    const make = () => createReceiver({ database: 'gap', connection: cluster.connection, repository: repo.repository, spoolDir });
    const first = make();
    await first.start();
    await waitFor('receiver running', () => first.status().status === 'running');
    const archivedEnd = await settle(repo.wal);
    await first.stop();
    // Someone dropped the slot; WAL moved on without us.
    await cluster.query("SELECT pg_drop_replication_slot('pitrd_gap')");
    await pgbench(['-T', '2', '-c', '2']);
    await cluster.query('CHECKPOINT');
    const second = make();
    cleanups.push(() => second.stop());
    await second.start();
    const st = await waitFor('gap in status', () => (second.status().status === 'running' && second.status().gap ? second.status() : null));
    expect(st.gap!.from).toBe(formatLsn((parseSegmentName(archivedEnd, 1024 * 1024).segno + 1n) * 1024n * 1024n));
    expect(parseLsn(st.gap!.to)).toBeGreaterThan(parseLsn(st.gap!.from));
    const after = await settle(repo.wal);
    expect(after > archivedEnd).toBe(true);
    expect(second.status().attempts).toBe(1);
  });
});
