/**
 * Golden exactness of point-in-time restores: a workload commits marker rows (with WAL switches
 * now and then) while the real receiver archives and after a real base backup; then restores to
 * 10 random times inside the window, plus latest, a restore point and an LSN. Each restored
 * cluster must hold exactly the ids committed at or before its target. Commit times come from
 * the commit records themselves (track_commit_timestamp + pg_xact_commit_timestamp(xmin)):
 * exactly what recovery_target_time compares, to the microsecond.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecoveryTarget } from '../../src/restore/index.js';
import type { PgCluster } from '../harness/index.js';
import { startArchiveFixture, type ArchiveFixture } from '../harness/archive-fixture.js';
import { prng } from '../harness/prng.js';

const ROWS = 14;
const RANDOM_TARGETS = 10;
const SEED = Number(process.env.PITRD_GOLDEN_SEED ?? Date.now() % 2 ** 31);

let fx: ArchiveFixture;
let source: PgCluster;
/** Marker rows in commit order, with their commit time in microseconds since the Unix epoch. */
const rows: Array<{ id: number; commitMicros: bigint }> = [];
const lsnAfterRow = { row: 0, lsn: '' };
const pointAfterRow = { row: 0, name: 'golden_point' };


/** ISO 8601 UTC with all six fractional digits. */
function isoMicros(micros: bigint): string {
  const ms = Number(micros / 1000n);
  const sub = String(micros % 1000n).padStart(3, '0');
  return new Date(ms).toISOString().replace('Z', `${sub}Z`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  console.log(`restore-golden seed ${SEED} (replay with PITRD_GOLDEN_SEED=${SEED})`);
  fx = await startArchiveFixture({ tag: 'gold', settings: { track_commit_timestamp: 'on' }, compression: 'gzip' });
  source = fx.source;
  await source.query(`CREATE TABLE marker (id integer PRIMARY KEY)`);
  const rec = await fx.backup('golden');
  expect(rec.status).toBe('completed');

  const rand = prng(SEED ^ 0x5eed);
  lsnAfterRow.row = 3 + Math.floor(rand() * (ROWS - 6));
  pointAfterRow.row = 3 + Math.floor(rand() * (ROWS - 6));
  for (let id = 1; id <= ROWS; id++) {
    await sleep(50 + Math.floor(rand() * 200));
    await source.query(`INSERT INTO marker (id) VALUES ($1)`, [id]);
    if (id === lsnAfterRow.row) lsnAfterRow.lsn = (await source.query<{ l: string }>(`SELECT pg_current_wal_lsn()::text AS l`))[0]!.l;
    if (id === pointAfterRow.row) await source.query(`SELECT pg_create_restore_point($1)`, [pointAfterRow.name]);
    if (rand() < 0.35) await source.query(`SELECT pg_switch_wal()`);
  }
  for (const r of await source.query<{ id: number; us: string }>(
    `SELECT id, (extract(epoch FROM pg_xact_commit_timestamp(xmin)) * 1000000)::bigint::text AS us FROM marker ORDER BY id`,
  )) {
    rows.push({ id: r.id, commitMicros: BigInt(r.us) });
  }
  // A commit after the last row, so recovery to `latest` and time targets have records past them.
  await source.query(`CREATE TABLE tail ()`);
  await fx.switchAndWait();
}, 180_000);

afterAll(async () => {
  await fx?.destroy();
});

async function restoredIds(target: RecoveryTarget): Promise<number[]> {
  // 'running' costs one server start; 'stopped' would need a second start to read the rows.
  return fx.restoreRunning({ target, prefetchDepth: 4 }, async (r) => {
    expect(r.record.status).toBe('completed');
    return fx.markerIds(r.port!);
  });
}

describe('golden point-in-time exactness', () => {
  it(`${RANDOM_TARGETS} random times in the window each restore exactly the rows committed at or before them`, async () => {
    expect(rows.map((r) => r.id)).toEqual(Array.from({ length: ROWS }, (_, i) => i + 1));
    const first = rows[0]!.commitMicros;
    const span = rows[ROWS - 1]!.commitMicros - first;
    const rand = prng(SEED);
    const targets: bigint[] = [];
    for (let i = 0; i < RANDOM_TARGETS; i++) targets.push(first + BigInt(Math.floor(rand() * Number(span))));
    // Also an exact commit time: inclusive recovery must keep that commit.
    targets.push(rows[Math.floor(rand() * ROWS)]!.commitMicros);
    for (const t of targets) {
      const expected = rows.filter((r) => r.commitMicros <= t).map((r) => r.id);
      const got = await restoredIds({ kind: 'time', time: isoMicros(t) });
      expect(got, `target ${isoMicros(t)} (seed ${SEED})`).toEqual(expected);
    }
  }, 300_000);

  it('latest restores every row', async () => {
    expect(await restoredIds({ kind: 'latest' })).toEqual(rows.map((r) => r.id));
  }, 120_000);

  it('a restore point restores exactly the rows before it', async () => {
    expect(await restoredIds({ kind: 'name', name: pointAfterRow.name })).toEqual(rows.filter((r) => r.id <= pointAfterRow.row).map((r) => r.id));
  }, 120_000);

  it('an LSN restores exactly the rows committed before it', async () => {
    expect(await restoredIds({ kind: 'lsn', lsn: lsnAfterRow.lsn })).toEqual(rows.filter((r) => r.id <= lsnAfterRow.row).map((r) => r.id));
  }, 120_000);
});
