/**
 * verifyDatabase's checks on a real fs repository whose contents are arranged by hand: timeline
 * histories (broken, orphaned, branching where the parent has no WAL), backup data objects and
 * the WAL a backup needs. Segment bytes need not be valid WAL here: verify checks presence and
 * checksums, not records.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyDatabase } from '../../src/catalog/index.js';
import { openRepository, type Repository } from '../../src/repository/index.js';
import { createObjectStore, type ObjectStore } from '../../src/storage/index.js';
import { segmentName } from '../../src/wal/index.js';
import { makeTempDir } from '../harness/index.js';

const SEG = 1024 * 1024;
const name = (tli: number, segno: number) => segmentName(tli, BigInt(segno), SEG);
let dir: string;
let store: ObjectStore;
let repo: Repository;

beforeAll(async () => {
  dir = makeTempDir('catalog-verify');
  store = createObjectStore({ type: 'fs', path: dir });
  repo = await openRepository(store, { compression: 'gzip' });
});

afterAll(async () => {
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function database(db: string, segments: [number, number][]) {
  const d = repo.database({ project: 'default', name: db });
  await d.saveInfo({ project: 'p', system_identifier: '7000000000000000001', pg_version: 150000, wal_segment_size: SEG });
  for (const [tli, segno] of segments) await d.wal.putSegment(tli, name(tli, segno), randomBytes(64));
  return d;
}

describe('verifyDatabase on a hand-made repository', () => {
  it('timeline histories: unparsable, missing for a timeline with WAL, parent without WAL before the switch', async () => {
    const d = await database('tl', [[1, 1], [1, 2], [1, 4], [2, 5], [2, 6], [3, 7], [4, 8]]);
    // Timeline 2 branched at 0/540000 (segment 5): the parent must have segment 4 — it does.
    await d.wal.putHistory(2, Buffer.from('1\t0/540000\tno recovery target specified\n'));
    // Timeline 3's history does not parse; timeline 4 has WAL but no history at all.
    await d.wal.putHistory(3, Buffer.from('this is not a history file\n'));
    const r = await verifyDatabase(repo, { project: 'default', name: 'tl' });
    expect(r.ok).toBe(false);
    expect(r.timelines).toEqual([1, 2, 3, 4]);
    const kinds = r.problems.map((p) => [p.kind, p.timeline]);
    expect(kinds).toContainEqual(['timeline_history', 3]);
    expect(kinds).toContainEqual(['timeline_history', 4]);
    expect(r.problems.find((p) => p.timeline === 4 && p.kind === 'timeline_history')!.message).toContain('no history file');
    // Timeline 1 lacks segment 3 (between 2 and 4): a gap named on timeline 1.
    expect(r.problems).toContainEqual(expect.objectContaining({ kind: 'wal_gap', timeline: 1, segments: [name(1, 3)] }));
    expect(r.segments_checked).toBe(7);
  });

  it('a switch point where the archive lacks the parent WAL before it', async () => {
    const d = await database('sw', [[1, 1], [1, 2], [2, 5], [2, 6]]);
    await d.wal.putHistory(2, Buffer.from('1\t0/540000\tbranch\n'));
    const r = await verifyDatabase(repo, { project: 'default', name: 'sw' }, { quick: true });
    expect(r.segments_checked).toBe(0);
    expect(r.problems).toContainEqual(expect.objectContaining({ kind: 'timeline_history', timeline: 2, segments: [name(1, 4)] }));
    // Timeline 2's recovery path reads segments 3 and 4 from timeline 1: missing.
    expect(r.problems).toContainEqual(expect.objectContaining({ kind: 'wal_gap', timeline: 2, segments: [name(1, 3), name(1, 4)] }));
  });

  it('completed backups: a missing data object, a wrong size, and WAL it needs to reach consistency', async () => {
    const d = await database('bk', [[1, 3], [1, 4]]);
    const id = 'bkp_1';
    const tar = await d.backups.putData(id, 'base.tar', randomBytes(5000));
    const man = await d.backups.putData(id, 'backup_manifest', randomBytes(300));
    const now = new Date().toISOString();
    await d.backups.save({
      id, database: 'bk', type: 'manual', status: 'completed', created_at: now, start_time: now, stop_time: now, timeline: 1,
      start_lsn: '0/200028', stop_lsn: '0/300100',
      files: [
        { name: 'base.tar', size: tar.originalSize, stored_size: tar.size, sha256: tar.sha256 },
        { name: 'backup_manifest', size: man.originalSize, stored_size: man.size, sha256: man.sha256 },
      ],
    });
    // Damage after the commit: one object lost, one replaced by other bytes.
    await store.delete([d.backups.dataKey(id, 'base.tar')]);
    await store.put(d.backups.dataKey(id, 'backup_manifest'), randomBytes(10));
    const r = await verifyDatabase(repo, { project: 'default', name: 'bk' });
    expect(r.backups_checked).toBe(1);
    const backupProblems = r.problems.filter((p) => p.kind === 'backup_data').map((p) => p.message);
    expect(backupProblems).toHaveLength(2);
    expect(backupProblems[0]).toContain('"base.tar" is missing');
    expect(backupProblems[1]).toContain('"backup_manifest" has 10 stored bytes');
    // Segment 2 (start) is not archived: the backup cannot reach consistency, and it is a gap.
    expect(r.problems).toContainEqual(expect.objectContaining({ kind: 'backup_wal_missing', backup: id, segments: [name(1, 2)] }));
    expect(r.problems).toContainEqual(expect.objectContaining({ kind: 'wal_gap', timeline: 1, segments: [name(1, 2)] }));
  });

  it('an unknown database is one problem, not a crash', async () => {
    const r = await verifyDatabase(repo, { project: 'default', name: 'nothing' });
    expect(r.ok).toBe(false);
    expect(r.problems).toEqual([expect.objectContaining({ kind: 'database' })]);
  });
});
