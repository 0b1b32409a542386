/**
 * A streaming standby of a harness cluster, of the primary's major, started as its own cluster on
 * a free port. `promote()` ends recovery and starts a new timeline. Made by pg_basebackup -R where
 * the primary's major has one or Debian's 15 speaks to it (13 to 15); otherwise (16+: the
 * embedded packages ship no pg_basebackup, and 15's refuses newer servers) by a cold copy: the
 * primary is stopped cleanly, its data directory copied, the primary started again, and the copy
 * given standby.signal and primary_conninfo.
 */
import { existsSync, readFileSync, rmSync, writeFileSync, chownSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { asPostgres, makeTempDir, postgresUser, startPostgres, type PgCluster } from './postgres.js';

export interface StandbyCluster extends PgCluster {
  /** pg_ctl promote, then wait until the server left recovery. */
  promote(): Promise<void>;
}

async function copyPrimary(primary: PgCluster, dataDir: string): Promise<void> {
  if (primary.major <= 15 || existsSync(join(primary.binDir, 'pg_basebackup'))) {
    await primary.exec('pg_basebackup', ['-h', '127.0.0.1', '-p', String(primary.port), '-U', 'postgres', '-D', dataDir, '-R', '-X', 'stream', '-c', 'fast', '--no-sync']);
    // -R's primary_conninfo carries options of 15's libpq (sslsni) that an older server's
    // walreceiver refuses: startStandby sets a plain one in postgresql.conf instead.
    const auto = join(dataDir, 'postgresql.auto.conf');
    writeFileSync(auto, readFileSync(auto, 'utf8').split('\n').filter((l) => !l.startsWith('primary_conninfo')).join('\n'));
    return;
  }
  await primary.stop('fast');
  try {
    await execa('cp', ['-a', primary.dataDir, dataDir], asPostgres());
  } finally {
    await primary.start();
  }
  rmSync(join(dataDir, 'postmaster.pid'), { force: true });
  const signal = join(dataDir, 'standby.signal');
  writeFileSync(signal, '');
  const u = postgresUser();
  if (u) chownSync(signal, u.uid, u.gid);
}

export async function startStandby(primary: PgCluster, settings: Record<string, string | number> = {}): Promise<StandbyCluster> {
  const root = makeTempDir('standby');
  const dataDir = join(root, 'data');
  try {
    await copyPrimary(primary, dataDir);
  } catch (err) {
    rmSync(root, { recursive: true, force: true });
    throw err;
  }
  const c = primary.connection;
  const conninfo = `'host=${c.host} port=${c.port} user=${c.user} password=${c.password}'`;
  let cluster: PgCluster;
  try {
    cluster = await startPostgres({ dataDir, major: primary.major, settings: { hot_standby: 'on', primary_conninfo: conninfo, ...settings } });
  } catch (err) {
    rmSync(root, { recursive: true, force: true });
    throw err;
  }
  const destroy = cluster.destroy.bind(cluster);
  return Object.assign(cluster, {
    async promote() {
      await execa(join(cluster.binDir, 'pg_ctl'), ['-D', dataDir, '-w', '-t', '60', 'promote'], asPostgres());
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
