/**
 * The receiver archiving into a real S3-protocol server: byte-identical to pg_receivewal, and an
 * S3 outage during the load loses nothing — the spool buffers, status shows the backlog, and it
 * drains once the server is back.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReceiver } from '../../src/receiver/index.js';
import { parseLsn } from '../../src/wal/lsn.js';
import { makeTempDir, startPostgres, type PgCluster } from '../harness/index.js';
import { compareArchiveWithReference, openReceiverRepo, startPgReceivewal, switchWal, waitFor, type PgReceivewal } from '../harness/receiver.js';
import { startS3, type S3Server } from '../harness/s3.js';

let cluster: PgCluster;
let ref: PgReceivewal;
let s3: S3Server;
const dirs: string[] = [];

function pgbench(args: string[]) {
  return cluster.exec('pgbench', ['-h', '127.0.0.1', '-p', String(cluster.port), '-U', 'postgres', ...args, 'postgres']);
}

beforeAll(async () => {
  [cluster, s3] = await Promise.all([startPostgres({ walSegmentSizeMB: 1 }), startS3()]);
  ref = await startPgReceivewal(cluster, 'reference');
  await pgbench(['-i', '-s', '1', '-q']);
});

afterAll(async () => {
  await ref?.stop().catch(() => undefined);
  await cluster?.destroy();
  await s3?.destroy();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('receiver with S3 storage', () => {
  it('buffers in the spool while S3 is down and drains when it is back, byte-identical to pg_receivewal', async () => {
    const repo = await openReceiverRepo({ kind: 's3', endpoint: s3.endpoint, bucket: s3.bucket, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, region: s3.region, prefix: 'pitrd' }, 'outage');
    const spool = makeTempDir('spool');
    dirs.push(spool);
    const receiver = createReceiver({
      database: 'outage',
      connection: cluster.connection,
      repository: repo.repository,
      spoolDir: spool,
      uploadBackoff: { initialMs: 200, maxMs: 1000 },
    });
    try {
      await receiver.start();
      await waitFor('receiver running', () => receiver.status().status === 'running');
      await pgbench(['-T', '2', '-c', '2']);
      await waitFor('first segments archived', () => receiver.status().segments_archived >= 2, 60_000);

      await s3.stop();
      const archivedBefore = receiver.status().segments_archived;
      await pgbench(['-T', '3', '-c', '2']);
      // A fixed volume on top of the timed load: at least 4 segments' worth, however busy the machine.
      await cluster.query('CREATE TABLE outage_fill AS SELECT g, md5(g::text) AS h FROM generate_series(1, 60000) g');
      const { segment: last, lsn: switchLsn } = await switchWal(cluster);
      const during = await waitFor(
        'a backlog in the spool while S3 is down',
        () => {
          const st = receiver.status();
          return st.upload_backlog.segments >= 3 && st.last_wal_file !== null && st.last_wal_file >= last && st.upload_error !== null ? st : null;
        },
        60_000,
      );
      // Streaming went on: everything received is flushed to the spool and confirmed to the server.
      expect(during.status).toBe('running');
      expect(parseLsn(during.last_flushed_lsn!)).toBeGreaterThanOrEqual(parseLsn(switchLsn));
      expect(during.upload_backlog.bytes).toBeGreaterThanOrEqual(3 * 1024 * 1024);
      expect(during.segments_archived).toBeLessThanOrEqual(archivedBefore + 1);
      expect(during.upload_error?.code).toMatch(/STORAGE_UNAVAILABLE|STORAGE_ERROR/);

      await s3.start();
      receiver.retryUploads();
      const after = await waitFor('backlog drained', () => (receiver.status().upload_backlog.segments === 0 ? receiver.status() : null), 90_000);
      expect(after.upload_error).toBeNull();
      expect(await repo.wal.hasSegment(1, last)).toBe(true);
      await waitFor(`pg_receivewal to hold ${last}`, () => ref.segments().includes(last), 60_000);
      const { names, compared } = await compareArchiveWithReference(repo.wal, ref, 1);
      expect(names).toContain(last);
      expect(compared).toBeGreaterThanOrEqual(5);
    } finally {
      await receiver.stop();
      await repo.close();
    }
  });
});
