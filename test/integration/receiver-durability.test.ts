/**
 * The durability contract seen from the server: the flush position the receiver reports (what
 * pg_stat_replication shows and what advances the slot) is always covered by WAL in the spool or
 * the repository, and a walsender asking for a reply gets one at once, so a short
 * wal_sender_timeout never cuts a healthy receiver off.
 */
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReceiver } from '../../src/receiver/index.js';
import { parseLsn } from '../../src/wal/lsn.js';
import { segmentName } from '../../src/wal/segment.js';
import { makeTempDir, startPostgres, type PgCluster } from '../harness/index.js';
import { openReceiverRepo, switchWal, waitFor } from '../harness/receiver.js';

const SEG = 1024 * 1024;
let cluster: PgCluster;
const dirs: string[] = [];
const cleanups: Array<() => Promise<unknown>> = [];

function tempDir(tag: string): string {
  const d = makeTempDir(tag);
  dirs.push(d);
  return d;
}

beforeAll(async () => {
  // A walsender that asks for a reply after 1 s of silence and gives up after 2 s.
  cluster = await startPostgres({ walSegmentSizeMB: 1, settings: { wal_sender_timeout: "'2s'" } });
  await cluster.exec('pgbench', ['-h', '127.0.0.1', '-p', String(cluster.port), '-U', 'postgres', '-i', '-s', '1', '-q', 'postgres']);
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await cluster?.destroy();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const size = (path: string) => {
  try {
    return statSync(path).size;
  } catch {
    return -1;
  }
};

describe('receiver durability contract', () => {
  it('never reports a flush position beyond the WAL in its spool or the repository', async () => {
    const repo = await openReceiverRepo({ kind: 'fs', dir: tempDir('repo') }, 'contract', 'none');
    cleanups.push(() => repo.close());
    const spoolDir = tempDir('spool');
    const receiver = createReceiver({ database: 'contract', connection: cluster.connection, repository: repo.repository, spoolDir, statusIntervalMs: 1000, fsyncIntervalMs: 20 });
    cleanups.push(() => receiver.stop());
    await receiver.start();
    await waitFor('receiver running', () => receiver.status().status === 'running');
    const load = cluster.exec('pgbench', ['-h', '127.0.0.1', '-p', String(cluster.port), '-U', 'postgres', '-T', '6', '-c', '4', 'postgres']);
    let checked = 0;
    let passedSegments = 0;
    let loadDone = false;
    let firstSegno: bigint | null = null;
    void load.finally(() => {
      loadDone = true;
    });
    while (!loadDone || checked < 20) {
      const [row] = await cluster.query<{ flush: string | null }>("SELECT flush_lsn::text AS flush FROM pg_stat_replication WHERE application_name = 'pitrd'");
      await new Promise((r) => setTimeout(r, 20));
      if (!row?.flush) continue;
      const flush = parseLsn(row.flush);
      const segno = flush / BigInt(SEG);
      firstSegno ??= segno;
      const offset = Number(flush % BigInt(SEG));
      // A segment only moves forward: .partial → complete in the spool → archived. Look in that order.
      const name = segmentName(1, segno, SEG);
      const covered = offset === 0 || size(join(spoolDir, `${name}.partial`)) >= offset || size(join(spoolDir, name)) === SEG || (await repo.wal.hasSegment(1, name));
      expect(covered, `flush position ${row.flush} reported, but ${name} does not hold ${offset} bytes in the spool or the repository`).toBe(true);
      // Every streamed segment before the one holding the flush position is complete somewhere.
      if (segno > firstSegno) {
        const prev = segmentName(1, segno - 1n, SEG);
        expect(size(join(spoolDir, prev)) === SEG || (await repo.wal.hasSegment(1, prev)), `segment ${prev} before flush position ${row.flush} is not complete`).toBe(true);
      }
      passedSegments = Number(segno - firstSegno);
      checked++;
      if (loadDone && checked >= 20) break;
    }
    await load;
    expect(checked).toBeGreaterThanOrEqual(20);
    expect(passedSegments).toBeGreaterThan(2);
    await receiver.stop();
  });

  it('answers reply-requested keepalives at once: an idle stream outlives a short wal_sender_timeout', async () => {
    const repo = await openReceiverRepo({ kind: 'fs', dir: tempDir('repo') }, 'keepalive', 'none');
    cleanups.push(() => repo.close());
    // Its own status updates come only every 10 minutes: only the answers to the server's
    // keepalive requests keep the connection alive.
    const receiver = createReceiver({ database: 'keepalive', connection: { ...cluster.connection, applicationName: 'pitrd_keepalive' }, repository: repo.repository, spoolDir: tempDir('spool'), statusIntervalMs: 600_000 });
    cleanups.push(() => receiver.stop());
    await receiver.start();
    await waitFor('receiver running', () => receiver.status().status === 'running');
    await switchWal(cluster);
    const pidOf = async () => (await cluster.query<{ pid: number }>("SELECT pid FROM pg_stat_replication WHERE application_name = 'pitrd_keepalive'"))[0]?.pid;
    const walsender = await waitFor('walsender of pitrd_keepalive', pidOf);
    // Several wal_sender_timeouts of silence.
    await new Promise((r) => setTimeout(r, 7000));
    expect(await pidOf()).toBe(walsender);
    const st = receiver.status();
    expect(st.attempts).toBe(1);
    expect(st.errors).toBe(0);
    expect(st.status).toBe('running');
    await receiver.stop();
  });
});
