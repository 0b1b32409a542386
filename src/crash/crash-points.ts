/**
 * TEST-ONLY crash points: named places on the data path where a test can make the process die
 * as if by `kill -9` (no cleanup, no last flush, no exit handlers), to prove that a crash at any
 * of them loses nothing. Never set these variables in production.
 *
 *   PITRD_CRASH_AT=<point>:<N>[,<point>:<N>…]   SIGKILL the process at the Nth hit of <point>
 *                                               (hits are counted per thread)
 *   PITRD_FLUSH_TRACE=<file>                    append one JSON line per durable position reached
 *                                               and per flush position confirmed to the server
 *
 * Unset (the normal case), crashPoint() and flushTrace() are empty functions chosen once at
 * load: nothing is parsed, counted or compared on the data path.
 */
import { appendFileSync } from 'node:fs';

/** Every crash point, in data-path order. */
export const CRASH_POINTS = [
  // receiver (src/receiver/segment-writer.ts, session.ts)
  'receiver.after-write',
  'receiver.after-fsync',
  'receiver.segment-fsynced',
  'receiver.segment-renamed',
  'receiver.segment-complete',
  'receiver.before-feedback',
  'receiver.after-feedback',
  // uploader (src/repository/wal-archive.ts, src/receiver/uploader.ts)
  'uploader.after-object-put',
  'uploader.after-marker',
  'uploader.before-spool-removal',
  // base backup (src/basebackup/runner.ts)
  'basebackup.after-start-record',
  'basebackup.after-data',
  // retention executor (src/retention/executor.ts)
  'retention.after-delete',
  // restore (src/restore/run.ts)
  'restore.after-extract',
] as const;

export type CrashPointName = (typeof CRASH_POINTS)[number];

/** `name:N,…` → the hit number to die at, per point. Throws on anything else (a test's typo must not pass as "no crash"). */
export function parseCrashSpec(spec: string): Map<CrashPointName, number> {
  const out = new Map<CrashPointName, number>();
  for (const part of spec.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^([a-z.-]+):([1-9]\d*)$/.exec(part);
    if (!m || !(CRASH_POINTS as readonly string[]).includes(m[1]!)) {
      throw new Error(`PITRD_CRASH_AT: "${part}" is not <point>:<N> with a known point (${CRASH_POINTS.join(', ')})`);
    }
    out.set(m[1] as CrashPointName, Number(m[2]));
  }
  return out;
}

function armed(spec: Map<CrashPointName, number>): (name: CrashPointName) => void {
  const hits = new Map<CrashPointName, number>();
  return (name) => {
    const at = spec.get(name);
    if (at === undefined) return;
    const n = (hits.get(name) ?? 0) + 1;
    hits.set(name, n);
    if (n === at) {
      // Synchronous: nothing else of this process runs after the line below.
      process.stderr.write(`PITRD_CRASH_AT: crashing at ${name} (hit ${n})\n`);
      process.kill(process.pid, 'SIGKILL');
    }
  };
}

const crashSpec = process.env.PITRD_CRASH_AT;
/** Die here if PITRD_CRASH_AT says so (test-only; a no-op otherwise). */
export const crashPoint: (name: CrashPointName) => void = crashSpec ? armed(parseCrashSpec(crashSpec)) : () => undefined;

const traceFile = process.env.PITRD_FLUSH_TRACE;
/**
 * Test-only trace of the durability contract: `durable` where the bytes up to `lsn` have just
 * become durable (after the fsync that covers them), `confirm` where a flush position is handed to
 * the socket. A test checks that no confirm ever passes the durable positions logged before it.
 * Written synchronously with O_APPEND, so a line survives a SIGKILL right after it.
 */
export const flushTrace: (kind: 'durable' | 'confirm', lsn: bigint) => void = traceFile
  ? (kind, lsn) => appendFileSync(traceFile, `${JSON.stringify({ kind, lsn: lsn.toString(), pid: process.pid })}\n`)
  : () => undefined;
