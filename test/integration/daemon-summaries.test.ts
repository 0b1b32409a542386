/**
 * The daemon keeps WAL summaries current as segments are archived (DESIGN.md wal-summary), in
 * the background, without anyone asking for the recovery window.
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import { startPostgres, type PgCluster } from '../harness/index.js';
import { startDaemonFixture, waitFor, type DaemonFixture } from './daemon-fixture.js';

let pg: PgCluster;
let fx: DaemonFixture;

beforeAll(async () => {
  pg = await startPostgres({ walSegmentSizeMB: 1 });
  fx = await startDaemonFixture(
    { databases: [{ name: 'main', connection: { host: '127.0.0.1', port: pg.port, user: 'postgres', password: pg.connection.password, dbname: 'postgres' } }] },
    { schedules: false, summaryIntervalMs: 200 },
  );
});

afterAll(async () => {
  await fx?.close();
  await pg?.destroy();
});

describe('daemon: background WAL summaries', () => {
  it('summarises every archived segment without a recovery-window request', async () => {
    for (let i = 0; i < 3; i++) {
      await pg.query('CREATE TABLE IF NOT EXISTS s (x int); INSERT INTO s SELECT generate_series(1, 1000)');
      await pg.query('SELECT pg_switch_wal()');
    }
    const wal = fx.daemon.repo.database({ project: 'default', name: 'main' }).wal;
    const archived = async (): Promise<string[]> => {
      const names: string[] = [];
      for await (const s of wal.listSegments()) names.push(s.name);
      return names;
    };
    await waitFor('3 segments archived', async () => ((await archived()).length >= 3 ? true : null), 60_000);
    const repo = fx.daemon.repo;
    await waitFor(
      'a summary for every archived segment',
      async () => {
        const names = await archived();
        const summarized = new Set((await repo.database({ project: 'default', name: 'main' }).walSummaries.list()).map((s) => s.segment));
        return names.every((n) => summarized.has(n)) ? true : null;
      },
      60_000,
    );
  });
});
