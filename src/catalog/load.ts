import { PitrdError } from '../errors.js';
import type { BackupRecord, DatabaseRepository, StoredWalSegment } from '../repository/index.js';
import type { TimelineId } from '../types.js';
import { parseLsn, parseTimelineHistory, summaryFromJson, type SegmentSummary, type SegmentSummaryJson, type TimelineHistory, type WindowBackup } from '../wal/index.js';

/** database.json's identity, which every catalog operation needs to read segments. */
export async function databaseIdentity(db: DatabaseRepository): Promise<{ segSize: number; systemId: bigint }> {
  const info = await db.info();
  if (!info) {
    throw new PitrdError('OBJECT_NOT_FOUND', `database "${db.name}" has no database.json in the repository (nothing was ever archived for it)`, { context: { database: db.name } });
  }
  return { segSize: info.wal_segment_size, systemId: BigInt(info.system_identifier) };
}

/** A listed segment's decoded bytes, verified against its sha256 marker by the codec. */
export async function readSegmentBytes(db: DatabaseRepository, seg: StoredWalSegment): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await db.wal.readListedSegment(seg)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/**
 * What the catalog stores per segment: src/wal's summary plus whether it was read without its
 * predecessor's state (after a gap), so a later run can redo it once the predecessor appears.
 */
export type StoredSummaryJson = SegmentSummaryJson & { restarted?: boolean };

export interface LoadedSummaries {
  summaries: Map<string, SegmentSummary>;
  /** Keys of summaries made without the previous segment's state. */
  restarted: Set<string>;
}

/** Every stored summary, parsed; keyed `${timeline}:${segno}`. */
export async function loadSummaries(db: DatabaseRepository, timeline?: TimelineId): Promise<LoadedSummaries> {
  const out = new Map<string, SegmentSummary>();
  const restarted = new Set<string>();
  for (const s of await db.walSummaries.list<StoredSummaryJson>(timeline)) {
    try {
      const { restarted: r, ...json } = s.record;
      const sum = summaryFromJson(json);
      out.set(summaryKey(sum.timeline, sum.segno), sum);
      if (r === true) restarted.add(summaryKey(sum.timeline, sum.segno));
    } catch {
      // An unreadable summary is derived data: treat it as absent so the summarizer rewrites it.
    }
  }
  return { summaries: out, restarted };
}

export const summaryKey = (tli: TimelineId, segno: bigint): string => `${tli}:${segno}`;

export interface LoadedHistories {
  histories: Map<TimelineId, TimelineHistory>;
  /** History files that exist but do not parse. */
  broken: { timeline: TimelineId; message: string }[];
}

/** Every archived history file, parsed; the ones that do not parse are listed apart, never dropped silently. */
export async function loadHistories(db: DatabaseRepository): Promise<LoadedHistories> {
  const histories = new Map<TimelineId, TimelineHistory>();
  const broken: LoadedHistories['broken'] = [];
  for (const tli of await db.wal.historyTimelines()) {
    const h = await readHistory(db, tli);
    if (h === null) continue;
    if ('broken' in h) broken.push({ timeline: tli, message: h.broken });
    else histories.set(tli, h);
  }
  return { histories, broken };
}

/**
 * One timeline's history file: parsed, null when it is not archived, or why it does not parse.
 * A storage error throws (it says nothing about the file).
 */
export async function readHistory(db: DatabaseRepository, tli: TimelineId): Promise<TimelineHistory | { broken: string } | null> {
  const raw = await db.wal.getHistory(tli);
  if (!raw) return null;
  try {
    return parseTimelineHistory(tli, raw.toString('utf8'));
  } catch (err) {
    return { broken: err instanceof Error ? err.message : String(err) };
  }
}

/** backup.json records in the shape computeRecoveryWindows takes (those without LSNs cannot start a window). */
export function windowBackups(records: readonly BackupRecord[]): WindowBackup[] {
  const out: WindowBackup[] = [];
  for (const b of records) {
    if (b.start_lsn === null || b.stop_lsn === null || b.stop_time === null || b.timeline === null) continue;
    out.push({ id: b.id, timeline: b.timeline, start_lsn: parseLsn(b.start_lsn), stop_lsn: parseLsn(b.stop_lsn), stop_time: b.stop_time, status: b.status });
  }
  return out;
}

/** One stored summary with its catalog flag, or null when absent or unreadable. */
export async function readSummary(db: DatabaseRepository, tli: TimelineId, segment: string): Promise<{ summary: SegmentSummary; restarted: boolean } | null> {
  const rec = await db.walSummaries.get<StoredSummaryJson>(tli, segment);
  if (rec === null) return null;
  try {
    const { restarted, ...json } = rec;
    return { summary: summaryFromJson(json), restarted: restarted === true };
  } catch {
    return null;
  }
}
