/**
 * Timelines: the receiver streams from a standby; the standby is promoted; the receiver follows
 * the server onto timeline 2 and archives its history file and its segments.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReceiver } from '../../src/receiver/index.js';
import { parseTimelineHistory } from '../../src/wal/index.js';
import { formatLsn, parseLsn } from '../../src/wal/lsn.js';
import { makeTempDir, startPostgres, type PgCluster } from '../harness/index.js';
import { openReceiverRepo, switchWal, waitFor } from '../harness/receiver.js';
import { startStandby, type StandbyCluster } from '../harness/standby.js';

let primary: PgCluster;
let standby: StandbyCluster;
const dirs: string[] = [];

beforeAll(async () => {
  primary = await startPostgres({ walSegmentSizeMB: 1 });
  standby = await startStandby(primary);
});

afterAll(async () => {
  await standby?.destroy();
  await primary?.destroy();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('receiver across a promotion', () => {
  it('archives the history file and the segments of timeline 2', async () => {
    const repoDir = makeTempDir('repo');
    const spool = makeTempDir('spool');
    dirs.push(repoDir, spool);
    const repo = await openReceiverRepo({ kind: 'fs', dir: repoDir }, 'promoted');
    const receiver = createReceiver({
      database: 'promoted',
      connection: standby.connection,
      repository: repo.repository,
      spoolDir: spool,
      reconnectBackoff: { initialMs: 200, maxMs: 1000 },
    });
    try {
      await receiver.start();
      await waitFor('receiver running on the standby', () => receiver.status().status === 'running');
      await primary.query('CREATE TABLE t AS SELECT g, md5(g::text) AS h FROM generate_series(1, 20000) g');
      const { segment: tli1Segment } = await switchWal(primary);
      await waitFor(`archive to hold ${tli1Segment}`, () => repo.wal.hasSegment(1, tli1Segment), 60_000);

      await standby.promote();
      await standby.query('INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 20000) g');
      const { lsn, segment } = await switchWal(standby);
      expect(segment.startsWith('00000002')).toBe(true);
      await waitFor(`archive to hold ${segment}`, () => repo.wal.hasSegment(2, segment), 60_000);

      const history = await repo.wal.getHistory(2);
      expect(history).not.toBeNull();
      const { entries } = parseTimelineHistory(2, history!.toString('utf8'));
      expect(entries).toHaveLength(1);
      expect(entries[0]!.parent).toBe(1);
      // The switch point lies between what timeline 1 archived and the end of timeline 2's WAL.
      expect(parseLsn(lsn)).toBeGreaterThan(entries[0]!.switchLsn);

      const tli2: string[] = [];
      for await (const s of repo.wal.listSegments(2)) tli2.push(s.name);
      expect(tli2.length).toBeGreaterThanOrEqual(2);
      expect(tli2).toContain(segment);
      const st = receiver.status();
      expect(st.timeline).toBe(2);
      expect(st.last_error).toBeNull();
      expect(formatLsn(entries[0]!.switchLsn)).toMatch(/^0\//);
    } finally {
      await receiver.stop();
      await repo.close();
    }
  });
});
