/**
 * PITR mode end to end with the real receiver: the backup carries no WAL and is committed only
 * once the receiver has archived its WAL into the same repository; base.tar plus those archived
 * segments, fetched from the repository, restore into a consistent cluster.
 */
import { chownSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { createBackupService, neededSegments } from '../../src/basebackup/index.js';
import { createReceiver, type Receiver } from '../../src/receiver/index.js';
import { openRepository } from '../../src/repository/index.js';
import { createObjectStore, type ObjectStore } from '../../src/storage/index.js';
import { parseLsn } from '../../src/wal/lsn.js';
import { asPostgres, makeTempDir, PG_BIN, postgresUser, startPostgres, type PgCluster } from '../harness/index.js';

let source: PgCluster;
let store: ObjectStore;
let receiver: Receiver | null = null;
const dirs: string[] = [];
const clusters: PgCluster[] = [];

beforeAll(async () => {
  source = await startPostgres({ walSegmentSizeMB: 1 });
  await source.query(`CREATE TABLE t (id int PRIMARY KEY, v text)`);
  await source.query(`INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 30000) g`);
  const repoDir = makeTempDir('bbp-repo');
  dirs.push(repoDir);
  store = createObjectStore({ type: 'fs', path: repoDir });
});

afterAll(async () => {
  await receiver?.stop().catch(() => undefined);
  for (const c of clusters) await c.destroy();
  await store?.close();
  await source?.destroy();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const hash = async (c: PgCluster) => (await c.query<{ h: string }>(`SELECT md5(string_agg(x::text, ',' ORDER BY id)) AS h FROM t x`))[0]!.h;

describe('PITR base backup with the receiver archiving WAL', () => {
  it('completes once its WAL is archived and restores from the repository alone', async () => {
    const repo = await openRepository(store, { compression: 'gzip' });
    const spool = makeTempDir('bbp-spool');
    dirs.push(spool);
    receiver = createReceiver({ database: 'main', connection: { ...source.connection }, repository: repo.database({ project: 'default', name: 'main' }), spoolDir: spool });
    await receiver.start();

    const service = createBackupService({ repository: repo, databases: { main: { connection: { ...source.connection }, schedule: null, pitr: true, walTimeoutMs: 90_000 } } });
    const rec = await service.run('main', { label: 'pitr' });
    await service.stop();
    expect(rec.status).toBe('completed');
    expect((rec as Record<string, unknown>).wal_included).toBe(false);

    // Every segment from start to stop is in the repository's WAL archive.
    const ranges = ((rec as Record<string, unknown>).wal_ranges as Array<{ timeline: number; start_lsn: string; end_lsn: string }>).map((r) => ({
      timeline: r.timeline, startLsn: parseLsn(r.start_lsn), endLsn: parseLsn(r.end_lsn),
    }));
    const segs = neededSegments(ranges, 1024 * 1024);
    expect(segs.length).toBeGreaterThan(0);
    const db = repo.database({ project: 'default', name: 'main' });
    for (const s of segs) expect(await db.wal.hasSegment(s.timeline, s.name)).toBe(true);

    // Restore: base.tar + manifest + the archived segments, all from the repository.
    const root = makeTempDir('bbp-restore');
    dirs.push(root);
    const dataDir = join(root, 'data');
    await execa('mkdir', ['-m', '700', dataDir], asPostgres());
    const body = await db.backups.getData(rec.id, 'base.tar.gz');
    const tar = execa('tar', ['-xf', '-', '-C', dataDir], asPostgres({ stdin: 'pipe' }));
    body.pipe(tar.stdin!);
    await tar;
    const u = postgresUser();
    const own = (p: string) => u && chownSync(p, u.uid, u.gid);
    const chunks: Buffer[] = [];
    for await (const c of await db.backups.getData(rec.id, 'backup_manifest.gz')) chunks.push(c as Buffer);
    writeFileSync(join(dataDir, 'backup_manifest'), Buffer.concat(chunks));
    own(join(dataDir, 'backup_manifest'));
    for (const s of segs) {
      const p = join(dataDir, 'pg_wal', s.name);
      writeFileSync(p, await db.wal.getSegment(s.timeline, s.name));
      own(p);
    }
    const verify = await execa(join(PG_BIN, 'pg_verifybackup'), [dataDir], asPostgres({ reject: false }));
    expect(verify.stderr).toBe('');
    expect(verify.exitCode).toBe(0);

    const restored = await startPostgres({ dataDir });
    clusters.push(restored);
    for (let i = 0; i < 200; i++) {
      if (!(await restored.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r'))[0]!.r) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    expect(await hash(restored)).toBe(await hash(source));
  });
});
