import { loadWindowInput, locateXid, summarizeDatabase } from '../catalog/index.js';
import { PitrdError } from '../errors.js';
import type { BackupRecord, DatabaseRepository, Repository } from '../repository/index.js';
import type { Lsn } from '../types.js';
import { admitTarget, lineageTimelines, parseTimelineHistory, xidCandidates, type Admission, type TimelineHistory, type WindowInput, type XidCandidate } from '../wal/index.js';
import { assertTarget, type RecoveryOptions, type RecoveryTarget } from './target.js';

export interface RestorePlan {
  backup: BackupRecord;
  walSegmentSize: number;
  /** The target timeline and its ancestors (what the prefetcher may fetch). */
  timelines: Set<number>;
  targetTimeline: number;
  /** How far the archived WAL reaches from the chosen backup (checked against the target). */
  reach: Admission['reach'];
  /** What PostgreSQL is told: the asked target, or its translation to one it can reach (see src/wal/admit.ts). */
  recovery: { target: RecoveryTarget; inclusive: boolean | undefined; translated: string | null };
}

/**
 * Where the plan's catalog data comes from: the summaries brought up to date and loaded, and an
 * xid's record looked up in the segments the summaries point at. The CLI reads the repository
 * directly (repositoryCatalog); the daemon asks its catalog thread, which the API's recovery
 * window is computed on too.
 */
export interface PlanCatalog {
  windowInput(db: DatabaseRepository): Promise<WindowInput>;
  locateXid(db: DatabaseRepository, candidates: readonly XidCandidate[], xid: number): Promise<Lsn | null>;
}

/**
 * The catalog read in this thread: WAL summaries are brought up to date first (incremental: only
 * segments archived since the last run are read), since a segment without one counts as missing.
 */
export function repositoryCatalog(): PlanCatalog {
  return {
    async windowInput(db) {
      await summarizeDatabase(db);
      return loadWindowInput(db);
    },
    locateXid,
  };
}

export interface PlanOptions extends RecoveryOptions {
  backupId?: string;
  /** Unused (summaries are always brought up to date); kept for callers that pass it. */
  repo?: Repository;
  catalog?: PlanCatalog;
}

/**
 * Decide what to restore from, reading only the repository (WAL summaries excepted: they are
 * brought up to date first): the target admitted against the same recovery window the API
 * reports (src/wal/admit.ts), the backup chosen by the target's position in the WAL. Nothing is
 * written anywhere, so a refused target leaves no trace.
 */
export async function planRestore(db: DatabaseRepository, opts: PlanOptions): Promise<RestorePlan> {
  assertTarget(opts.target);
  const info = await db.info();
  if (!info) throw new PitrdError('DATABASE_NOT_FOUND', `database "${db.name}" has no database.json in the repository`, { context: { database: db.name } });
  const { timelines, targetTimeline } = await lineage(db, opts.timeline);
  const catalog = opts.catalog ?? repositoryCatalog();
  const input = await catalog.windowInput(db);
  const t = opts.target;
  let xidLsn: Lsn | null | undefined;
  if (t.kind === 'xid') {
    // PostgreSQL keeps the low 32 bits of an epoch-qualified xid: so does the lookup.
    const xid = Number(BigInt(t.xid) & 0xffffffffn);
    xidLsn = await catalog.locateXid(db, xidCandidates(input, targetTimeline, xid), xid);
  }
  const a = admitTarget(input, {
    timeline: targetTimeline,
    target: t,
    ...(opts.inclusive !== undefined ? { inclusive: opts.inclusive } : {}),
    ...(opts.backupId !== undefined ? { backupId: opts.backupId } : {}),
    ...(xidLsn !== undefined ? { xidLsn } : {}),
  });
  const backup = await db.backups.get(a.backup.id);
  if (!backup || backup.status !== 'completed') {
    throw new PitrdError('BACKUP_NOT_FOUND', `backup ${a.backup.id} of database "${db.name}" ${backup ? `is ${backup.status}, not completed` : 'does not exist'}`, { context: { backup: a.backup.id } });
  }
  return { backup, walSegmentSize: info.wal_segment_size, timelines, targetTimeline, reach: a.reach, recovery: { target: a.target, inclusive: a.inclusive, translated: a.translated } };
}

async function lineage(db: DatabaseRepository, timeline: RecoveryOptions['timeline']): Promise<{ timelines: Set<number>; targetTimeline: number }> {
  let target: number;
  if (typeof timeline === 'number') target = timeline;
  else {
    const withHistory = await db.wal.historyTimelines();
    const last = await db.wal.lastSegment();
    target = Math.max(1, last?.timeline ?? 1, ...withHistory);
  }
  let history: TimelineHistory | undefined;
  if (target > 1) {
    const h = await db.wal.getHistory(target);
    if (!h) throw new PitrdError('WAL_NOT_ARCHIVED', `history file of timeline ${target} is not in the repository of database "${db.name}"`, { context: { timeline: target } });
    history = parseTimelineHistory(target, h.toString('utf8'));
  }
  return { timelines: new Set(lineageTimelines(target, history)), targetTimeline: target };
}
