/**
 * The mark a restore keeps in its target directory from the first byte it writes there until the
 * restore is complete: `pitrd_restore_in_progress.json` (restore id, database, backup, the process
 * and host running it). A restore whose process died (kill -9, power cut) leaves its half-written
 * directory behind with the mark still in it; the next restore into that directory recognises it
 * as such (a directory without the mark is never touched: a restore never overwrites data),
 * stops a server the dead restore may have left running on it, empties it and goes on. While the
 * process that wrote the mark is alive on this host, the directory is refused as in use.
 */
import { chownSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PitrdError } from '../errors.js';
import { currentOwner, isThisHost, processAlive } from '../process-owner.js';
import { pgIsRunning, pgStop } from '../postgres/cluster/index.js';
import type { DatabaseRepository } from '../repository/index.js';

/** Its name; restore/verify-manifest.ts does not count it as a file the backup lacks. */
export const IN_PROGRESS_MARK = 'pitrd_restore_in_progress.json';

export interface InProgressMark {
  restore: string;
  database: string;
  backup: string;
  started_at: string;
  /** The restore's temporary work directory (restore_command script, staged WAL), removed with it. */
  work_dir: string;
  pid: number;
  /** The process's start time (src/process-owner.ts), so a reused PID is not taken for it. */
  started: string | null;
  host: string;
}

/** The mark in `dir`, or null (absent, or unreadable: then the directory is not treated as ours). */
export function readInProgressMark(dir: string): InProgressMark | null {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(join(dir, IN_PROGRESS_MARK), 'utf8'));
  } catch {
    return null;
  }
  const m = raw as Partial<InProgressMark> | null;
  if (!m || typeof m.restore !== 'string' || typeof m.pid !== 'number' || typeof m.host !== 'string') return null;
  return {
    restore: m.restore, database: String(m.database ?? ''), backup: String(m.backup ?? ''), started_at: String(m.started_at ?? ''),
    work_dir: typeof m.work_dir === 'string' ? m.work_dir : '', pid: m.pid, started: typeof m.started === 'string' ? m.started : null, host: m.host,
  };
}

/** Written (synchronously) before the first extracted byte. */
export function writeInProgressMark(dir: string, mark: Omit<InProgressMark, 'pid' | 'host' | 'started'>, owner?: { uid: number; gid: number }): void {
  const file = join(dir, IN_PROGRESS_MARK);
  writeFileSync(file, JSON.stringify({ ...mark, ...currentOwner() }), { mode: 0o600 });
  if (owner) chownSync(file, owner.uid, owner.gid);
}

/** Removed once the restore is complete, before it is recorded as such. */
export function removeInProgressMark(dir: string): void {
  rmSync(join(dir, IN_PROGRESS_MARK), { force: true });
}

/**
 * What an existing target directory holds, as far as a new restore is concerned: nothing (absent
 * or empty), the leftovers of an interrupted restore (its mark, and its process is gone), or
 * something else, refused with TARGET_DIR_NOT_EMPTY (data, or a restore still running in it).
 */
export function targetState(dir: string): { kind: 'empty' } | { kind: 'interrupted'; mark: InProgressMark } {
  if (!existsSync(dir) || readdirSync(dir).length === 0) return { kind: 'empty' };
  const mark = readInProgressMark(dir);
  if (mark === null) {
    throw new PitrdError('TARGET_DIR_NOT_EMPTY', 'the restore target directory is not empty; choose an absent or empty directory', { context: { target_dir: dir } });
  }
  if (!isThisHost(mark.host) || (mark.pid !== process.pid && processAlive(mark.pid, mark.started))) {
    const where = !isThisHost(mark.host) ? `on host ${mark.host}` : `by process ${mark.pid}`;
    throw new PitrdError('TARGET_DIR_NOT_EMPTY', `the restore target directory holds restore ${mark.restore}, still in progress ${where}; choose another directory`, {
      context: { target_dir: dir, restore: mark.restore },
    });
  }
  if (mark.pid === process.pid) {
    // This process's own restore that failed to clean up, or one running now: never ours to wipe.
    throw new PitrdError('TARGET_DIR_NOT_EMPTY', `the restore target directory holds restore ${mark.restore} of this process; choose another directory`, {
      context: { target_dir: dir, restore: mark.restore },
    });
  }
  return { kind: 'interrupted', mark };
}

export const INTERRUPTED_RESTORE_MESSAGE = 'interrupted: the process running this restore died; its partial data directory was removed by the next restore into it';

/**
 * Take over the directory of an interrupted restore (targetState said `interrupted`): stop the
 * recovery server it may have left running, empty the directory and its work directory, and
 * record the dead restore as failed (interrupted) when its record still says running, so that
 * nothing (retention, the API) waits for it any more.
 */
export async function takeOverInterruptedTarget(db: DatabaseRepository, dir: string, mark: InProgressMark, pgBin: string): Promise<void> {
  if (await pgIsRunning(dir, pgBin)) await pgStop(dir, pgBin);
  if (mark.work_dir !== '' && /pitrd-restore-[^/]+$/.test(mark.work_dir)) rmSync(mark.work_dir, { recursive: true, force: true });
  for (const name of readdirSync(dir)) {
    // The mark goes last: a crash in the middle leaves a directory that is still recognised.
    if (name !== IN_PROGRESS_MARK) rmSync(join(dir, name), { recursive: true, force: true });
  }
  removeInProgressMark(dir);
  const old = await db.restores.get(mark.restore).catch(() => null);
  if (old?.status === 'running' || old?.status === 'pending') {
    await db.restores.save({ ...old, status: 'failed', interrupted: true, error: INTERRUPTED_RESTORE_MESSAGE, error_public: INTERRUPTED_RESTORE_MESSAGE, completed_at: new Date().toISOString() });
  }
}
