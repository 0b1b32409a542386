/**
 * pg_ctl for the PostgreSQL servers the daemon itself runs (restores left running, branches):
 * stop one by its data directory, ask whether one runs, start a branch again after a daemon
 * restart. The commands are server.ts's, the ones a restore runs (same options, same OS user): a branch restarted here
 * must run exactly as the restore first ran it.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { asOwner } from './as-owner.js';
import { postgresOsUser } from './os-user.js';
import { binDirFor, dataDirMajor, hostBinDirs } from './bin-dirs.js';
import { DEFAULT_PG_BIN, pgCtlStart, pgCtlStop, type RecoveryServer } from './server.js';

/** The binaries of the data directory's major (DEFAULT_PG_BIN when it has no PG_VERSION). */
function binsOf(dataDir: string): string {
  const major = dataDirMajor(dataDir);
  return major === null ? DEFAULT_PG_BIN : binDirFor(major, hostBinDirs());
}

/** The server on a data directory, as server.ts's pg_ctl helpers (and query) take it. */
export function serverAt(dataDir: string, pgBin: string, port = 0, runDir = ''): RecoveryServer {
  const owner = postgresOsUser();
  return { dataDir, port, socketDir: runDir, logFile: join(runDir, 'postgres.log'), pgBin, user: 'postgres', ...(owner ? { owner } : {}) };
}

/** True while a postmaster runs on the data directory (pg_ctl status exits 0). */
export async function pgIsRunning(dataDir: string, pgBin?: string): Promise<boolean> {
  if (!existsSync(join(dataDir, 'postmaster.pid'))) return false;
  pgBin ??= binsOf(dataDir);
  const r = await execa(join(pgBin, 'pg_ctl'), ['-D', dataDir, 'status'], { ...asOwner(postgresOsUser()), reject: false });
  return r.exitCode === 0;
}

/** Fast shutdown (active sessions are ended), waiting for it; a server already down is fine. */
export async function pgStop(dataDir: string, pgBin?: string): Promise<void> {
  if (!existsSync(join(dataDir, 'postmaster.pid'))) return;
  await pgCtlStop(serverAt(dataDir, pgBin ?? binsOf(dataDir)));
}

/** Start a restored cluster again on our port and socket directory (runDir), as the restore ran it. */
export async function pgStart(o: { dataDir: string; port: number; runDir: string; pgBin?: string }): Promise<void> {
  await pgCtlStart(serverAt(o.dataDir, o.pgBin ?? binsOf(o.dataDir), o.port, o.runDir));
}
