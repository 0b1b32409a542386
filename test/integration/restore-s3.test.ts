/**
 * Restore from an encrypted repository on a real S3-protocol server (s3rver), with nothing but
 * the config (storage + key): the CLI `pitrd restore --to-time` and `--latest`, and
 * `pitrd wal-fetch` reading through decryption.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackupService } from '../../src/basebackup/index.js';
import { createReceiver, type Receiver } from '../../src/receiver/index.js';
import { openRepository, type DatabaseRepository } from '../../src/repository/index.js';
import { createObjectStore, type ObjectStore } from '../../src/storage/index.js';
import { makeTempDir, startPostgres, type PgCluster } from '../harness/index.js';
import { waitFor } from '../harness/receiver.js';
import { startS3, type S3Server } from '../harness/s3.js';

const ROOT = join(import.meta.dirname, '..', '..');
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
const MAIN = join(ROOT, 'src', 'cli', 'main.ts');
const KEY = randomBytes(32);

let source: PgCluster;
let s3: S3Server;
let store: ObjectStore;
let db: DatabaseRepository;
let receiver: Receiver | null = null;
let configFile: string;
let lastSegment = '';
const dirs: string[] = [];
const rows: Array<{ id: number; committed_at: Date }> = [];

const cli = (args: string[]) => execa(TSX, [MAIN, '-c', configFile, ...args], { reject: false, cwd: ROOT });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  [source, s3] = await Promise.all([startPostgres({ walSegmentSizeMB: 1 }), startS3()]);
  await source.query(`CREATE TABLE marker (id serial PRIMARY KEY, committed_at timestamptz NOT NULL DEFAULT clock_timestamp())`);
  const spool = makeTempDir('rs3-spool');
  const cfgDir = makeTempDir('rs3-cfg');
  dirs.push(spool, cfgDir);
  store = createObjectStore({ type: 's3', endpoint: s3.endpoint, region: s3.region, bucket: s3.bucket, prefix: 'pitrd', accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, forcePathStyle: true });
  const repo = await openRepository(store, { compression: 'gzip', key: KEY });
  db = repo.database('main');
  configFile = join(cfgDir, 'pitrd.yaml');
  writeFileSync(
    configFile,
    [
      'storage:', '  type: s3', `  endpoint: ${s3.endpoint}`, `  region: ${s3.region}`, `  bucket: ${s3.bucket}`, '  prefix: pitrd',
      `  access_key_id: ${s3.accessKeyId}`, `  secret_access_key: ${s3.secretAccessKey}`, '  force_path_style: true',
      'compression: gzip', 'encryption:', `  key: ${KEY.toString('hex')}`, '',
    ].join('\n'),
    { mode: 0o600 },
  );
  receiver = createReceiver({ database: 'main', connection: { ...source.connection }, repository: db, spoolDir: spool });
  await receiver.start();
  const service = createBackupService({ repository: repo, databases: { main: { connection: { ...source.connection }, schedule: null, pitr: true, walTimeoutMs: 90_000 } } });
  const rec = await service.run('main', { label: 'restore-s3' });
  await service.stop();
  expect(rec.status).toBe('completed');
  for (let i = 1; i <= 3; i++) {
    await sleep(250);
    rows.push((await source.query<{ id: number; committed_at: Date }>(`INSERT INTO marker DEFAULT VALUES RETURNING id, committed_at`))[0]!);
    await source.query(`SELECT pg_switch_wal()`);
  }
  lastSegment = (await source.query<{ f: string }>(`SELECT pg_walfile_name(pg_current_wal_lsn()) AS f`))[0]!.f;
  await source.query(`SELECT pg_switch_wal()`);
  await waitFor(`segment ${lastSegment} archived`, () => db.wal.hasSegment(1, lastSegment), 60_000);
}, 180_000);

afterAll(async () => {
  await receiver?.stop().catch(() => undefined);
  await store?.close();
  await source?.destroy();
  await s3?.destroy();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function restoredIds(args: string[]): Promise<number[]> {
  const root = makeTempDir('rs3-target');
  dirs.push(root);
  const dataDir = join(root, 'data');
  const res = await cli(['restore', ...args, '--target-dir', dataDir, '--json']);
  // (The AWS SDK may print its Node-version notice; no pitrd error may appear.)
  expect(res.stderr).not.toContain('pitrd');
  expect(res.exitCode).toBe(0);
  const out = JSON.parse(res.stdout) as { restore: { id: string; status: string; wal_files_applied: number } };
  expect(out.restore.status).toBe('completed');
  expect(out.restore.wal_files_applied).toBeGreaterThan(0);
  expect((await db.restores.get(out.restore.id))?.status).toBe('completed');
  const restored = await startPostgres({ dataDir });
  try {
    return (await restored.query<{ id: number }>('SELECT id FROM marker ORDER BY id')).map((r) => r.id);
  } finally {
    await restored.destroy();
  }
}

describe('restore from an encrypted S3 repository with only the config', () => {
  it('restores to a time between two commits', async () => {
    const t = new Date((rows[0]!.committed_at.getTime() + rows[1]!.committed_at.getTime()) / 2).toISOString();
    expect(await restoredIds(['--to-time', t])).toEqual([1]);
  }, 120_000);

  it('restores to latest', async () => {
    expect(await restoredIds(['--latest'])).toEqual([1, 2, 3]);
  }, 120_000);

  it('wal-fetch decrypts a segment byte-identically and exits 1 for a missing one', async () => {
    const dir = makeTempDir('rs3-wf');
    dirs.push(dir);
    const ok = await cli(['wal-fetch', lastSegment, join(dir, 'seg')]);
    expect(ok.stderr).toBe('');
    expect(ok.exitCode).toBe(0);
    expect(readFileSync(join(dir, 'seg')).equals(await db.wal.getSegment(1, lastSegment))).toBe(true);
    const missing = await cli(['wal-fetch', '00000005.history', join(dir, 'h')]);
    expect([missing.exitCode, missing.stdout, missing.stderr]).toEqual([1, '', '']);
    expect(readdirSync(dir)).toEqual(['seg']);
  }, 60_000);
});
