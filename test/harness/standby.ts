/**
 * A streaming standby of a harness cluster: pg_basebackup -R from the primary into a fresh
 * directory, started as its own cluster on a free port. `promote()` ends recovery and starts a
 * new timeline.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir, startPostgres, type PgCluster } from './postgres.js';

export interface StandbyCluster extends PgCluster {
  /** pg_ctl promote, then wait until the server left recovery. */
  promote(): Promise<void>;
}

export async function startStandby(primary: PgCluster, settings: Record<string, string | number> = {}): Promise<StandbyCluster> {
  const root = makeTempDir('standby');
  const dataDir = join(root, 'data');
  try {
    await primary.exec('pg_basebackup', ['-h', '127.0.0.1', '-p', String(primary.port), '-U', 'postgres', '-D', dataDir, '-R', '-X', 'stream', '-c', 'fast', '--no-sync']);
  } catch (err) {
    rmSync(root, { recursive: true, force: true });
    throw err;
  }
  let cluster: PgCluster;
  try {
    cluster = await startPostgres({ dataDir, settings: { hot_standby: 'on', ...settings } });
  } catch (err) {
    rmSync(root, { recursive: true, force: true });
    throw err;
  }
  const destroy = cluster.destroy.bind(cluster);
  return Object.assign(cluster, {
    async promote() {
      await cluster.exec('pg_ctl', ['-D', dataDir, '-w', '-t', '60', 'promote']);
      for (let i = 0; i < 600; i++) {
        const [row] = await cluster.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
        if (row && !row.r) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`standby on port ${cluster.port} did not leave recovery after promote`);
    },
    async destroy() {
      await destroy();
      rmSync(root, { recursive: true, force: true });
    },
  });
}
