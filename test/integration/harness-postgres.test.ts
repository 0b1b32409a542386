import { describe, it, expect, afterAll } from 'vitest';
import { existsSync } from 'node:fs';
import { startPostgres, type PgCluster } from '../harness/index.js';

describe('test harness: startPostgres', () => {
  let pgc: PgCluster | undefined;
  afterAll(async () => {
    await pgc?.destroy();
  });

  it('starts a replication-ready cluster that stops, restarts, survives kill -9 and cleans up', async () => {
    pgc = await startPostgres({ walSegmentSizeMB: 1 });
    const rows = await pgc.query<{ wal_level: string }>('SHOW wal_level');
    expect(rows[0]!.wal_level).toBe('replica');
    const seg = await pgc.query<{ setting: string }>("SELECT setting FROM pg_settings WHERE name = 'wal_segment_size'");
    expect(Number(seg[0]!.setting)).toBe(1024 * 1024);
    expect(await pgc.systemIdentifier()).toMatch(/^\d+$/);
    await pgc.query('CREATE TABLE t (x int); INSERT INTO t VALUES (1)');
    await pgc.restart();
    expect((await pgc.query<{ n: number }>('SELECT count(*)::int AS n FROM t'))[0]!.n).toBe(1);
    await pgc.kill();
    expect(pgc.isRunning()).toBe(false);
    await pgc.start();
    expect((await pgc.query<{ n: number }>('SELECT count(*)::int AS n FROM t'))[0]!.n).toBe(1);
    const dir = pgc.dataDir;
    await pgc.destroy();
    expect(existsSync(dir)).toBe(false);
    pgc = undefined;
  });
});
