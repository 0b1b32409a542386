import { summarizeArchive } from '../catalog/index.js';
import { PitrdError } from '../errors.js';
import type { BackupRecord, DatabaseRepository, Repository } from '../repository/index.js';
import type { Lsn, TimelineId } from '../types.js';
import { formatLsn, parseLsn, parseSegmentName, parseTimelineHistory, segmentName, segnoOf, summaryFromJson, type SegmentSummary, type SegmentSummaryJson } from '../wal/index.js';
import type { RecoveryTarget } from './target.js';

/** What the window check needs, loaded once from the repository (pure data: unit-testable). */
export interface WindowCatalog {
  segSize: number;
  /** Archived segment numbers per timeline (one LIST). */
  archived: ReadonlyMap<TimelineId, ReadonlySet<bigint>>;
  /** Summaries of archived segments (same content), keyed `${timeline}:${segno}`. */
  summaries: ReadonlyMap<string, SegmentSummary>;
  /**
   * The restore plan's lineage: each timeline with the first segment read from it (oldest
   * first), as restore_command recovery reads them (a switch segment comes from the child).
   */
  lineage: readonly { tli: TimelineId; fromSegno: bigint }[];
}

/** Where the gap-free WAL from a backup's start ends, and what it holds. */
export interface WalReach {
  /** Last segment of the gap-free run from the backup's start. */
  lastSegment: string;
  /** End of the gap-free WAL (summary end, or the end of the last segment when unsummarised). */
  endLsn: Lsn;
  /** Last commit in the run at or after the backup's consistency point; null when none or unknown. */
  lastCommit: { time: string; lsn: Lsn } | null;
  /** False when a segment of the run has no summary yet: commit times and restore points are then unknown. */
  summarized: boolean;
  /** First missing segment between the backup's start and the last archived segment of the lineage. */
  firstMissing: string | null;
  /** Newest commit time in any summarised segment of the lineage, also beyond a gap. */
  latestCommitTime: string | null;
}

const key = (tli: TimelineId, segno: bigint) => `${tli}:${segno}`;

function tliFor(cat: WindowCatalog, segno: bigint): TimelineId {
  const lin = cat.lineage;
  for (let i = lin.length - 1; i > 0; i--) if (segno >= lin[i]!.fromSegno) return lin[i]!.tli;
  return lin[0]!.tli;
}

const has = (cat: WindowCatalog, segno: bigint) => cat.archived.get(tliFor(cat, segno))?.has(segno) ?? false;
const summaryAt = (cat: WindowCatalog, segno: bigint) => cat.summaries.get(key(tliFor(cat, segno), segno));

/** Segments of the lineage as restore would read them (each from the timeline it is read from). */
function lineageSegnos(cat: WindowCatalog): bigint[] {
  const out: bigint[] = [];
  for (const l of cat.lineage) for (const s of cat.archived.get(l.tli) ?? []) if (tliFor(cat, s) === l.tli) out.push(s);
  return out;
}

/** How far recovery from `backup` can replay on the catalog's lineage. Pure. */
export function walReach(cat: WindowCatalog, backup: BackupRecord): WalReach {
  const start = segnoOf(parseLsn(backup.start_lsn!), cat.segSize);
  const stopLsn = parseLsn(backup.stop_lsn!);
  const all = lineageSegnos(cat);
  const lastArchived = all.reduce((a, b) => (b > a ? b : a), start);
  let end = start;
  while (end < lastArchived && has(cat, end + 1n)) end++;
  let firstMissing: string | null = null;
  if (!has(cat, start)) firstMissing = segmentName(tliFor(cat, start), start, cat.segSize);
  else if (end < lastArchived) firstMissing = segmentName(tliFor(cat, end + 1n), end + 1n, cat.segSize);
  let summarized = true;
  let lastCommit: WalReach['lastCommit'] = null;
  for (let s = end; s >= start; s--) {
    const sum = summaryAt(cat, s);
    if (!sum) {
      summarized = false;
      continue;
    }
    if (lastCommit === null && sum.lastCommitTime !== null && sum.lastCommitLsn !== null && sum.lastCommitLsn >= stopLsn) {
      lastCommit = { time: sum.lastCommitTime, lsn: sum.lastCommitLsn };
    }
  }
  const endSum = summaryAt(cat, end);
  let latestCommitTime: string | null = null;
  for (const s of all) {
    const t = summaryAt(cat, s)?.lastCommitTime ?? null;
    if (t !== null && (latestCommitTime === null || micros(t) > micros(latestCommitTime))) latestCommitTime = t;
  }
  return {
    lastSegment: segmentName(tliFor(cat, end), end, cat.segSize),
    endLsn: endSum ? endSum.endLsn : (end + 1n) * BigInt(cat.segSize),
    lastCommit,
    summarized,
    firstMissing,
    latestCommitTime,
  };
}

/**
 * The newest restore point called `name` on the lineage, or null. `complete` says whether every
 * archived segment of the lineage has a summary (else an unseen one may still hold the name).
 */
export function findRestorePoint(cat: WindowCatalog, name: string): { point: { lsn: Lsn; time: string } | null; complete: boolean } {
  let point: { lsn: Lsn; time: string } | null = null;
  let complete = true;
  for (const s of lineageSegnos(cat)) {
    const sum = summaryAt(cat, s);
    if (!sum) {
      complete = false;
      continue;
    }
    for (const p of sum.restorePoints) if (p.name === name && (point === null || p.lsn > point.lsn)) point = { lsn: p.lsn, time: p.time };
  }
  return { point, complete };
}

/**
 * Refuse, before anything is written, a target the archive cannot reach from `backup`:
 * - a time after the last archived commit, or an LSN beyond the gap-free WAL → TARGET_TIME_INVALID;
 * - a target that lies beyond a missing segment → WAL_GAP naming the first missing segment;
 * - `latest` with a gap after the backup → WAL_GAP: PostgreSQL would stop at the gap and promote,
 *   silently dropping every archived commit after it; ask for a time/LSN inside the window instead.
 * Time checks need summaries: with unsummarised segments in the run the upper time bound is
 * unknown and left to PostgreSQL rather than refused on a guess. xid targets cannot be placed.
 * Pure.
 */
export function assertTargetInWindow(cat: WindowCatalog, backup: BackupRecord, target: RecoveryTarget, namedLsn?: Lsn): WalReach {
  const r = walReach(cat, backup);
  const window = `recovery window from ${backup.stop_time} (backup ${backup.id}, LSN ${backup.stop_lsn}) to ${r.lastCommit?.time ?? backup.stop_time} (LSN ${formatLsn(r.lastCommit?.lsn ?? parseLsn(backup.stop_lsn!))}), gap-free WAL to ${formatLsn(r.endLsn)} in ${r.lastSegment}`;
  const gap = (what: string) =>
    new PitrdError('WAL_GAP', `${what} lies beyond the missing WAL segment ${r.firstMissing}: recovery from backup ${backup.id} would stop there (${window})`, {
      context: { segment: r.firstMissing, backup: backup.id, last_segment: r.lastSegment, end_lsn: formatLsn(r.endLsn) },
    });
  if (target.kind === 'time') {
    if (!r.summarized) return r;
    const to = r.lastCommit && micros(r.lastCommit.time) > micros(backup.stop_time!) ? r.lastCommit.time : backup.stop_time!;
    if (micros(target.time) <= micros(to)) return r;
    if (r.firstMissing !== null && r.latestCommitTime !== null && micros(target.time) <= micros(r.latestCommitTime)) throw gap(`recovery target time ${target.time}`);
    throw new PitrdError(
      'TARGET_TIME_INVALID',
      `recovery target time ${target.time} is after the last archived commit ${r.latestCommitTime ?? to}: outside the ${window}${r.firstMissing ? `; segment ${r.firstMissing} is missing` : ''}`,
      { context: { target_time: target.time, from: backup.stop_time, to, backup: backup.id, first_missing: r.firstMissing } },
    );
  }
  if (target.kind === 'lsn') {
    const l = parseLsn(target.lsn);
    if (l <= r.endLsn) return r;
    if (r.firstMissing !== null) throw gap(`recovery target LSN ${target.lsn}`);
    throw new PitrdError('TARGET_TIME_INVALID', `recovery target LSN ${target.lsn} is beyond the last archived LSN ${formatLsn(r.endLsn)} (end of ${r.lastSegment}): outside the ${window}`, {
      context: { target_lsn: target.lsn, end_lsn: formatLsn(r.endLsn), backup: backup.id },
    });
  }
  if (target.kind === 'latest' && r.firstMissing !== null) throw gap('recovery target latest (the end of the archive)');
  if (target.kind === 'name' && namedLsn !== undefined && namedLsn > r.endLsn) throw gap(`restore point "${target.name}" at LSN ${formatLsn(namedLsn)}`);
  return r;
}

/** ISO 8601 to microseconds since the Unix epoch, keeping sub-millisecond digits. */
export function micros(iso: string): bigint {
  const ms = Date.parse(iso);
  const sub = /[T ]\d\d:\d\d:\d\d\.\d{3}(\d{1,3})/.exec(iso)?.[1]?.padEnd(3, '0') ?? '000';
  return BigInt(ms) * 1000n + BigInt(sub);
}

/**
 * Load the catalog for a restore: summaries first brought up to date when `repo` is given
 * (incremental: only segments archived since the last run are read), then one LIST of segments,
 * the stored summaries of still-archived segments and the lineage's history.
 */
export async function loadWindowCatalog(db: DatabaseRepository, segSize: number, targetTimeline: TimelineId, repo?: Repository): Promise<WindowCatalog> {
  if (repo) await summarizeArchive(repo, db.name);
  const archived = new Map<TimelineId, Set<bigint>>();
  const sha = new Map<string, string>();
  for await (const s of db.wal.listSegments()) {
    const { segno } = parseSegmentName(s.name, segSize);
    if (!archived.has(s.timeline)) archived.set(s.timeline, new Set());
    archived.get(s.timeline)!.add(segno);
    sha.set(key(s.timeline, segno), s.sha256);
  }
  const summaries = new Map<string, SegmentSummary>();
  for (const rec of await db.walSummaries.list<SegmentSummaryJson & { restarted?: boolean }>()) {
    try {
      const { restarted: _r, ...json } = rec.record;
      const sum = summaryFromJson(json);
      // A summary of a segment since removed or replaced says nothing about the archive now.
      if (sha.get(key(sum.timeline, sum.segno)) === sum.sha256) summaries.set(key(sum.timeline, sum.segno), sum);
    } catch {
      // Unreadable summaries are derived data: treat as absent (the run is then "unsummarised").
    }
  }
  const lineage: { tli: TimelineId; fromSegno: bigint }[] = [];
  let begin = 0n;
  if (targetTimeline > 1) {
    const h = await db.wal.getHistory(targetTimeline);
    if (h) {
      for (const e of parseTimelineHistory(targetTimeline, h.toString('utf8')).entries) {
        lineage.push({ tli: e.parent, fromSegno: segnoOf(begin, segSize) });
        begin = e.switchLsn;
      }
    }
  }
  lineage.push({ tli: targetTimeline, fromSegno: segnoOf(begin, segSize) });
  return { segSize, archived, summaries, lineage };
}
