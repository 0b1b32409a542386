import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import pg from 'pg';
import { PitrdError } from '../../errors.js';
import { shellQuote } from '../../pg-text.js';
import { asOwner } from './as-owner.js';
import { dataDirMajor } from './bin-dirs.js';
import { serverSettings } from './server-settings.js';

/** Debian's PostgreSQL 15 binaries unless PITRD_PG_BIN says otherwise. */
export const DEFAULT_PG_BIN = process.env.PITRD_PG_BIN ?? '/usr/lib/postgresql/15/bin';

export interface RecoveryServer {
  dataDir: string;
  port: number;
  socketDir: string;
  logFile: string;
  pgBin: string;
  owner?: { uid: number; gid: number };
  user: string;
}

/**
 * The postmaster's command line as pg_ctl's -o string (pg_ctl hands it to /bin/sh): every setting
 * of serverSettings, each one shell word `-c name=value` (PostgreSQL takes such a value
 * literally: no config-file quoting applies).
 */
function serverOptions(s: RecoveryServer): string {
  const settings = serverSettings({ dataDir: s.dataDir, port: s.port, socketDir: s.socketDir, majorVersion: dataDirMajor(s.dataDir) ?? 15 });
  return settings.map(([k, v]) => `-c ${shellQuote(`${k}=${v}`, k)}`).join(' ');
}

export async function pgCtlStart(s: RecoveryServer): Promise<void> {
  const r = await execa(join(s.pgBin, 'pg_ctl'), ['-D', s.dataDir, '-l', s.logFile, '-w', '-t', '600', '-o', serverOptions(s), 'start'], { ...asOwner(s.owner), reject: false });
  if (r.exitCode !== 0) {
    throw new PitrdError('RESTORE_FAILED', `recovery server in ${s.dataDir} did not start: ${logTail(s.logFile)}`, { context: { target_dir: s.dataDir } });
  }
}

export async function pgCtlStop(s: RecoveryServer): Promise<void> {
  await execa(join(s.pgBin, 'pg_ctl'), ['-D', s.dataDir, '-w', '-t', '120', '-m', 'fast', 'stop'], { ...asOwner(s.owner), reject: false });
}

export function isRunning(s: RecoveryServer): boolean {
  return existsSync(join(s.dataDir, 'postmaster.pid'));
}

export function logTail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no server log)';
  }
}

export async function query<T>(s: RecoveryServer, sql: string): Promise<T[]> {
  const c = new pg.Client({ host: s.socketDir, port: s.port, user: s.user, database: 'postgres' });
  // A server shut down between queries (57P01 on an idle client) must not be an unhandled
  // 'error' event that kills the process; the query in flight still rejects with it.
  c.on('error', () => undefined);
  await c.connect();
  try {
    return (await c.query(sql)).rows as T[];
  } finally {
    await c.end();
  }
}

/**
 * Wait until recovery is over: pg_is_in_recovery() false (promote), replay paused (pause), or
 * the server gone (shutdown, or a FATAL such as a target beyond the archive).
 */
export async function waitRecoveryEnd(s: RecoveryServer, action: 'promote' | 'pause' | 'shutdown', timeoutMs: number): Promise<'promoted' | 'paused' | 'stopped'> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!isRunning(s)) return 'stopped';
    try {
      if (action === 'pause') {
        const [r] = await query<{ st: string; rec: boolean }>(s, `SELECT pg_get_wal_replay_pause_state() AS st, pg_is_in_recovery() AS rec`);
        if (r && !r.rec) return 'promoted';
        if (r?.st === 'paused') return 'paused';
      } else {
        const [r] = await query<{ rec: boolean }>(s, 'SELECT pg_is_in_recovery() AS rec');
        if (r && !r.rec) return 'promoted';
      }
    } catch {
      // Shutting down or not yet accepting: look again.
    }
    if (Date.now() > deadline) {
      throw new PitrdError('RESTORE_FAILED', `recovery in ${s.dataDir} did not finish within ${Math.round(timeoutMs / 1000)} s: ${logTail(s.logFile)}`, { context: { target_dir: s.dataDir } });
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
