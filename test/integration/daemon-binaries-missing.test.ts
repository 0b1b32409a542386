/**
 * A database whose PostgreSQL major has no server binaries on the daemon's host (issue 16): WAL
 * still streams, and health says at once that restores and branches would be refused, naming the
 * major and postgres.bin_dirs. Real PostgreSQL 15, the daemon in-process, `postgres.bin_dirs`
 * pointing major 15 at a directory without binaries (a configured directory wins over discovery).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanUp, makeTempDir, startPostgres, type PgCluster } from '../harness/index.js';
import { startDaemonFixture, waitFor, type DaemonFixture } from './daemon-fixture.js';

const BASE = '/projects/default/databases/main';
let pg: PgCluster;
let fx: DaemonFixture;

beforeAll(async () => {
  pg = await startPostgres({ walSegmentSizeMB: 1 });
  const empty = await makeTempDir('pitrd-no-bin-');
  fx = await startDaemonFixture(
    {
      postgres: { bin_dirs: { '15': join(empty, 'bin') } },
      databases: [{ name: 'main', connection: { host: '127.0.0.1', port: pg.port, user: 'postgres', password: pg.connection.password, dbname: 'postgres', sslmode: 'disable' } }],
    },
    { schedules: false, healthIntervalMs: 300 },
  );
}, 120_000);

afterAll(() => cleanUp(() => fx?.close(), () => pg?.destroy()), 120_000);

describe('a major without server binaries on this host', () => {
  it('streams WAL, and health raises binaries_missing naming the major', async () => {
    await waitFor('receiver running', async () => (await fx.call('GET', `${BASE}/pitr/receiver-status`)).json.data?.status === 'running', 90_000);
    const alert = await waitFor(
      'binaries_missing',
      async () => ((await fx.call('GET', `${BASE}/health`)).json.data.alerts as Array<{ kind: string; severity: string; message: string }>).find((a) => a.kind === 'binaries_missing') ?? null,
      90_000,
    );
    expect(alert.severity).toBe('warning');
    expect(alert.message).toContain('restores and branches will be refused');
    expect(alert.message).toContain('no PostgreSQL 15 server binaries');
    expect(alert.message).toContain('postgres.bin_dirs');
    const metrics = (await fx.call('GET', '/metrics')).text;
    expect(metrics).toMatch(/^pitrd_alert_active\{project="default",database="main",kind="binaries_missing",severity="warning"\} 1$/m);
  }, 200_000);
});
