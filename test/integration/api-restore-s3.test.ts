/**
 * A point-in-time restore through HTTP only on an S3 repository (a real s3rver process): the
 * daemon archives WAL and a base backup into the bucket, then restores, from the bucket alone, to
 * a time between two marker rows, left running; the restored server holds exactly the rows
 * committed before the target.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanUp, startPostgres, type PgCluster } from '../harness/index.js';
import { s3StorageConfig, startS3, type S3Server } from '../harness/s3.js';
import { startDaemonFixture, waitFor, type DaemonFixture } from './daemon-fixture.js';

const PASSWORD = 'S3-restore-Secret-pw';
let source: PgCluster;
let s3: S3Server;
let fx: DaemonFixture;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  source = await startPostgres({ walSegmentSizeMB: 1, password: PASSWORD });
  await source.query('CREATE TABLE marker (id serial PRIMARY KEY, committed_at timestamptz NOT NULL DEFAULT clock_timestamp())');
  s3 = await startS3();
  fx = await startDaemonFixture(
    { storage: s3StorageConfig(s3) },
    { schedules: false, summaryIntervalMs: 500 },
  );
}, 120_000);

afterAll(() => cleanUp(() => fx?.close(), () => s3?.destroy(), () => source?.destroy()), 120_000);

describe('restore over HTTP from an S3 repository', () => {
  it('restores to a time between rows 1 and 2, left running: exactly row 1', async () => {
    const projectId: string = (await fx.call('POST', '/projects', { name: 's3rst' })).json.data.id;
    const base = `/projects/${projectId}/databases/main`;
    expect((await fx.call('POST', `/projects/${projectId}/databases`, { name: 'main', host: '127.0.0.1', port: source.port, user: 'postgres', password: PASSWORD, dbname: 'postgres', sslmode: 'disable' })).status).toBe(201);
    expect((await fx.call('POST', `${base}/pitr/enable`)).status).toBe(200);
    await waitFor('receiver running', async () => (await fx.call('GET', `${base}/pitr/receiver-status`)).json.data?.status === 'running');
    const b = await fx.call('POST', `${base}/backups`);
    await waitFor('backup completed', async () => (await fx.call('GET', `${base}/backups/${b.json.data.id}`)).json.data.status === 'completed', 120_000, 200);

    const rows: Date[] = [];
    for (let i = 0; i < 2; i++) {
      await sleep(300);
      rows.push((await source.query<{ committed_at: Date }>('INSERT INTO marker DEFAULT VALUES RETURNING committed_at'))[0]!.committed_at);
      await source.query('SELECT pg_switch_wal()');
    }
    await source.query('CREATE TABLE tail (id int)');
    await source.query('SELECT pg_switch_wal()');
    await waitFor('a recovery window past row 2', async () => {
      const d = (await fx.call('GET', `${base}/pitr/recovery-window`)).json.data;
      return d.status === 'ok' && Date.parse(d.to) >= rows[1]!.getTime();
    }, 120_000, 250);

    const target = new Date((rows[0]!.getTime() + rows[1]!.getTime()) / 2).toISOString();
    const r = await fx.call('POST', `${base}/pitr/restore`, { target_time: target, mode: 'running', target_dir: 'from-s3' });
    expect(r.status).toBe(202);
    expect(r.json.data.target_dir).toBe(`${fx.daemon.restores.root}/projects/${projectId}/from-s3`);
    const done = await waitFor('restore finished', async () => {
      const d = (await fx.call('GET', `${base}/pitr/restores/${r.json.data.restore_id}`)).json.data;
      return d.status === 'running' ? null : d;
    }, 180_000, 200);
    expect(done).toMatchObject({ status: 'completed', error: null, mode: 'running' });
    const u = new URL(done.connection_uri);
    const c = new pg.Client({ host: u.hostname, port: Number(u.port), user: 'postgres', database: 'postgres', password: PASSWORD });
    await c.connect();
    try {
      expect((await c.query<{ id: number }>('SELECT id FROM marker ORDER BY id')).rows.map((x) => x.id)).toEqual([1]);
    } finally {
      await c.end();
    }
  }, 240_000);
});
