import { appendFileSync, chownSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { execa } from 'execa';
import pg from 'pg';
import { PitrdError } from '../errors.js';
import { asOwner, freePort, postgresOsUser } from '../postgres/cluster/index.js';

export interface DemoCluster {
  dataDir: string;
  port: number;
  connection: { host: string; port: number; user: string; password: string; database: string };
  /** The postmaster's PID, or null when it is not running. */
  pid(): number | null;
  query<T>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Fast shutdown; idempotent. */
  stop(): Promise<void>;
}

/** Read the postmaster PID from a data directory (null when not running). */
export function postmasterPid(dataDir: string): number | null {
  try {
    const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/**
 * A throwaway PostgreSQL cluster for `pitrd demo`: initdb in `root`, a free port on 127.0.0.1,
 * WAL settings for streaming replication, run as the postgres OS user when we are root
 * (PostgreSQL refuses root). 1 MB WAL segments keep the demo quick.
 */
export async function startDemoCluster(root: string, pgBin: string): Promise<DemoCluster> {
  const owner = postgresOsUser();
  const dataDir = join(root, 'data');
  const socketDir = join(root, 'sock');
  mkdirSync(socketDir, { mode: 0o700 });
  if (owner) chownSync(socketDir, owner.uid, owner.gid);
  const password = randomBytes(12).toString('hex');
  const pwFile = join(root, 'pw');
  writeFileSync(pwFile, password + '\n', { mode: 0o600 });
  if (owner) chownSync(pwFile, owner.uid, owner.gid);
  const init = await execa(join(pgBin, 'initdb'), ['-D', dataDir, '-U', 'postgres', '--pwfile', pwFile, '--auth-local=trust', '--auth-host=scram-sha-256', '--no-sync', '-E', 'UTF8', '--locale=C.UTF-8', '--wal-segsize=1'], { ...asOwner(owner), reject: false });
  rmSync(pwFile, { force: true });
  if (init.exitCode !== 0) {
    throw new PitrdError('DEMO_FAILED', `initdb in ${dataDir} failed (is PostgreSQL 15 installed in ${pgBin}?): ${String(init.stderr).trim() || String(init.message)}`, { context: { data_dir: dataDir } });
  }
  const port = await freePort();
  const settings: Record<string, string | number> = {
    listen_addresses: "'127.0.0.1'",
    port,
    unix_socket_directories: `'${socketDir}'`,
    wal_level: 'replica',
    max_wal_senders: 5,
    max_replication_slots: 5,
    shared_buffers: "'32MB'",
    timezone: "'UTC'",
    log_timezone: "'UTC'",
  };
  appendFileSync(join(dataDir, 'postgresql.conf'), `\n# pitrd demo\n${Object.entries(settings).map(([k, v]) => `${k} = ${v}`).join('\n')}\n`);
  const pgCtl = (args: string[]) => execa(join(pgBin, 'pg_ctl'), ['-D', dataDir, ...args], { ...asOwner(owner), reject: false });
  const started = await pgCtl(['-l', join(root, 'postgres.log'), '-w', '-t', '60', 'start']);
  if (started.exitCode !== 0) {
    throw new PitrdError('DEMO_FAILED', `the demo PostgreSQL in ${dataDir} did not start: ${String(started.stderr).trim()}`, { context: { data_dir: dataDir } });
  }
  const connection = { host: '127.0.0.1', port, user: 'postgres', password, database: 'postgres' };
  return {
    dataDir,
    port,
    connection,
    pid: () => postmasterPid(dataDir),
    async query<T>(sql: string, params?: unknown[]): Promise<T[]> {
      // The demo's own loopback cluster, not a configured source: not src/postgres's connectSource.
      const c = new pg.Client(connection);
      await c.connect();
      try {
        return (await c.query(sql, params)).rows as T[];
      } finally {
        await c.end();
      }
    },
    async stop() {
      if (postmasterPid(dataDir) !== null) await pgCtl(['-w', '-t', '60', '-m', 'fast', 'stop']);
    },
  };
}
