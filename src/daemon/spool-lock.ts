/**
 * One daemon per spool. Two daemons on one config would both start receivers (the second only
 * fails later, on the port) and two receivers writing one spool corrupt it. The lock is taken
 * before anything else starts: an exclusive-create lock file in spool_dir with the holder's PID
 * (and, on Linux, its start time, so a PID reused by an unrelated process is not taken for the
 * holder). A lock whose holder is gone is stale and taken over.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { PitrdError } from '../errors.js';
import { processAlive, processStartTime } from '../process-owner.js';

export const SPOOL_LOCK_FILE = '.pitrd.lock';

interface Holder {
  pid: number;
  /** /proc/<pid>/stat start time (clock ticks since boot), or null where there is no /proc. */
  started: string | null;
  nonce: string;
}

export interface SpoolLock {
  file: string;
  /** Remove the lock file if it is still ours. */
  release(): void;
}

function alive(h: Holder): boolean {
  return processAlive(h.pid, h.started);
}

function readHolder(file: string): Holder | null {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as Partial<Holder>;
    if (typeof v.pid !== 'number' || !Number.isInteger(v.pid) || v.pid <= 0) return null;
    return { pid: v.pid, started: typeof v.started === 'string' ? v.started : null, nonce: String(v.nonce ?? '') };
  } catch {
    return null;
  }
}

function youngerThan(file: string, ms: number): boolean {
  try {
    return Date.now() - statSync(file).mtimeMs < ms;
  } catch {
    return false;
  }
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

export function lockSpool(spoolDir: string): SpoolLock {
  mkdirSync(spoolDir, { recursive: true, mode: 0o700 });
  const file = join(spoolDir, SPOOL_LOCK_FILE);
  const me: Holder = { pid: process.pid, started: processStartTime(process.pid), nonce: randomBytes(8).toString('hex') };
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      try {
        writeSync(fd, `${JSON.stringify(me)}\n`);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      return {
        file,
        release() {
          if (readHolder(file)?.nonce === me.nonce) unlinkSync(file);
        },
      };
    } catch (err) {
      if (errno(err) !== 'EEXIST') throw err;
    }
    const holder = readHolder(file);
    if (!holder && youngerThan(file, 5_000)) {
      // Just created and not yet written by a daemon starting right now: give it a moment.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
      continue;
    }
    if (holder && alive(holder)) {
      throw new PitrdError('SPOOL_LOCKED', `spool_dir ${spoolDir} is in use by pitrd process ${holder.pid} (lock file ${file}); stop that daemon first, or give this one another spool_dir`, {
        context: { spool_dir: spoolDir, lock_file: file, holder_pid: holder.pid },
      });
    }
    // Stale (its holder is gone) or half-written. Move it aside, then check that what was moved
    // is what was judged stale: a daemon that took the lock over meanwhile gets its file back.
    const aside = `${file}.stale-${me.nonce}`;
    try {
      renameSync(file, aside);
    } catch (err) {
      if (errno(err) === 'ENOENT') continue;
      throw err;
    }
    const moved = readHolder(aside);
    if (moved && holder && moved.nonce !== holder.nonce && alive(moved)) {
      try {
        linkSync(aside, file);
      } catch {
        /* someone else holds it now; the next attempt sees them */
      }
    }
    unlinkSync(aside);
  }
  throw new PitrdError('SPOOL_LOCKED', `could not take the lock of spool_dir ${spoolDir} (${file}): other processes keep taking it`, { context: { spool_dir: spoolDir, lock_file: file } });
}
