import { readFileSync } from 'node:fs';
import { query, type RecoveryServer } from '../postgres/cluster/index.js';

/**
 * What a running restore reports through RunRestoreOptions.onProgress, in this order: one
 * `plan`, `extract` as base-backup bytes are unpacked, `replay` while PostgreSQL replays WAL,
 * one `target_reached`. Emitted in the restoring process; a listener must not throw.
 */
export type RestoreProgress =
  | { phase: 'plan'; backup_id: string; backup_start_lsn: string | null; target_timeline: number; segments_total: number }
  | { phase: 'extract'; file: string; bytes_done: number; bytes_total: number }
  | { phase: 'replay'; segments_applied: number; segments_total: number; replay_lsn: string | null }
  | { phase: 'target_reached'; outcome: 'promoted' | 'paused' | 'stopped'; segments_applied: number; replay_lsn: string | null };

export type RestoreProgressListener = (p: RestoreProgress) => void;

/**
 * Distinct WAL segments the restore_command has handed to PostgreSQL so far (its applied log;
 * PostgreSQL may ask for one segment twice, and history files are not segments).
 */
export function appliedCount(appliedLog: string): number {
  try {
    return new Set(readFileSync(appliedLog, 'utf8').split('\n').filter((l) => /^[0-9A-F]{24}$/.test(l.trim()))).size;
  } catch {
    return 0;
  }
}

/**
 * While recovery runs, report segments applied (the restore_command's log) and the replay LSN
 * (asked of the server; null until it accepts connections). Returns a stop function that
 * resolves once no poll is in flight and gives the last replay LSN seen.
 */
export function watchReplay(server: RecoveryServer, appliedLog: string, segmentsTotal: number, emit: RestoreProgressListener, everyMs = 500): () => Promise<string | null> {
  let lsn: string | null = null;
  let inFlight: Promise<void> | null = null;
  const poll = async () => {
    try {
      const [r] = await query<{ lsn: string | null }>(server, 'SELECT pg_last_wal_replay_lsn()::text AS lsn');
      if (r?.lsn) lsn = r.lsn;
    } catch {
      // Not accepting connections yet (still reaching consistency), or shutting down.
    }
    emit({ phase: 'replay', segments_applied: appliedCount(appliedLog), segments_total: segmentsTotal, replay_lsn: lsn });
  };
  // At once: the phase starts now, whatever the poll interval.
  emit({ phase: 'replay', segments_applied: appliedCount(appliedLog), segments_total: segmentsTotal, replay_lsn: null });
  const timer = setInterval(() => {
    if (!inFlight) inFlight = poll().finally(() => (inFlight = null));
  }, everyMs);
  return async () => {
    clearInterval(timer);
    await inFlight;
    // A short recovery can end before the first poll: ask once more (the value stays readable
    // after promotion), else fall back to the "redo done at" line of the server log.
    try {
      const [r] = await query<{ lsn: string | null }>(server, 'SELECT pg_last_wal_replay_lsn()::text AS lsn');
      if (r?.lsn) lsn = r.lsn;
    } catch {
      lsn ??= redoDoneLsn(server.logFile);
    }
    return lsn;
  };
}

/** The LSN of PostgreSQL's "redo done at X/Y" log line, if recovery logged one. */
export function redoDoneLsn(logFile: string): string | null {
  try {
    return /redo done at ([0-9A-F]+\/[0-9A-F]+)/.exec(readFileSync(logFile, 'utf8'))?.[1] ?? null;
  } catch {
    return null;
  }
}
