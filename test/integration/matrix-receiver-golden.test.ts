/**
 * Receiver golden, PostgreSQL 13 to 18 (one primary and its standby per major, majors in turn):
 * the real receiver streams from the standby; every segment it archives must be byte-identical
 * to the server's own copy in pg_wal (kept by wal_keep_size) and read back as that major's WAL.
 * The standby is then promoted: the receiver follows it onto timeline 2, archives its history
 * file (identical to the server's) and timeline 2's segments (identical too).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSegment } from '../../src/wal/index.js';
import { TEST_MAJORS } from '../harness/index.js';
import { startArchiveFixture, type ArchiveFixture } from '../harness/archive-fixture.js';
import { compareArchiveWithReference } from '../harness/receiver.js';

describe.each(TEST_MAJORS)('PostgreSQL %i', (major) => {
  let fx: ArchiveFixture;
  const pgWal = () => ({ dir: join(fx.standby!.dataDir, 'pg_wal') });

  /** Every archived segment of `timeline` equals the server's copy and reads as this major's WAL. */
  async function assertGolden(timeline: number, atLeast: number): Promise<string[]> {
    const { names, compared } = await compareArchiveWithReference(fx.db.wal, pgWal(), timeline);
    expect(names.length).toBeGreaterThanOrEqual(atLeast);
    // wal_keep_size keeps them all on the server: nothing archived goes uncompared.
    expect(compared).toBe(names.length);
    for (const name of names) expect(readSegment(await fx.db.wal.getSegment(timeline, name), { name }).major).toBe(major);
    return names;
  }

  beforeAll(async () => {
    fx = await startArchiveFixture({ tag: `gold${major}`, major, standby: true, compression: 'none', settings: { wal_keep_size: "'512MB'" } });
  }, 180_000);

  afterAll(async () => {
    await fx?.destroy();
  });

  it('archives timeline 1 byte-identical to the standby’s pg_wal', async () => {
    const [v] = await fx.source.query<{ v: string }>(`SELECT current_setting('server_version_num') AS v`);
    expect(Math.floor(Number(v!.v) / 10000)).toBe(major);
    // ~3 MB of WAL: whole segments written by the server in full, not only switched ones.
    await fx.source.query('CREATE TABLE t AS SELECT g, md5(g::text) AS h FROM generate_series(1, 30000) g');
    await fx.switchAndWait();
    await fx.source.query('INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 1000) g');
    const last = await fx.switchAndWait();
    const names = await assertGolden(1, 3);
    expect(names).toContain(last);
  }, 180_000);

  it('follows the promotion onto timeline 2: history file and segments byte-identical', async () => {
    await fx.promote();
    await fx.source.query('INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 20000) g');
    const first = await fx.switchAndWait();
    expect(first.startsWith('00000002')).toBe(true);
    await fx.source.query('INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 1000) g');
    const last = await fx.switchAndWait();
    const history = await fx.db.wal.getHistory(2);
    expect(history?.equals(readFileSync(join(pgWal().dir, '00000002.history')))).toBe(true);
    const names = await assertGolden(2, 2);
    expect(names).toContain(first);
    expect(names).toContain(last);
    // Timeline 1's golden still holds (its last, unfinished segment is not archived on timeline 1).
    await assertGolden(1, 3);
    expect(fx.receiver.status().last_error).toBeNull();
  }, 180_000);
});
