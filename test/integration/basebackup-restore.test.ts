/**
 * End to end, for both storage drivers: back up a real PostgreSQL 15 cluster that has a
 * tablespace, fetch and decode the objects from the repository, extract them into a new data
 * directory (tablespace in its own directory), check them with pg_verifybackup, start
 * PostgreSQL on them and compare table contents with the source.
 */
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync, chownSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { runBackup } from '../../src/basebackup/index.js';
import { openRepository, type Repository } from '../../src/repository/index.js';
import { createObjectStore, type ObjectStore } from '../../src/storage/index.js';
import { asPostgres, makeTempDir, PG_BIN, postgresUser, startPostgres, type PgCluster } from '../harness/index.js';
import { startS3, type S3Server } from '../harness/s3.js';

const TABLE_MD5 = (t: string) => `SELECT md5(coalesce(string_agg(x::text, ',' ORDER BY id), '')) AS h FROM ${t} x`;

let source: PgCluster;
let tsDir: string;
let s3: S3Server;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  source = await startPostgres({ walSegmentSizeMB: 1 });
  tsDir = makeTempDir('bb-ts');
  await source.query(`CREATE TABLESPACE extra LOCATION '${tsDir}'`);
  await source.query(`CREATE TABLE in_default (id int PRIMARY KEY, v text)`);
  await source.query(`INSERT INTO in_default SELECT g, md5(g::text) FROM generate_series(1, 20000) g`);
  await source.query(`CREATE TABLE in_extra (id int PRIMARY KEY, v text) TABLESPACE extra`);
  await source.query(`INSERT INTO in_extra SELECT g, repeat(md5(g::text), 3) FROM generate_series(1, 15000) g`);
  s3 = await startS3();
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await source?.destroy();
  await s3?.destroy();
  if (tsDir) rmSync(tsDir, { recursive: true, force: true });
});

async function tableHashes(c: PgCluster): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const t of ['in_default', 'in_extra']) out[t] = String((await c.query<{ h: string }>(TABLE_MD5(t)))[0]!.h);
  return out;
}

function storeFor(driver: 'fs' | 's3'): ObjectStore {
  if (driver === 'fs') {
    const dir = makeTempDir('bb-repo');
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    return createObjectStore({ type: 'fs', path: dir });
  }
  return createObjectStore({
    type: 's3', endpoint: s3.endpoint, region: s3.region, bucket: s3.bucket, accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey, forcePathStyle: true, prefix: `bb-${randomBytes(4).toString('hex')}`,
  });
}

/** Stream a decoded repository object into `tar -x` run as the postgres OS user. */
async function extract(repo: Repository, id: string, name: string, dir: string): Promise<void> {
  const body = await repo.database({ project: 'default', name: 'main' }).backups.getData(id, name);
  const tar = execa('tar', ['-xf', '-', '-C', dir], asPostgres({ stdin: 'pipe' }));
  body.pipe(tar.stdin!);
  await tar;
}

describe.each(['fs', 's3'] as const)('base backup with a tablespace, %s storage', (driver) => {
  it('restores: pg_verifybackup accepts it, postgres starts, tables match', async () => {
    const store = storeFor(driver);
    cleanups.push(() => store.close());
    // s3: encrypted + gzip; fs: gzip only (both go through the CodecStore transforms).
    const repo = await openRepository(store, driver === 's3' ? { compression: 'gzip', key: randomBytes(32) } : { compression: 'gzip' });
    const phases = new Set<string>();
    let maxDone = 0;
    let estimate: number | null = null;
    const rec = await runBackup({
      database: repo.database({ project: 'default', name: 'main' }), store, connection: { ...source.connection }, label: `e2e ${driver}`,
      onProgress: (p) => {
        phases.add(p.phase);
        maxDone = Math.max(maxDone, p.bytesDone);
        if (p.phase === 'streaming') estimate = p.bytesTotalEstimate;
      },
    });
    expect(rec.status).toBe('completed');
    expect(rec.system_identifier).toBe(await source.systemIdentifier());
    expect(rec.pg_version).toBe(15);
    expect(rec.timeline).toBe(1);
    expect(rec.start_lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(Date.parse(rec.stop_time!)).toBeGreaterThanOrEqual(Date.parse(rec.start_time!));
    expect(rec.label).toBe(`e2e ${driver}`);
    const tsOid = Number((await source.query<{ oid: number }>(`SELECT oid FROM pg_tablespace WHERE spcname = 'extra'`))[0]!.oid);
    expect(rec.files.map((f) => f.name).sort()).toEqual(['backup_manifest.gz', 'base.tar.gz', `${tsOid}.tar.gz`].sort());
    expect((rec as Record<string, unknown>).tablespaces).toEqual([{ oid: tsOid, location: tsDir, object: `${tsOid}.tar.gz`, size_kb: expect.any(Number) }]);
    for (const f of rec.files) expect(f.stored_size).toBeLessThan(f.size); // compressed
    expect(rec.original_size).toBe(rec.files.reduce((s, f) => s + f.size, 0));
    expect(phases).toContain('streaming');
    expect(maxDone).toBeGreaterThan(0);
    // While streaming, the estimate is the sum of the databases' sizes: same order as what was sent.
    expect(estimate).toBeGreaterThan(maxDone / 4);
    expect(estimate).toBeLessThan(maxDone * 4);
    // The committed record is what the repository returns.
    expect((await repo.database({ project: 'default', name: 'main' }).backups.get(rec.id))?.status).toBe('completed');

    // Restore by hand from the repository alone.
    const restoreRoot = makeTempDir('bb-restore');
    cleanups.push(() => rmSync(restoreRoot, { recursive: true, force: true }));
    const dataDir = join(restoreRoot, 'data');
    const newTs = join(restoreRoot, 'ts');
    await execa('mkdir', ['-m', '700', dataDir, newTs], asPostgres());
    await extract(repo, rec.id, 'base.tar.gz', dataDir);
    await extract(repo, rec.id, `${tsOid}.tar.gz`, newTs);
    await execa('ln', ['-sfn', newTs, join(dataDir, 'pg_tblspc', String(tsOid))], asPostgres());
    const manifest = await repo.database({ project: 'default', name: 'main' }).backups.getData(rec.id, 'backup_manifest.gz', { sha256: rec.files.find((f) => f.name === 'backup_manifest.gz')!.sha256 });
    const chunks: Buffer[] = [];
    for await (const c of manifest) chunks.push(c as Buffer);
    const manifestPath = join(dataDir, 'backup_manifest');
    writeFileSync(manifestPath, Buffer.concat(chunks));
    const u = postgresUser();
    if (u) chownSync(manifestPath, u.uid, u.gid);

    // The WAL is inside base.tar (no PITR): pg_verifybackup also parses it.
    const verify = await execa(join(PG_BIN, 'pg_verifybackup'), [dataDir], asPostgres({ reject: false }));
    expect(verify.stderr).toBe('');
    expect(verify.exitCode).toBe(0);

    const restored = await startPostgres({ dataDir });
    cleanups.push(() => restored.destroy());
    for (let i = 0; i < 200; i++) {
      const [r] = await restored.query<{ rec: boolean }>('SELECT pg_is_in_recovery() AS rec');
      if (!r!.rec) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    expect(await tableHashes(restored)).toEqual(await tableHashes(source));
    const [loc] = await restored.query<{ l: string }>(`SELECT pg_tablespace_location(oid) AS l FROM pg_tablespace WHERE spcname = 'extra'`);
    expect(loc!.l).toBe(newTs);
    await restored.destroy();
  });
});
