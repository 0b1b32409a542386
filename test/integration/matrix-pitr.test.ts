/**
 * Exact point-in-time restores, PostgreSQL 13 to 18 (a primary and its standby per major, majors
 * in turn). The real receiver archives the standby; a PITR base backup is taken on the primary
 * (timeline 1); marker rows are committed on the primary, the standby is promoted (timeline 2)
 * and more rows are committed on it. Five random targets per major (seeded, printed): two times
 * on timeline 1, two times on timeline 2 and the LSN after a random row of timeline 2, each
 * restored from the timeline-1 backup by that major's binaries (postgres.bin_dirs), must hold
 * exactly the rows committed at or before the target. Commit times come from the commit records
 * (track_commit_timestamp + pg_xact_commit_timestamp(xmin)): exactly what recovery_target_time
 * compares. Without binaries of the major on this host a restore is refused before anything is
 * written (15 is Debian's, found in the usual place, so that case is not made for it).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPitrdError } from '../../src/errors.js';
import { setConfiguredBinDirs } from '../../src/postgres/cluster/index.js';
import type { BackupRecord } from '../../src/repository/index.js';
import { runRestore, type RecoveryTarget } from '../../src/restore/index.js';
import { pgBinDir, TEST_MAJORS, type PgCluster } from '../harness/index.js';
import { startArchiveFixture, type ArchiveFixture } from '../harness/archive-fixture.js';
import { prng } from '../harness/prng.js';

const SEED = Number(process.env.PITRD_GOLDEN_SEED ?? Date.now() % 2 ** 31);
const ROWS_PER_TIMELINE = 5;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** ISO 8601 UTC with all six fractional digits, from Unix µs. */
function isoMicros(micros: bigint): string {
  return new Date(Number(micros / 1000n)).toISOString().replace('Z', `${String(micros % 1000n).padStart(3, '0')}Z`);
}

afterAll(() => setConfiguredBinDirs({}));

describe.each(TEST_MAJORS)('PostgreSQL %i', (major) => {
  let fx: ArchiveFixture;
  let backup: BackupRecord;
  const rand = prng(SEED ^ major);
  /** Marker rows in commit order: commit time (Unix µs), timeline, and the LSN just after the commit. */
  const rows: Array<{ id: number; commitMicros: bigint; timeline: number; lsnAfter: string }> = [];

  async function commitRows(c: PgCluster, timeline: number): Promise<void> {
    const ids: number[] = [];
    for (let i = 0; i < ROWS_PER_TIMELINE; i++) {
      const id = rows.length + 1;
      // Spacing only: a random time between two commits lies strictly between them.
      await sleep(30 + Math.floor(rand() * 120));
      await c.query('INSERT INTO marker (id) VALUES ($1)', [id]);
      const [{ lsn }] = (await c.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')) as [{ lsn: string }];
      ids.push(id);
      rows.push({ id, commitMicros: 0n, timeline, lsnAfter: lsn });
      if (rand() < 0.4) await c.query('SELECT pg_switch_wal()');
    }
    for (const r of await c.query<{ id: number; us: string }>(
      `SELECT id, (extract(epoch FROM pg_xact_commit_timestamp(xmin)) * 1000000)::bigint::text AS us FROM marker WHERE id = ANY($1::int[]) ORDER BY id`,
      [ids],
    )) {
      rows.find((x) => x.id === r.id)!.commitMicros = BigInt(r.us);
    }
  }

  beforeAll(async () => {
    console.log(`matrix-pitr PostgreSQL ${major} seed ${SEED} (replay with PITRD_GOLDEN_SEED=${SEED})`);
    // No autovacuum: its commits would land between the marker commits.
    fx = await startArchiveFixture({
      tag: `pitr${major}`, major, standby: true, compression: 'none',
      settings: { autovacuum: 'off', track_commit_timestamp: 'on', wal_keep_size: "'256MB'" },
    });
    await fx.source.query('CREATE TABLE marker (id integer PRIMARY KEY)');
    backup = await fx.backup(`timeline-1 ${major}`);
    expect(backup.status).toBe('completed');
    expect(backup.timeline).toBe(1);
    await commitRows(fx.source, 1);
    await fx.promote();
    await commitRows(fx.source, 2);
    // A commit after the last row, so every time target has a record past it.
    await fx.source.query('CREATE TABLE tail ()');
    await fx.switchAndWait();
  }, 240_000);

  afterAll(async () => {
    await fx?.destroy();
  });

  async function restored(target: RecoveryTarget): Promise<{ ids: number[]; timeline: number }> {
    return fx.restoreRunning({ repo: fx.repo, target, prefetchDepth: 4 }, async (r) => {
      expect(r.record.status).toBe('completed');
      expect(r.record.backup_id).toBe(backup.id);
      return { ids: await fx.markerIds(r.port!), timeline: r.plan.targetTimeline };
    });
  }

  if (major !== 15) {
    it('without binaries of this major, a restore is refused before anything is written', async () => {
      setConfiguredBinDirs({});
      const root = fx.tempDir('nobin');
      const err = await runRestore({ db: fx.db, target: { kind: 'lsn', lsn: rows[1]!.lsnAfter }, targetDir: join(root, 'data') }).catch((e: unknown) => e);
      expect(isPitrdError(err, 'POSTGRES_BINARIES_MISSING')).toBe(true);
      expect((err as Error).message).toContain(`PostgreSQL ${major}`);
      expect(readdirSync(root)).toEqual([]);
    });
  }

  it('five random targets on both timelines each restore exactly the rows committed at or before them', async () => {
    setConfiguredBinDirs({ [String(major)]: pgBinDir(major) });
    const on = (tli: number) => rows.filter((r) => r.timeline === tli);
    const timeIn = (tli: number) => {
      const rs = on(tli);
      const first = rs[0]!.commitMicros;
      return first + BigInt(Math.floor(rand() * Number(rs[rs.length - 1]!.commitMicros - first)));
    };
    const times = [timeIn(1), timeIn(1), timeIn(2), timeIn(2)];
    for (const t of times) {
      const expected = rows.filter((r) => r.commitMicros <= t).map((r) => r.id);
      const got = await restored({ kind: 'time', time: isoMicros(t) });
      expect(got.ids, `target ${isoMicros(t)} (seed ${SEED})`).toEqual(expected);
      // A target after the switch is reached on timeline 2 (through the history file).
      if (t > on(1)[ROWS_PER_TIMELINE - 1]!.commitMicros && t >= on(2)[0]!.commitMicros) expect(got.timeline).toBe(2);
    }
    const after = on(2)[Math.floor(rand() * (ROWS_PER_TIMELINE - 1))]!;
    const got = await restored({ kind: 'lsn', lsn: after.lsnAfter });
    expect(got.ids, `target LSN ${after.lsnAfter} after row ${after.id} (seed ${SEED})`).toEqual(rows.filter((r) => r.id <= after.id).map((r) => r.id));
    expect(got.timeline).toBe(2);
  }, 300_000);
});
