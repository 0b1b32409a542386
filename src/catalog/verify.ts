import { createHash } from 'node:crypto';
import { isPitrdError } from '../errors.js';
import type { Repository, StoredWalSegment, DatabaseRef } from '../repository/index.js';
import type { TimelineId } from '../types.js';
import { formatLsn, parseLsn, parseSegmentName, segmentName, segnoOf } from '../wal/index.js';
import { findContinuityGaps } from './continuity.js';
import { databaseIdentity, loadHistories, readSegmentBytes } from './load.js';

export type ProblemKind = 'wal_gap' | 'backup_wal_missing' | 'timeline_history' | 'checksum' | 'backup_data' | 'database';

export interface VerifyProblem {
  kind: ProblemKind;
  message: string;
  timeline?: TimelineId;
  /** Segment names the problem is about (a gap lists every missing one). */
  segments?: string[];
  backup?: string;
}

export interface VerifyReport {
  database: string;
  ok: boolean;
  /** Segments whose bytes were re-read and checked against their sha256 marker (0 with quick). */
  segments_checked: number;
  segments: number;
  timelines: TimelineId[];
  backups_checked: number;
  problems: VerifyProblem[];
}

export interface VerifyOptions {
  /** Skip re-reading every segment (no checksum check). */
  quick?: boolean;
  /** Called as the verification advances (e.g. for the CLI's progress display); must not throw. */
  onProgress?: (p: VerifyProgress) => void;
}

/** Phases of one database's verification, in order; `checksums` repeats once per segment re-read. */
export type VerifyProgress =
  | { database: string; phase: 'listing' }
  | { database: string; phase: 'backups'; backups_total: number; segments_total: number }
  | { database: string; phase: 'checksums'; segments_checked: number; segments_total: number }
  | { database: string; phase: 'done'; ok: boolean; problems: number };

const errText = (err: unknown) => (isPitrdError(err) ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err));

/**
 * Check a database's archive as a restore would need it: WAL continuity from each backup to the
 * end of the archive, timeline histories, stored segment checksums, and backup data objects.
 * Reports every problem found; throws only when the repository cannot be read at all.
 */
export async function verifyDatabase(repo: Repository, ref: DatabaseRef, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const db = repo.database(ref);
  const dbName = ref.name;
  const report: VerifyReport = { database: dbName, ok: true, segments_checked: 0, segments: 0, timelines: [], backups_checked: 0, problems: [] };
  const problem = (p: VerifyProblem) => report.problems.push(p);
  let segSize: number;
  try {
    ({ segSize } = await databaseIdentity(db));
  } catch (err) {
    problem({ kind: 'database', message: errText(err) });
    report.ok = false;
    return report;
  }

  opts.onProgress?.({ database: dbName, phase: 'listing' });
  const listed: StoredWalSegment[] = [];
  for await (const s of db.wal.listSegments()) listed.push(s);
  report.segments = listed.length;
  const archived = new Map<TimelineId, Set<bigint>>();
  for (const s of listed) {
    const set = archived.get(s.timeline) ?? new Set<bigint>();
    set.add(parseSegmentName(s.name, segSize).segno);
    archived.set(s.timeline, set);
  }
  const { histories, broken } = await loadHistories(db);
  report.timelines = [...new Set([...archived.keys(), ...histories.keys(), ...broken.map((b) => b.timeline)])].sort((a, b) => a - b);

  // Timeline histories.
  for (const b of broken) problem({ kind: 'timeline_history', timeline: b.timeline, message: `history file of timeline ${b.timeline} does not parse: ${b.message}` });
  const brokenTli = new Set(broken.map((b) => b.timeline));
  for (const tli of archived.keys()) {
    if (tli > 1 && !histories.has(tli) && !brokenTli.has(tli)) problem({ kind: 'timeline_history', timeline: tli, message: `timeline ${tli} has WAL but no history file` });
  }
  for (const h of histories.values()) {
    for (const e of h.entries) {
      if (e.parent > 1 && !histories.has(e.parent) && !brokenTli.has(e.parent)) {
        problem({ kind: 'timeline_history', timeline: h.timeline, message: `timeline ${h.timeline}'s parent timeline ${e.parent} has no history file` });
      }
    }
    const own = h.entries[h.entries.length - 1];
    if (!own) continue;
    // The child's switch segment copies the parent's WAL from its start; the parent must have
    // everything before that segment, as far back as its own archive goes.
    const switchSegno = segnoOf(own.switchLsn, segSize);
    const parentSegs = archived.get(own.parent);
    const needed = switchSegno - 1n;
    if (needed >= 0n && parentSegs && [...parentSegs].some((s) => s < needed) && !parentSegs.has(needed)) {
      problem({
        kind: 'timeline_history',
        timeline: h.timeline,
        segments: [segmentName(own.parent, needed, segSize)],
        message: `timeline ${h.timeline} branches from timeline ${own.parent} at ${formatLsn(own.switchLsn)}, but the parent's segment ${segmentName(own.parent, needed, segSize)} before the switch is not archived`,
      });
    }
    const parentHistory = histories.get(own.parent);
    if (parentHistory) {
      const prefix = h.entries.slice(0, -1);
      const same = prefix.length === parentHistory.entries.length && prefix.every((e, i) => e.parent === parentHistory.entries[i]!.parent && e.switchLsn === parentHistory.entries[i]!.switchLsn);
      if (!same) problem({ kind: 'timeline_history', timeline: h.timeline, message: `history of timeline ${h.timeline} does not extend its parent timeline ${own.parent}'s history` });
    }
  }

  // Backups: data objects, and the WAL each needs to reach consistency.
  const backups = (await db.backups.list()).filter((b) => b.status === 'completed');
  report.backups_checked = backups.length;
  opts.onProgress?.({ database: dbName, phase: 'backups', backups_total: backups.length, segments_total: listed.length });
  const starts: { id: string; timeline: TimelineId; startSegno: bigint }[] = [];
  for (const b of backups) {
    for (const f of b.files) {
      let size: number | null = null;
      try {
        size = (await repo.store.head(db.backups.dataKey(b.id, f.name)))?.size ?? null;
      } catch (err) {
        if (!isPitrdError(err, 'OBJECT_NOT_FOUND')) throw err;
      }
      if (size === null) problem({ kind: 'backup_data', backup: b.id, message: `backup ${b.id}: data object "${f.name}" is missing` });
      else if (size !== f.stored_size) problem({ kind: 'backup_data', backup: b.id, message: `backup ${b.id}: "${f.name}" has ${size} stored bytes, backup.json says ${f.stored_size}` });
    }
    if (b.start_lsn === null || b.stop_lsn === null || b.timeline === null) continue;
    const start = segnoOf(parseLsn(b.start_lsn), segSize);
    const stop = segnoOf(parseLsn(b.stop_lsn), segSize);
    starts.push({ id: b.id, timeline: b.timeline, startSegno: start });
    const missing: string[] = [];
    for (let s = start; s <= stop; s++) {
      const onAny = [...archived.entries()].some(([t, set]) => t >= b.timeline! && set.has(s));
      if (!onAny) missing.push(segmentName(b.timeline, s, segSize));
    }
    if (missing.length) {
      problem({ kind: 'backup_wal_missing', backup: b.id, timeline: b.timeline, segments: missing, message: `backup ${b.id} cannot reach consistency: WAL segment(s) ${missing.join(', ')} between its start ${b.start_lsn} and stop ${b.stop_lsn} are not archived` });
    }
  }

  // WAL continuity from each backup (or the first segment) to the end of each timeline.
  for (const g of findContinuityGaps({ segSize, archived, histories, backups: starts })) {
    problem({
      kind: 'wal_gap',
      timeline: g.timeline,
      segments: g.missing,
      message: `timeline ${g.timeline}: ${g.missing.length} WAL segment(s) missing: ${g.missing.join(', ')}${g.backups.length ? ` (recovery from backup ${g.backups.join(', ')} stops before it)` : ''}`,
    });
  }

  // Stored checksums: re-read each segment and compare with its marker's sha256.
  if (!opts.quick) {
    opts.onProgress?.({ database: dbName, phase: 'checksums', segments_checked: 0, segments_total: listed.length });
    for (const s of listed) {
      try {
        const buf = await readSegmentBytes(db, s);
        const sum = createHash('sha256').update(buf).digest('hex');
        if (sum !== s.sha256) throw new Error(`content sha256 ${sum} differs from the recorded ${s.sha256}`);
        if (buf.length !== s.size) throw new Error(`content is ${buf.length} bytes, the marker says ${s.size}`);
      } catch (err) {
        problem({ kind: 'checksum', timeline: s.timeline, segments: [s.name], message: `WAL segment ${s.name} (timeline ${s.timeline}) does not match its stored checksum: ${errText(err)}` });
      }
      report.segments_checked++;
      opts.onProgress?.({ database: dbName, phase: 'checksums', segments_checked: report.segments_checked, segments_total: listed.length });
    }
  }
  report.ok = report.problems.length === 0;
  opts.onProgress?.({ database: dbName, phase: 'done', ok: report.ok, problems: report.problems.length });
  return report;
}
