/**
 * What goes wrong, against real PostgreSQL and both storage drivers: an interrupted backup
 * leaves a failed/interrupted record and no data objects (and the next one succeeds); a second
 * request while one runs gets BACKUP_IN_PROGRESS; bad connection input fails with a clear code
 * and writes nothing; with PITR the backup completes only once its WAL is archived.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResultPromise } from 'execa';
import { createBackupService, runBackup } from '../../src/basebackup/index.js';
import { isPitrdError } from '../../src/errors.js';
import { openRepository, type BackupRecord } from '../../src/repository/index.js';
import { createObjectStore, type ObjectStore } from '../../src/storage/index.js';
import { freePort, makeTempDir, startPostgres, type PgCluster } from '../harness/index.js';
import { startS3, type S3Server } from '../harness/s3.js';

let source: PgCluster;
let s3: S3Server;
const dirs: string[] = [];

beforeAll(async () => {
  source = await startPostgres({ walSegmentSizeMB: 1 });
  await source.query(`CREATE TABLE t (id int PRIMARY KEY, v text)`);
  await source.query(`INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 20000) g`);
  await source.query(`CREATE ROLE norep LOGIN PASSWORD 'norep-pw'`);
  s3 = await startS3();
});

afterAll(async () => {
  await source?.destroy();
  await s3?.destroy();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function storeFor(driver: 'fs' | 's3'): ObjectStore {
  if (driver === 'fs') {
    const dir = makeTempDir('bbf-repo');
    dirs.push(dir);
    return createObjectStore({ type: 'fs', path: dir });
  }
  return createObjectStore({
    type: 's3', endpoint: s3.endpoint, region: s3.region, bucket: s3.bucket, accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey, forcePathStyle: true, prefix: `bbf-${randomBytes(4).toString('hex')}`,
  });
}

async function keys(store: ObjectStore): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.listAll('')) out.push(o.key);
  return out.sort();
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (isPitrdError(err)) return err.code;
    throw err;
  }
  throw new Error('expected a rejection');
}

describe.each(['fs', 's3'] as const)('%s storage', (driver) => {
  it('an interrupted backup leaves an interrupted record, no data objects; the next succeeds', async () => {
    const store = storeFor(driver);
    try {
      const repo = await openRepository(store, { compression: 'gzip' });
      const db = repo.database({ project: 'default', name: 'main' });
      const abort = new AbortController();
      const failed = runBackup({
        database: db, store, connection: { ...source.connection }, signal: abort.signal,
        // Midway: as soon as the server names its first archive, data objects are being written.
        onProgress: (p) => {
          if (p.currentArchive !== null) abort.abort();
        },
      });
      expect(await codeOf(failed)).toBe('BACKUP_FAILED');
      const [rec] = await db.backups.list();
      expect(rec!.status).toBe('interrupted');
      expect(rec!.error).toMatch(/interrupted/);
      expect(rec!.files).toEqual([]);
      const left = (await keys(store)).filter((k) => k.startsWith(`projects/default/databases/main/backups/${rec!.id}/`));
      expect(left).toEqual([`projects/default/databases/main/backups/${rec!.id}/backup.json`]);
      // No walsender is left behind on the server.
      for (let i = 0; i < 100; i++) {
        const [r] = await source.query<{ n: string }>(`SELECT count(*)::text AS n FROM pg_stat_replication`);
        if (r!.n === '0') break;
        await new Promise((res) => setTimeout(res, 50));
      }
      expect((await source.query<{ n: string }>(`SELECT count(*)::text AS n FROM pg_stat_replication`))[0]!.n).toBe('0');

      const ok = await runBackup({ database: db, store, connection: { ...source.connection } });
      expect(ok.status).toBe('completed');
      expect((await db.backups.list()).map((b) => b.status).sort()).toEqual(['completed', 'interrupted']);
    } finally {
      await store.close();
    }
  });

  it('a server-side failure midway (walsender terminated) leaves a failed record and no data objects', async () => {
    const store = storeFor(driver);
    try {
      const repo = await openRepository(store, { compression: 'none' });
      const db = repo.database({ project: 'default', name: 'main' });
      let killed: Promise<unknown> | null = null;
      // fastCheckpoint false with every page of t dirty: the spread checkpoint writes them at
      // its paced rate (checkpoint_timeout is minutes), so the backup is still waiting for it
      // when its walsender is terminated; pg_stat_progress_basebackup tells us it is there.
      await source.query(`UPDATE t SET v = v`);
      const failed = runBackup({
        database: db, store, connection: { ...source.connection }, fastCheckpoint: false,
        onProgress: (p) => {
          if (p.phase === 'starting' && killed === null) {
            killed = (async () => {
              for (let i = 0; i < 200; i++) {
                const rows = await source.query(
                  `SELECT pg_terminate_backend(a.pid) AS k FROM pg_stat_activity a JOIN pg_stat_progress_basebackup b ON b.pid = a.pid
                    WHERE a.application_name = $1 AND b.phase = 'waiting for checkpoint to finish'`,
                  [`pitrd ${p.backupId}`],
                );
                if (rows.length > 0) return;
                await new Promise((res) => setTimeout(res, 20));
              }
            })();
          }
        },
      });
      const code = await codeOf(failed);
      await killed;
      expect(['POSTGRES_UNREACHABLE', 'REPLICATION_ERROR', 'BACKUP_FAILED']).toContain(code);
      const [rec] = await db.backups.list();
      expect(rec!.status).toBe('failed');
      expect(rec!.error).toBeTruthy();
      expect((await keys(store)).filter((k) => k.includes('/backups/'))).toEqual([`projects/default/databases/main/backups/${rec!.id}/backup.json`]);
    } finally {
      await store.close();
    }
  });
});

describe('service', () => {
  it('refuses a second backup of the same database while one runs, naming the running one', async () => {
    const store = storeFor('fs');
    const repo = await openRepository(store, { compression: 'gzip' });
    const service = createBackupService({ repository: repo, databases: { main: { connection: { ...source.connection }, schedule: null } } });
    try {
      const first = service.start('main', { label: 'first' });
      let err: unknown;
      try {
        service.start('main', { label: 'second' });
      } catch (e) {
        err = e;
      }
      expect(isPitrdError(err, 'BACKUP_IN_PROGRESS')).toBe(true);
      expect((err as { context: Record<string, unknown> }).context.backup_id).toBe(first.id);
      expect(service.progress('main')?.backupId).toBe(first.id);
      const rec = await first.done;
      expect(rec.status).toBe('completed');
      expect(rec.label).toBe('first');
      expect(service.progress('main')).toBeNull();
      // Free again once it finished.
      const again = await service.run('main');
      expect(again.status).toBe('completed');
      expect((await repo.database({ project: 'default', name: 'main' }).backups.list()).length).toBe(2);
    } finally {
      await service.stop();
      await store.close();
    }
  });

  it('takes automated backups on the cron schedule', async () => {
    const store = storeFor('fs');
    const repo = await openRepository(store, { compression: 'gzip' });
    const errors: unknown[] = [];
    // node-cron's six-field form: every second.
    const service = createBackupService({
      repository: repo, databases: { main: { connection: { ...source.connection }, schedule: '* * * * * *', retentionDays: 7 } },
      onScheduledError: (_db, err) => errors.push(err),
    });
    try {
      service.startSchedules();
      let done: BackupRecord[] = [];
      for (let i = 0; i < 600 && !done.some((b) => b.status === 'completed'); i++) {
        await new Promise((res) => setTimeout(res, 100));
        done = await repo.database({ project: 'default', name: 'main' }).backups.list();
      }
      const rec = done.find((b) => b.status === 'completed');
      expect(rec?.type).toBe('automated');
      expect(Date.parse(rec!.expires_at!) - Date.parse(String((rec as Record<string, unknown>).completed_at))).toBe(7 * 86_400_000);
    } finally {
      await service.stop();
      await store.close();
    }
    // Ticks that came while a backup ran were refused by the lock, nothing else failed.
    for (const e of errors) expect(isPitrdError(e, 'BACKUP_IN_PROGRESS')).toBe(true);
  });

  it('rejects an invalid cron schedule naming the database', async () => {
    const store = storeFor('fs');
    const repo = await openRepository(store, { compression: 'gzip' });
    const service = createBackupService({ repository: repo, databases: { main: { connection: { ...source.connection }, schedule: 'every day' } } });
    try {
      expect(() => service.startSchedules()).toThrow(/database "main": backup schedule "every day" is not a valid cron expression/);
    } finally {
      await service.stop();
      await store.close();
    }
  });
});

describe('bad input writes nothing', () => {
  it.each([
    ['an unreachable server', 'POSTGRES_UNREACHABLE', async () => ({ ...source.connection, port: await freePort() })],
    ['a role without replication rights', 'REPLICATION_NOT_PERMITTED', async () => ({ ...source.connection, user: 'norep', password: 'norep-pw' })],
    ['an unknown database', 'POSTGRES_DATABASE_NOT_FOUND', async () => ({ ...source.connection, database: 'no_such_db' })],
    ['a wrong password', 'POSTGRES_AUTH_FAILED', async () => ({ ...source.connection, password: 'wrong' })],
  ])('%s → %s', async (_what, code, conn) => {
    const store = storeFor('fs');
    try {
      const repo = await openRepository(store, { compression: 'gzip' });
      const before = await keys(store);
      const p = runBackup({ database: repo.database({ project: 'default', name: 'main' }), store, connection: await conn() });
      expect(await codeOf(p)).toBe(code);
      expect(await keys(store)).toEqual(before);
      // The error never carries the password.
      await p.catch((err: Error) => expect(JSON.stringify({ m: err.message, c: (err as { context?: unknown }).context })).not.toMatch(/pitrd-test-pw|norep-pw/));
    } finally {
      await store.close();
    }
  });
});

describe('PITR mode: complete only once the WAL is archived', () => {
  it('waits for pg_receivewal to archive the WAL, carries no WAL itself', async () => {
    const walDir = makeTempDir('bbf-wal');
    dirs.push(walDir);
    const receivewal: ResultPromise = source.exec('pg_receivewal', ['-D', walDir, '-h', '127.0.0.1', '-p', String(source.port), '-U', 'postgres', '--no-sync', '--no-loop'], { reject: false });
    const store = storeFor('fs');
    try {
      const repo = await openRepository(store, { compression: 'gzip' });
      const asked: string[] = [];
      const rec = await runBackup({
        database: repo.database({ project: 'default', name: 'main' }), store, connection: { ...source.connection },
        pitr: {
          isWalArchived: async (timeline, name) => {
            asked.push(name);
            expect(timeline).toBe(1);
            return existsSync(join(walDir, name)); // complete segments only; the open one is .partial
          },
          timeoutMs: 60_000, pollMs: 100,
        },
      });
      expect(rec.status).toBe('completed');
      expect((rec as Record<string, unknown>).wal_included).toBe(false);
      expect(asked.length).toBeGreaterThan(0);
      const startSeg = asked[0]!;
      expect(existsSync(join(walDir, startSeg))).toBe(true);
    } finally {
      receivewal.kill('SIGTERM');
      await receivewal;
      await store.close();
    }
  });

  it('fails with WAL_NOT_ARCHIVED when the WAL never arrives, leaving a failed record only', async () => {
    const store = storeFor('fs');
    try {
      const repo = await openRepository(store, { compression: 'gzip' });
      const p = runBackup({
        database: repo.database({ project: 'default', name: 'main' }), store, connection: { ...source.connection },
        pitr: { isWalArchived: async () => false, timeoutMs: 300, pollMs: 100 },
      });
      expect(await codeOf(p)).toBe('WAL_NOT_ARCHIVED');
      const [rec] = await repo.database({ project: 'default', name: 'main' }).backups.list();
      expect(rec!.status).toBe('failed');
      expect(rec!.error).toMatch(/WAL_NOT_ARCHIVED: .*WAL segment 0000000100000000000000[0-9A-F]{2}/);
      expect((await keys(store)).filter((k) => k.includes('/backups/'))).toEqual([`projects/default/databases/main/backups/${rec!.id}/backup.json`]);
    } finally {
      await store.close();
    }
  });
});
