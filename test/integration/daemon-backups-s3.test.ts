/**
 * Backup download on an S3 repository: the download URL is an S3 presigned GET of the stored
 * base.tar object, fetched over real HTTP from a real S3-protocol server (s3rver).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanUp, startPostgres, type PgCluster } from '../harness/index.js';
import { s3StorageConfig, startS3, type S3Server } from '../harness/s3.js';
import { startDaemonFixture, waitFor, type DaemonFixture } from './daemon-fixture.js';

const PASSWORD = 'S3-backups-Secret-pw';
let pg: PgCluster;
let s3: S3Server;
let fx: DaemonFixture;

beforeAll(async () => {
  pg = await startPostgres({ walSegmentSizeMB: 1, password: PASSWORD });
  s3 = await startS3();
  fx = await startDaemonFixture(
    {
      storage: s3StorageConfig(s3),
    },
    { schedules: false },
  );
}, 120_000);

afterAll(() => cleanUp(() => fx?.close(), () => s3?.destroy(), () => pg?.destroy()), 60_000);

describe('backup download on S3', () => {
  it('presigns the stored base.tar object; fetching it returns the stored bytes', async () => {
    const projectId: string = (await fx.call('POST', '/projects', { name: 's3bk' })).json.data.id;
    const base = `/projects/${projectId}/databases/main`;
    const reg = await fx.call('POST', `/projects/${projectId}/databases`, { name: 'main', host: '127.0.0.1', port: pg.port, user: 'postgres', password: PASSWORD, dbname: 'postgres', sslmode: 'disable' });
    expect(reg.status).toBe(201);
    await pg.query("CREATE TABLE s3t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 20000) g");
    const created = await fx.call('POST', `${base}/backups`, {}, { 'idempotency-key': 's3-backup-1' });
    expect(created.status).toBe(202);
    const id: string = created.json.data.id;
    const replay = await fx.call('POST', `${base}/backups`, {}, { 'idempotency-key': 's3-backup-1' });
    expect(replay.json.data.id).toBe(id);
    await waitFor(`backup ${id} completed`, async () => (await fx.call('GET', `${base}/backups/${id}`)).json.data.status === 'completed', 120_000, 50);

    const d = await fx.call('GET', `${base}/backups/${id}/download`);
    expect(d.status).toBe(200);
    expect(d.json.data.download_url).toContain('X-Amz-Signature=');
    expect(d.json.data.download_url).toContain(s3.bucket);
    const res = await fetch(d.json.data.download_url);
    expect(res.status).toBe(200);
    const got = Buffer.from(await res.arrayBuffer());
    const key = fx.daemon.repo.database({ project: projectId, name: 'main' }).backups.dataKey(id, 'base.tar.gz');
    const stored = await fx.daemon.repo.store.getBuffer(key);
    expect(got.length).toBe(stored.length);
    expect(got.equals(stored)).toBe(true);
  }, 180_000);
});
