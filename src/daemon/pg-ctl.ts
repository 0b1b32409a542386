/**
 * pg_ctl for the PostgreSQL servers the daemon itself runs (restores left running, branches):
 * stop one by its data directory, ask whether one runs, start a branch again after a daemon
 * restart. Run as the postgres OS user when the daemon is root (PostgreSQL refuses root).
 */
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { execa } from 'execa';
import { PitrdError } from '../errors.js';
import { postgresOsUser } from '../restore/index.js';

export const PG_BIN = process.env.PITRD_PG_BIN ?? '/usr/lib/postgresql/15/bin';

function asOwner(): { uid?: number; gid?: number; env: NodeJS.ProcessEnv } {
  const owner = postgresOsUser();
  const env = { ...process.env, LC_ALL: 'C.UTF-8' };
  return owner ? { uid: owner.uid, gid: owner.gid, env: { ...env, HOME: '/tmp', USER: 'postgres' } } : { env };
}

/** True while a postmaster runs on the data directory (pg_ctl status exits 0). */
export async function pgIsRunning(dataDir: string, pgBin = PG_BIN): Promise<boolean> {
  if (!existsSync(join(dataDir, 'postmaster.pid'))) return false;
  const r = await execa(join(pgBin, 'pg_ctl'), ['-D', dataDir, 'status'], { ...asOwner(), reject: false });
  return r.exitCode === 0;
}

/** Fast shutdown (active sessions are ended), waiting for it; a server already down is fine. */
export async function pgStop(dataDir: string, pgBin = PG_BIN): Promise<void> {
  if (!existsSync(join(dataDir, 'postmaster.pid'))) return;
  await execa(join(pgBin, 'pg_ctl'), ['-D', dataDir, '-w', '-t', '120', '-m', 'fast', 'stop'], { ...asOwner(), reject: false });
}

/**
 * Start a restored cluster again with the options the restore ran it with: our port and socket
 * directory, loopback only, and never archiving (its postgresql.conf is the source's: an
 * archive_command there would push the copy's WAL into the source's archive).
 */
export async function pgStart(o: { dataDir: string; port: number; runDir: string; pgBin?: string }): Promise<void> {
  const opts = `-p ${o.port} -k ${o.runDir} -c listen_addresses=127.0.0.1 -c archive_mode=off -c logging_collector=off`;
  const log = join(o.runDir, 'postgres.log');
  const r = await execa(join(o.pgBin ?? PG_BIN, 'pg_ctl'), ['-D', o.dataDir, '-l', log, '-w', '-t', '120', '-o', opts, 'start'], { ...asOwner(), reject: false });
  if (r.exitCode !== 0) {
    throw new PitrdError('RESTORE_FAILED', `PostgreSQL in ${o.dataDir} did not start on port ${o.port}: ${String(r.stderr || r.stdout).trim()}`, { context: { data_dir: o.dataDir, port: o.port } });
  }
}

/** Whether 127.0.0.1:port can be bound now. */
export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A TCP port free on 127.0.0.1 right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
