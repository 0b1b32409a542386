/**
 * A real promotion: WAL of timeline 1 from the primary, timeline 2 from the promoted standby
 * (its first segment holds timeline-1 pages up to the switch point), the real 00000002.history.
 * Checked against pg_waldump, then the recovery window follows the switch.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  computeRecoveryWindows,
  formatLsn,
  parseTimelineHistory,
  segmentName,
  segnoOf,
  timelineOfLsn,
  type TimelineHistory,
  type WalEvent,
} from '../../src/wal/index.js';
import { startPostgres, type PgCluster } from '../harness/index.js';
import { startStandby, type StandbyCluster } from '../harness/standby.js';
import { parseRun, waldump, xactsOf } from './wal-waldump.js';

const SEG = 1024 * 1024;
let primary: PgCluster;
let standby: StandbyCluster;
let history: TimelineHistory;
let tl1: string[] = [];
let tl2: string[] = [];
const bytes = new Map<string, Buffer>();

async function commits(c: PgCluster, tag: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await c.query(`INSERT INTO t VALUES (${i}, '${tag}')`);
}

beforeAll(async () => {
  primary = await startPostgres({ walSegmentSizeMB: 1, settings: { wal_keep_size: "'256MB'" } });
  await primary.query('CREATE TABLE t (id int, v text)');
  standby = await startStandby(primary, { wal_keep_size: "'256MB'" });
  const [{ first }] = (await primary.query<{ first: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS first')) as [{ first: string }];
  await commits(primary, 'early', 5);
  await primary.query("INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 20000) g"); // > 1 segment
  await commits(primary, 'tl1', 20);
  await primary.query("SELECT pg_create_restore_point('on-tl1')");
  await commits(primary, 'tl1-after', 5);
  const [{ lsn }] = (await primary.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')) as [{ lsn: string }];
  // Let the standby replay everything before it is promoted (polling, not a timed assertion).
  for (let i = 0; ; i++) {
    const [row] = await standby.query<{ ok: boolean }>('SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok', [lsn]);
    if (row?.ok) break;
    if (i > 600) throw new Error(`standby did not replay up to ${lsn}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  await standby.promote();
  await commits(standby, 'tl2', 20);
  await standby.query("SELECT pg_create_restore_point('on-tl2')");
  await commits(standby, 'tl2-after', 3);
  const [{ last }] = (await standby.query<{ last: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS last')) as [{ last: string }];

  const sDir = join(standby.dataDir, 'pg_wal');
  history = parseTimelineHistory(2, readFileSync(join(sDir, '00000002.history'), 'utf8'));
  const switchSeg = segnoOf(history.entries[0]!.switchLsn, SEG);
  // Timeline 1 up to the segment before the switch (complete on the primary), then timeline 2.
  const pDir = join(primary.dataDir, 'pg_wal');
  tl1 = readdirSync(pDir).filter((n) => /^00000001[0-9A-F]{16}$/.test(n) && n >= first && n < segmentName(1, switchSeg, SEG)).sort();
  tl2 = readdirSync(sDir).filter((n) => /^00000002[0-9A-F]{16}$/.test(n) && n <= last).sort();
  for (const n of tl1) bytes.set(n, readFileSync(join(pDir, n)));
  for (const n of tl2) bytes.set(n, readFileSync(join(sDir, n)));
}, 180_000);

afterAll(async () => {
  await standby?.destroy();
  await primary?.destroy();
});

describe('WAL across a promotion', () => {
  it('reads the real history file', () => {
    expect(history.entries).toHaveLength(1);
    expect(history.entries[0]!.parent).toBe(1);
    expect(timelineOfLsn(history, history.entries[0]!.switchLsn)).toBe(2);
    expect(tl1.length).toBeGreaterThanOrEqual(1);
    expect(tl2[0]).toBe(segmentName(2, segnoOf(history.entries[0]!.switchLsn, SEG), SEG));
  });

  it('matches pg_waldump on timeline 2, including the copied timeline-1 pages', async () => {
    const golden = await waldump(tl2, bytes);
    const ours = parseRun(tl2, bytes);
    expect([...ours.lsns].sort()).toEqual([...golden.lsns].sort());
    expect(xactsOf(ours.events)).toEqual(golden.xacts);
    // The switch segment really starts with timeline 1's WAL, copied at promotion.
    const pageTlis = new Set<number>();
    const first = bytes.get(tl2[0]!)!;
    for (let off = 0; off < SEG; off += 8192) if (first.readUInt16LE(off) !== 0) pageTlis.add(first.readUInt32LE(off + 4));
    expect([...pageTlis].sort()).toEqual([1, 2]);
    expect(ours.events.some((e) => e.lsn < history.entries[0]!.switchLsn)).toBe(true);
    const eor = ours.events.filter((e): e is Extract<WalEvent, { kind: 'end_of_recovery' }> => e.kind === 'end_of_recovery');
    expect(eor.map((e) => formatLsn(e.lsn))).toEqual(golden.endOfRecovery);
    expect(eor).toHaveLength(1);
    expect(eor[0]).toMatchObject({ timeline: 2, prevTimeline: 1 });
    expect(eor[0]!.lsn).toBe(history.entries[0]!.switchLsn);
    const rps = ours.events.filter((e) => e.kind === 'restore_point').map((e) => (e as { name: string }).name);
    expect(rps).toEqual(golden.restorePoints.map((r) => r.name));
    expect(rps).toContain('on-tl2');
  });

  it('computes each timeline\'s window through the switch', async () => {
    const golden1 = await waldump(tl1, bytes);
    const golden2 = await waldump(tl2, bytes);
    const summaries = [...parseRun(tl1, bytes).summaries, ...parseRun(tl2, bytes).summaries];
    const wins = computeRecoveryWindows({ segSize: SEG, segments: summaries, histories: new Map([[2, history]]), backups: [] });
    const commits1 = golden1.xacts.filter((x) => x.kind === 'commit');
    const commits2 = golden2.xacts.filter((x) => x.kind === 'commit');
    // Timeline 2's window starts in timeline 1's WAL and ends at its own last commit.
    const w2 = wins.find((w) => w.timeline === 2)!;
    expect(commits1.length).toBeGreaterThanOrEqual(5);
    expect(w2).toMatchObject({ status: 'no-backup', from: commits1[0]!.time, to: commits2[commits2.length - 1]!.time, gaps: [] });
    expect(w2.lastSegment).toBe(tl2[tl2.length - 1]);
    const w1 = wins.find((w) => w.timeline === 1)!;
    expect(w1).toMatchObject({ status: 'no-backup', from: commits1[0]!.time, to: commits1[commits1.length - 1]!.time });
  });
});
