import { PitrdError } from '../errors.js';
import type { BackupRecord, DatabaseRepository, Repository } from '../repository/index.js';
import { parseLsn, parseTimelineHistory, segmentName, segnoOf } from '../wal/index.js';
import { selectBackup } from './select-backup.js';
import { assertTarget, type RecoveryOptions } from './target.js';
import { assertTargetInWindow, findRestorePoint, loadWindowCatalog, type WalReach, type WindowCatalog } from './window-check.js';

export interface RestorePlan {
  backup: BackupRecord;
  walSegmentSize: number;
  /** The target timeline and its ancestors (what the prefetcher may fetch). */
  timelines: Set<number>;
  targetTimeline: number;
  /** How far the archived WAL reaches from the chosen backup (checked against the target). */
  reach: WalReach;
}

export interface PlanOptions extends RecoveryOptions {
  backupId?: string;
  /** When given, WAL summaries are brought up to date first (incremental) so the window is current. */
  repo?: Repository;
}

/**
 * Decide what to restore from, reading only the repository (WAL summaries excepted: with `repo`
 * they are brought up to date first): target checked against the recovery window, backup chosen,
 * every WAL segment from the backup's start to its stop present in the archive. Nothing else is
 * written anywhere, so a refused target leaves no trace.
 */
export async function planRestore(db: DatabaseRepository, opts: PlanOptions): Promise<RestorePlan> {
  assertTarget(opts.target);
  const info = await db.info();
  if (!info) throw new PitrdError('DATABASE_NOT_FOUND', `database "${db.name}" has no database.json in the repository`, { context: { database: db.name } });
  const { timelines, targetTimeline } = await lineage(db, opts.timeline);
  const catalog = await loadWindowCatalog(db, info.wal_segment_size, targetTimeline, opts.repo);
  let explicit: BackupRecord | null = null;
  if (opts.backupId !== undefined) {
    const b = await db.backups.get(opts.backupId);
    if (!b || b.status !== 'completed') {
      throw new PitrdError('BACKUP_NOT_FOUND', `backup ${opts.backupId} of database "${db.name}" ${b ? `is ${b.status}, not completed` : 'does not exist'}`, { context: { backup: opts.backupId } });
    }
    explicit = b;
  }
  const { backup, reach } = choosePlan(catalog, explicit ? [explicit] : await db.backups.list(), opts.target, explicit ? null : timelines);
  await assertBackupWal(db, backup, info.wal_segment_size);
  return { backup, walSegmentSize: info.wal_segment_size, timelines, targetTimeline, reach };
}

/**
 * The pure part of the plan over loaded catalog data: a restore point is looked up in the
 * summaries (its LSN picks the newest backup that is consistent before it; an unknown name is
 * refused once every segment is summarised), the backup is chosen, and the target is checked
 * against the WAL reachable from it.
 */
export function choosePlan(catalog: WindowCatalog, backups: readonly BackupRecord[], target: RecoveryOptions['target'], timelines: ReadonlySet<number> | null): { backup: BackupRecord; reach: WalReach } {
  let namedLsn: bigint | undefined;
  if (target.kind === 'name') {
    const { point, complete } = findRestorePoint(catalog, target.name);
    if (point) namedLsn = point.lsn;
    else if (complete) {
      throw new PitrdError('TARGET_TIME_INVALID', `restore point "${target.name}" is not in the archived WAL of the restore's timeline lineage (no summarised segment holds a restore point of that name)`, {
        context: { target_name: target.name },
      });
    }
  }
  const backup = selectBackup(backups, target, timelines, namedLsn);
  return { backup, reach: assertTargetInWindow(catalog, backup, target, namedLsn) };
}

async function lineage(db: DatabaseRepository, timeline: RecoveryOptions['timeline']): Promise<{ timelines: Set<number>; targetTimeline: number }> {
  let target: number;
  if (typeof timeline === 'number') target = timeline;
  else {
    const withHistory = await db.wal.historyTimelines();
    const last = await db.wal.lastSegment();
    target = Math.max(1, last?.timeline ?? 1, ...withHistory);
  }
  const timelines = new Set<number>([target]);
  if (target > 1) {
    const h = await db.wal.getHistory(target);
    if (!h) throw new PitrdError('WAL_NOT_ARCHIVED', `history file of timeline ${target} is not in the repository of database "${db.name}"`, { context: { timeline: target } });
    for (const e of parseTimelineHistory(target, h.toString('utf8')).entries) timelines.add(e.parent);
  }
  return { timelines, targetTimeline: target };
}

/** Without every segment from start to stop, the backup can never become consistent. */
async function assertBackupWal(db: DatabaseRepository, b: BackupRecord, segSize: number): Promise<void> {
  const have = new Set<string>();
  for await (const s of db.wal.listSegments(b.timeline!)) have.add(s.name);
  const first = segnoOf(parseLsn(b.start_lsn!), segSize);
  const last = segnoOf(parseLsn(b.stop_lsn!), segSize);
  for (let n = first; n <= last; n++) {
    const name = segmentName(b.timeline!, n, segSize);
    if (!have.has(name)) {
      throw new PitrdError('WAL_GAP', `WAL segment ${name} needed by backup ${b.id} (start ${b.start_lsn}, stop ${b.stop_lsn}) is not in the archive of database "${db.name}"`, {
        context: { backup: b.id, segment: name, timeline: b.timeline },
      });
    }
  }
}
