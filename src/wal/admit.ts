/**
 * Target admission: which base backup a recovery target is restored from, whether PostgreSQL can
 * reach it from there, and the recovery target to give PostgreSQL so that it stops exactly there.
 * Pure, over the same stretches the recovery window reports (./window.ts): a target is accepted
 * exactly when the window contains it.
 *
 * PostgreSQL stops only at a record: a time target before the first commit later than it, an LSN
 * target at the first record starting at or after it. A time after the last commit (up to the
 * time the WAL runs through) or an LSN after the last record's start (up to the end of the WAL)
 * has no such record in the archive, and recovery would end with "recovery ended before
 * configured recovery target was reached". Both mean "replay all of this WAL": they are given to
 * PostgreSQL as the last record's LSN, inclusive (or `immediate` when no record follows the
 * consistency point), which is the same state.
 */
import { PitrdError } from '../errors.js';
import type { Lsn, TimelineId } from '../types.js';
import { formatLsn, parseLsn } from './lsn.js';
import { Lineage, lineageBackups, micros, type Reach, type WindowBackup, type WindowInput } from './reach.js';
import { segmentName, segnoOf } from './segment.js';
import { rangesOf, restorableReaches, type WindowRange } from './window.js';

/** PostgreSQL's recovery_target_* family, one kind at a time (the restore's RecoveryTarget). */
export type WalTarget =
  | { kind: 'time'; time: string }
  | { kind: 'lsn'; lsn: string }
  | { kind: 'xid'; xid: string }
  | { kind: 'name'; name: string }
  | { kind: 'latest' }
  | { kind: 'immediate' };

export interface AdmitRequest {
  timeline: TimelineId;
  target: WalTarget;
  /** recovery_target_inclusive as asked (default true). */
  inclusive?: boolean;
  /** Restore from this backup only. */
  backupId?: string;
  /** For an xid target: the LSN of its commit or abort record in the lineage (see xidCandidates), null when none. */
  xidLsn?: Lsn | null;
}

export interface Admission {
  backup: WindowBackup;
  reach: Reach;
  /** The recovery target to give PostgreSQL (the asked one, or its translation). */
  target: WalTarget;
  inclusive: boolean | undefined;
  /** Set when the target was translated: why, for the record and the log. */
  translated: string | null;
}

const cmp = (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0);

/** Every restore point on the lineage's archived WAL, in WAL order. */
export function restorePointsOf(lin: Lineage, name?: string): { name: string; time: string; lsn: Lsn }[] {
  const out: { name: string; time: string; lsn: Lsn }[] = [];
  for (const s of lin.segnos()) for (const p of lin.at(s)!.restorePoints ?? []) if (name === undefined || p.name === name) out.push(p);
  return out.sort((a, b) => cmp(a.lsn, b.lsn));
}

export interface XidCandidate {
  timeline: TimelineId;
  segno: bigint;
  name: string;
  /** The segment read before it in this lineage (its summary holds the reader's state), if archived. */
  prev: { timeline: TimelineId; name: string } | null;
}

/** Segments of the lineage whose commit/abort xid range holds `xid`: where to look for its record. */
export function xidCandidates(input: WindowInput, timeline: TimelineId, xid: number): XidCandidate[] {
  const lin = new Lineage(timeline, input);
  return lin
    .segnos()
    .filter((s) => {
      const seg = lin.at(s)!;
      return seg.minXid != null && seg.maxXid != null && seg.minXid <= xid && xid <= seg.maxXid;
    })
    .map((s) => ({ timeline: lin.tliFor(s), segno: s, name: lin.name(s), prev: s > 0n && lin.at(s - 1n) ? { timeline: lin.tliFor(s - 1n), name: lin.name(s - 1n) } : null }));
}

/** The newest backup of a stretch whose consistency point is at or before `ok` says so. */
function newestIn(range: WindowRange, ok: (r: Reach) => boolean): Reach | null {
  for (let i = range.reaches.length - 1; i >= 0; i--) if (ok(range.reaches[i]!)) return range.reaches[i]!;
  return null;
}

/** The window as a sentence, as the API reports it (first stretch = from/to). */
export function describeWindow(ranges: readonly WindowRange[]): string {
  if (ranges.length === 0) return 'no recovery window';
  const one = (r: WindowRange) => `from ${r.from} to ${r.to} (LSN ${formatLsn(r.fromLsn)} to ${formatLsn(r.toLsn)}, backup ${r.backupId}, WAL through ${r.lastSegment})`;
  return `recovery window ${one(ranges[0]!)}${ranges.length > 1 ? `, then past missing WAL ${ranges.slice(1).map(one).join(', ')}` : ''}`;
}

/** Decide backup and PostgreSQL target for a restore, or refuse before anything is written. */
export function admitTarget(input: WindowInput, req: AdmitRequest): Admission {
  const lin = new Lineage(req.timeline, input);
  const completed = lineageBackups(lin, input.backups);
  if (completed.length === 0) {
    throw new PitrdError('BACKUP_NOT_FOUND', `no completed base backup to restore from on timeline ${req.timeline} or its ancestors`, { context: { timeline: req.timeline } });
  }
  let ranges = rangesOf(restorableReaches(lin, input));
  if (req.backupId !== undefined) {
    const b = completed.find((x) => x.id === req.backupId);
    if (!b) throw new PitrdError('BACKUP_NOT_FOUND', `backup ${req.backupId} is not a completed base backup on timeline ${req.timeline} or its ancestors`, { context: { backup: req.backupId } });
    // Only that backup: its stretch, from its consistency point.
    ranges = ranges.flatMap((r) => {
      const i = r.reaches.findIndex((x) => x.backup.id === b.id);
      if (i < 0) return [];
      return [{ ...r, backupId: b.id, from: b.stop_time, fromLsn: b.stop_lsn, reaches: [r.reaches[i]!] }];
    });
    if (ranges.length === 0) throw missingWal(lin, b);
  }
  if (ranges.length === 0) throw missingWal(lin, completed[completed.length - 1]!);
  const window = describeWindow(ranges);
  const t = req.target;
  const inclusive = req.inclusive;
  const admitted = (reach: Reach, target: WalTarget = t, translated: string | null = null, incl = inclusive): Admission => ({ backup: reach.backup, reach, target, inclusive: incl, translated });
  /** "Replay all of this backup's gap-free WAL" as PostgreSQL can reach it. */
  const toEnd = (reach: Reach, why: string): Admission =>
    reach.lastRecordLsn >= reach.backup.stop_lsn
      ? admitted(reach, { kind: 'lsn', lsn: formatLsn(reach.lastRecordLsn) }, `${why}: replay through the last archived record at ${formatLsn(reach.lastRecordLsn)}`, true)
      : admitted(reach, { kind: 'immediate' }, `${why}: no record follows the consistency point of backup ${reach.backup.id}`, undefined);

  const newestOverall = () => ranges[ranges.length - 1]!.reaches[ranges[ranges.length - 1]!.reaches.length - 1]!;
  if (t.kind === 'immediate') return admitted(newestOverall());
  if (t.kind === 'latest') {
    const reach = newestOverall();
    if (reach.firstMissing !== null) {
      throw new PitrdError('WAL_GAP', `recovery target latest (the end of the archive) lies beyond the missing WAL segment ${reach.firstMissing}: recovery from backup ${reach.backup.id} would stop there and promote, dropping every archived commit after it; ask for a time or LSN in the ${window}`, {
        context: { segment: reach.firstMissing, backup: reach.backup.id, last_segment: reach.lastSegment, end_lsn: formatLsn(reach.endLsn) },
      });
    }
    return admitted(reach);
  }

  if (t.kind === 'time') {
    const at = micros(t.time);
    const range = ranges.find((r) => micros(r.from) <= at && at <= micros(r.to));
    if (!range) throw outside(ranges, window, `recovery target time ${t.time}`, (r) => at < micros(r.from), { target_time: t.time });
    const reach = newestIn(range, (r) => micros(r.backup.stop_time) <= at)!;
    const later = reach.maxCommitTime !== null && (inclusive === false ? micros(reach.maxCommitTime) >= at : micros(reach.maxCommitTime) > at);
    return later ? admitted(reach) : toEnd(reach, `no archived commit is later than ${t.time}, and the WAL runs through ${range.to}`);
  }

  if (t.kind === 'lsn') {
    const l = parseLsn(t.lsn);
    const range = ranges.find((r) => r.fromLsn <= l && l <= r.toLsn);
    if (!range) throw outside(ranges, window, `recovery target LSN ${t.lsn}`, (r) => l < r.fromLsn, { target_lsn: t.lsn });
    const reach = newestIn(range, (r) => r.backup.stop_lsn <= l)!;
    return l <= reach.lastRecordLsn ? admitted(reach) : toEnd(reach, `no archived record starts at or after ${t.lsn}`);
  }

  if (t.kind === 'xid') {
    const l = req.xidLsn ?? null;
    if (l === null) {
      throw new PitrdError('TARGET_TIME_INVALID', `transaction ${t.xid} has no commit or abort record in the archived WAL of timeline ${req.timeline}'s lineage: nothing to stop at (${window})`, {
        context: { target_xid: t.xid, timeline: req.timeline },
      });
    }
    const range = ranges.find((r) => r.fromLsn <= l && l <= r.toLsn);
    if (!range) throw outside(ranges, window, `transaction ${t.xid} (its commit or abort at LSN ${formatLsn(l)})`, (r) => l < r.fromLsn, { target_xid: t.xid, target_lsn: formatLsn(l) });
    return admitted(newestIn(range, (r) => r.backup.stop_lsn <= l)!);
  }

  // A restore point: PostgreSQL stops at the first one of that name after the consistency point
  // of the backup it replays from. A name used more than once is refused unless a backup says
  // which occurrence is meant, so the plan and the server always mean the same one.
  const points = restorePointsOf(lin, t.name);
  if (points.length === 0) {
    throw new PitrdError('TARGET_TIME_INVALID', `restore point "${t.name}" is not in the archived WAL of timeline ${req.timeline}'s lineage (${window})`, { context: { target_name: t.name } });
  }
  if (points.length > 1 && req.backupId === undefined) {
    const list = points.map((p) => `LSN ${formatLsn(p.lsn)} at ${p.time}`).join(', ');
    throw new PitrdError('TARGET_AMBIGUOUS', `restore point "${t.name}" was created ${points.length} times on this lineage (${list}): give a backup to restore from; recovery stops at the first one after that backup's consistency point`, {
      context: { target_name: t.name, occurrences: points.map((p) => ({ lsn: formatLsn(p.lsn), time: p.time })) },
    });
  }
  for (const range of ranges) {
    const reach = range.reaches[range.reaches.length - 1]!;
    const p = req.backupId !== undefined ? points.find((x) => x.lsn >= reach.backup.stop_lsn) : points[0];
    if (p && range.fromLsn <= p.lsn && p.lsn <= range.toLsn) return admitted(newestIn(range, (r) => r.backup.stop_lsn <= p.lsn)!);
  }
  const p = points[0]!;
  throw outside(ranges, window, `restore point "${t.name}" (LSN ${formatLsn(p.lsn)})`, (r) => p.lsn < r.fromLsn, { target_name: t.name, target_lsn: formatLsn(p.lsn) });
}

/** A target in no stretch: before the window, beyond a missing segment, or past the end of the WAL. */
function outside(ranges: readonly WindowRange[], window: string, what: string, before: (r: WindowRange) => boolean, context: Record<string, unknown>): PitrdError {
  const ctx = { ...context, from: ranges[0]!.from, to: ranges[0]!.to, from_lsn: formatLsn(ranges[0]!.fromLsn), to_lsn: formatLsn(ranges[0]!.toLsn) };
  if (before(ranges[0]!)) {
    return new PitrdError('TARGET_TIME_INVALID', `${what} is before the earliest recoverable point (the consistency point of the oldest restorable base backup): outside the ${window}`, { context: ctx });
  }
  // After stretch i: past the missing segment that ends it, unless it is the last.
  const i = ranges.findLastIndex((r) => !before(r));
  const reach = ranges[i]!.reaches[0]!;
  if (reach.firstMissing !== null) {
    return new PitrdError('WAL_GAP', `${what} lies beyond the missing WAL segment ${reach.firstMissing}: recovery would stop there (${window})`, {
      context: { ...ctx, segment: reach.firstMissing, last_segment: reach.lastSegment, end_lsn: formatLsn(reach.endLsn) },
    });
  }
  const newest = ranges[i]!.reaches[ranges[i]!.reaches.length - 1]!.backup;
  const commit = reach.lastCommit ? `the last archived commit is at ${reach.lastCommit.time}, ` : '';
  return new PitrdError(
    'TARGET_TIME_INVALID',
    `${what} is after the last archived commit and the end of the archived WAL (${commit}the WAL runs through ${ranges[i]!.to}, the last archived LSN is ${formatLsn(reach.endLsn)}, end of ${reach.lastSegment}; newest restorable backup ${newest.id}, consistent at ${newest.stop_time}): outside the ${window}`,
    { context: { ...ctx, end_lsn: formatLsn(reach.endLsn), backup: newest.id } },
  );
}

/** A backup whose WAL from start to stop is not all archived: name the first missing segment. */
function missingWal(lin: Lineage, b: WindowBackup): PitrdError {
  const first = segnoOf(b.start_lsn, lin.segSize);
  const last = segnoOf(b.stop_lsn, lin.segSize);
  let missing = segmentName(lin.tliFor(first), first, lin.segSize);
  for (let s = first; s <= last; s++) {
    if (!lin.at(s)) {
      missing = lin.name(s);
      break;
    }
  }
  return new PitrdError('WAL_GAP', `WAL segment ${missing} needed by backup ${b.id} (start ${formatLsn(b.start_lsn)}, stop ${formatLsn(b.stop_lsn)}) is not in the archive (or has no readable summary): no restorable base backup`, {
    context: { backup: b.id, segment: missing, timeline: b.timeline },
  });
}
