/**
 * Restore from an encrypted repository on a real S3-protocol server (s3rver), with nothing but
 * the config (storage + key): the CLI `pitrd restore --to-time` and `--latest`, and
 * `pitrd wal-fetch` reading through decryption.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseRepository } from '../../src/repository/index.js';
import { startPostgres, type PgCluster, cliJson } from '../harness/index.js';
import { startArchiveFixture, type ArchiveFixture } from '../harness/archive-fixture.js';

const KEY = randomBytes(32);

let fx: ArchiveFixture;
let source: PgCluster;
let db: DatabaseRepository;
let lastSegment = '';
const rows: Array<{ id: number; committed_at: Date }> = [];

const cli = (args: string[]) => fx.cli(args);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  fx = await startArchiveFixture({ tag: 'rs3', storage: 's3', key: KEY, compression: 'gzip' });
  ({ source, db } = fx);
  await source.query(`CREATE TABLE marker (id serial PRIMARY KEY, committed_at timestamptz NOT NULL DEFAULT clock_timestamp())`);
  const rec = await fx.backup('restore-s3');
  expect(rec.status).toBe('completed');
  for (let i = 1; i <= 3; i++) {
    await sleep(250);
    rows.push((await source.query<{ id: number; committed_at: Date }>(`INSERT INTO marker DEFAULT VALUES RETURNING id, committed_at`))[0]!);
    await source.query(`SELECT pg_switch_wal()`);
  }
  lastSegment = await fx.switchAndWait();
}, 180_000);

afterAll(async () => {
  await fx?.destroy();
});

async function restoredIds(args: string[]): Promise<number[]> {
  const root = fx.tempDir('target');
  const dataDir = join(root, 'data');
  const res = await cli(['restore', ...args, '--target-dir', dataDir, '--json']);
  // (The AWS SDK may print its Node-version notice; no pitrd error may appear.)
  expect(res.stderr).not.toContain('pitrd');
  expect(res.exitCode).toBe(0);
  const out = cliJson(res.stdout) as { restore: { id: string; status: string; wal_files_applied: number } };
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
    const dir = fx.tempDir('wf');
    const ok = await cli(['wal-fetch', lastSegment, join(dir, 'seg')]);
    expect(ok.stderr).toBe('');
    expect(ok.exitCode).toBe(0);
    expect(readFileSync(join(dir, 'seg')).equals(await db.wal.getSegment(1, lastSegment))).toBe(true);
    const missing = await cli(['wal-fetch', '00000005.history', join(dir, 'h')]);
    expect([missing.exitCode, missing.stdout, missing.stderr]).toEqual([1, '', '']);
    expect(readdirSync(dir)).toEqual(['seg']);
  }, 60_000);
});
