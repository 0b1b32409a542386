/**
 * One restore drill, the one body the daemon (./drills.ts) and `pitrd drill` run: a restore
 * (src/restore's three steps, through whichever runner the caller gives: the daemon's
 * RestoreManager with its limits, or runRestore's steps in the CLI) of a backup to the latest
 * point of its window, held to that point (strictLatest), left running in a scratch directory;
 * then the checks (src/postgres/cluster/drill-checks.ts), then the server is stopped and the
 * directory removed. Each phase is timed; the record (drills/{id}.json) says what failed where.
 */
import { rmSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { errorMessage, isPitrdError, PitrdError } from '../errors.js';
import { runDrillChecks, type DrillCheckResult } from '../postgres/cluster/index.js';
import { newId, type DatabaseRepository, type DrillFailure, type DrillPhase, type DrillRecord, type RestoreRecord } from '../repository/index.js';
import type { RestoreProgress, RestoreProgressListener, RestoreResult } from '../restore/index.js';
import { parseLsn } from '../wal/index.js';

/** What a drill asks of its restore runner: prepare and record (or refuse), then run in the background. */
export interface DrillRestoreOrder {
  targetDir: string;
  backupId?: string;
  onProgress: RestoreProgressListener;
  /** restores/{id}.json's extra fields: the drill's id. */
  recordFields: Record<string, unknown>;
}

export type DrillRestoreRunner = (order: DrillRestoreOrder) => Promise<{ record: RestoreRecord; result: Promise<RestoreResult> }>;

export interface DrillOptions {
  /** Default: a new one (newId('drl')). */
  id?: string;
  db: DatabaseRepository;
  trigger: 'schedule' | 'api' | 'cli';
  /** Default: the newest backup that reaches the end of the archive. */
  backupId?: string;
  /** The data directory to restore into (absent or empty); removed at the end. */
  scratchDir: string;
  /** A role of the source (it exists in the restored cluster): the checks look its superuser up through it. */
  user: string;
  /** The database the check queries run in. */
  dbname: string;
  checkSql: readonly string[];
  restore: DrillRestoreRunner;
  /** Each save of the record (running, then its end). */
  onRecord?: (rec: DrillRecord) => void;
  /** The restored server is up and checked: its stop (for an interrupted drill). */
  onServer?: (stop: (() => Promise<void>) | null) => void;
}

export interface StartedDrill {
  record: DrillRecord;
  /** The finished record (succeeded or failed); never rejects. */
  done: Promise<DrillRecord>;
}

/**
 * Refusals that say nothing about the repository: the drill did not run (nothing is recorded);
 * the caller answers them (the API's 409/507) or tries again later.
 */
const NOT_RUN = new Set(['RESTORE_LIMIT_REACHED', 'INSUFFICIENT_DISK_SPACE', 'CONFLICT', 'TARGET_DIR_NOT_EMPTY', 'DRILL_IN_PROGRESS', 'DATABASE_NOT_FOUND', 'VALIDATION_ERROR', 'POSTGRES_BINARIES_MISSING', 'STORAGE_UNAVAILABLE']);

/** The object a failure is about, as its error's context names it. */
export function failedObject(err: unknown): string | null {
  if (!isPitrdError(err)) return null;
  const c = err.context;
  for (const k of ['key', 'segment', 'backup', 'path']) if (typeof c[k] === 'string') return c[k] as string;
  return /\bobject (\S+?):? /.exec(err.message)?.[1] ?? null;
}

function failureOf(phase: DrillPhase, err: unknown): DrillFailure {
  return { phase, object: failedObject(err), code: isPitrdError(err) ? err.code : 'INTERNAL_ERROR', message: errorMessage(err) };
}

const secs = (ms: number) => Math.round(ms) / 1000;

/**
 * Admit the drill (the restore's checks: window, backup, limits, disk room) and record it; the
 * rest runs in the background. Refusals in NOT_RUN are thrown with nothing recorded; any other
 * (a WAL gap, a missing backup) is the drill's finding: recorded as failed in phase fetch.
 */
export async function startDrill(o: DrillOptions): Promise<StartedDrill> {
  const id = o.id ?? newId('drl');
  const t0 = performance.now();
  const marks: { planned?: number; replay?: number; reached?: number } = {};
  let phase: DrillPhase = 'fetch';
  let replayLsn: string | null = null;
  const onProgress = (p: RestoreProgress) => {
    const now = performance.now();
    // executeRestore has begun: the base backup's download and unpacking come first.
    if (p.phase === 'plan' || p.phase === 'extract') {
      marks.planned ??= now;
      phase = 'extract';
    }
    if (p.phase === 'replay') {
      marks.replay ??= now;
      phase = 'replay';
    } else if (p.phase === 'target_reached') {
      marks.reached ??= now;
      replayLsn = p.replay_lsn;
    }
  };
  const base: DrillRecord = {
    id,
    project: o.db.project,
    database: o.db.name,
    status: 'running',
    trigger: o.trigger,
    backup_id: o.backupId ?? null,
    restore_id: null,
    target: null,
    started_at: new Date().toISOString(),
    completed_at: null,
    phases: { fetch: null, extract: null, replay: null, checks: null },
    rto_seconds: null,
    wal: null,
    checks: null,
    failures: [],
  };
  const save = async (rec: DrillRecord): Promise<DrillRecord> => {
    const saved = await o.db.drills.save(rec);
    o.onRecord?.(saved);
    return saved;
  };
  let launched: { record: RestoreRecord; result: Promise<RestoreResult> };
  try {
    launched = await o.restore({ targetDir: o.scratchDir, ...(o.backupId !== undefined ? { backupId: o.backupId } : {}), onProgress, recordFields: { drill: id } });
  } catch (err) {
    if (isPitrdError(err) && NOT_RUN.has(err.code)) throw err;
    const failed = await save({ ...base, status: 'failed', completed_at: new Date().toISOString(), phases: { ...base.phases, fetch: secs(performance.now() - t0) }, failures: [failureOf('fetch', err)] });
    return { record: failed, done: Promise.resolve(failed) };
  }
  const raw = launched.record as Record<string, unknown>;
  const target = typeof raw.recovery_target === 'object' && raw.recovery_target !== null ? describe(raw.recovery_target as { kind: string; lsn?: string }) : 'latest';
  const first = await save({ ...base, backup_id: launched.record.backup_id, restore_id: launched.record.id, target });
  const done = (async (): Promise<DrillRecord> => {
    let rec = first;
    let result: RestoreResult | null = null;
    const failures: DrillFailure[] = [];
    let checks: DrillCheckResult | null = null;
    let checksMs: number | null = null;
    try {
      result = await launched.result;
      o.onServer?.(result.stopServer ?? null);
      phase = 'checks';
      const c0 = performance.now();
      if (result.socketDir === undefined || result.port === undefined) throw new PitrdError('INTERNAL_ERROR', `drill ${id}: the restored server is not running (no socket to check it through)`);
      checks = await runDrillChecks({ socketDir: result.socketDir, port: result.port, user: o.user, dbname: o.dbname, checkSql: o.checkSql });
      checksMs = performance.now() - c0;
      for (const f of checks.failures) failures.push({ phase: 'checks', object: f.object, code: f.code, message: f.message });
    } catch (err) {
      failures.push(failureOf(phase, err));
    } finally {
      if (result?.stopServer) await result.stopServer().catch((err: unknown) => failures.push(failureOf('checks', new PitrdError('INTERNAL_ERROR', `stopping the drill's server failed: ${errorMessage(err)}`))));
      o.onServer?.(null);
      rmSync(o.scratchDir, { recursive: true, force: true });
      rmSync(`${o.scratchDir}.tblspc`, { recursive: true, force: true });
    }
    // The restore's record: its data directory is gone (a drill keeps nothing).
    if (result) await o.db.restores.save({ ...result.record, removed_at: new Date().toISOString() }).catch(() => undefined);
    const planned = marks.planned ?? null;
    const phases = {
      fetch: planned !== null ? secs(planned - t0) : null,
      extract: planned !== null && marks.replay !== undefined ? secs(marks.replay - planned) : null,
      replay: marks.replay !== undefined && marks.reached !== undefined ? secs(marks.reached - marks.replay) : null,
      checks: checksMs !== null ? secs(checksMs) : null,
    };
    const rto = phases.fetch !== null && phases.extract !== null && phases.replay !== null ? Math.round((phases.fetch + phases.extract + phases.replay) * 1000) / 1000 : null;
    const backup = rec.backup_id !== null ? await o.db.backups.get(rec.backup_id).catch(() => null) : null;
    const wal = result
      ? { segments: result.record.wal_files_applied, bytes: replayLsn !== null && backup?.start_lsn ? Math.max(0, Number(parseLsn(replayLsn) - parseLsn(backup.start_lsn))) : 0 }
      : null;
    rec = {
      ...rec,
      status: failures.length === 0 ? 'succeeded' : 'failed',
      completed_at: new Date().toISOString(),
      phases,
      rto_seconds: rto,
      wal,
      checks: checks ? { databases: checks.databases, tables: checks.tables, rows: checks.rows, indexes_checked: checks.indexes_checked, amcheck_unavailable: checks.amcheck_unavailable, sql_checks: checks.sql_checks, table_rows: checks.table_rows } : null,
      failures,
    };
    try {
      return await save(rec);
    } catch {
      // The repository refused the record: the caller still learns the outcome.
      return rec;
    }
  })();
  return { record: first, done };
}

function describe(t: { kind: string; lsn?: string }): string {
  return t.kind === 'lsn' && t.lsn ? `lsn ${t.lsn}` : t.kind;
}
