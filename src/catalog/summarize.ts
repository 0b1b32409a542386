import { isPitrdError } from '../errors.js';
import type { DatabaseRef, DatabaseRepository, Repository, StoredWalSegment } from '../repository/index.js';
import type { TimelineId } from '../types.js';
import { lineageTimelines, parseSegmentName, segmentName, summarizeSegment, summaryToJson, type EventState, type SegmentSummary, type WalContinuation } from '../wal/index.js';
import { databaseIdentity, loadHistories, readSegmentBytes, readSummary, type StoredSummaryJson } from './load.js';

export interface SummarizeOptions {
  /** Only this timeline (default: every timeline in the archive). */
  timeline?: TimelineId;
}

export interface SummarizeResult {
  database: string;
  /** Segments read in this run (the incremental work), including those that then failed. */
  read: number;
  /** Archived segments that already had a summary. */
  alreadySummarized: number;
  /**
   * Segments read without the previous segment's state (first segment, or after a gap): a record
   * that began before them could not be decoded and is not in their summary. Such a summary is
   * redone by a later run once the missing predecessor is archived.
   */
  restartedAt: string[];
  /** Segments that could not be summarised (checksum mismatch, invalid WAL), with why. */
  failed: { timeline: TimelineId; segment: string; code: string; message: string }[];
  /** A segment read in this run holds schema changes: relation names may have changed (take a new relation map). */
  catalogChanged: boolean;
}

interface Known {
  summary: SegmentSummary;
  restarted: boolean;
}

/**
 * Summarise every archived segment that has no summary yet, in LSN order per timeline, carrying
 * the reader's continuation from one segment to the next. Each summary stores its continuation,
 * so the next (incremental) run resumes from the previous summary's state: it costs two LISTs
 * plus one GET per segment it reads and per predecessor summary it needs.
 * Idempotent: a run with nothing new archived reads nothing.
 */
export async function summarizeArchive(repo: Repository, ref: DatabaseRef, opts: SummarizeOptions = {}): Promise<SummarizeResult> {
  return summarizeDatabase(repo.database(ref), opts);
}

/** summarizeArchive for a database handle (what a restore's plan has). */
export async function summarizeDatabase(db: DatabaseRepository, opts: SummarizeOptions = {}): Promise<SummarizeResult> {
  const dbName = db.name;
  const { segSize, systemId } = await databaseIdentity(db);
  const present = new Set((await db.walSummaries.segments()).map((s) => `${s.timeline}:${s.segment}`));
  const { histories } = await loadHistories(db);
  const result: SummarizeResult = { database: dbName, read: 0, alreadySummarized: 0, restartedAt: [], failed: [], catalogChanged: false };
  const cache = new Map<string, Known | null>();
  /** Summaries written in this run: their successors may now be readable with state. */
  const writtenNow = new Set<string>();

  /** `tli`, then its ancestors newest first. */
  const lineageOf = (tli: TimelineId): TimelineId[] => lineageTimelines(tli, histories.get(tli));

  const known = async (tli: TimelineId, segno: bigint): Promise<Known | null> => {
    const name = segmentName(tli, segno, segSize);
    const key = `${tli}:${name}`;
    if (!present.has(key)) return null;
    if (!cache.has(key)) cache.set(key, await readSummary(db, tli, name));
    return cache.get(key)!;
  };

  /** The state the previous segment left, when it is summarised and directly precedes `segno`. */
  const previousState = async (tli: TimelineId, segno: bigint): Promise<{ state: WalContinuation; eventState: EventState } | null> => {
    if (segno === 0n) return null;
    // The first segment of a timeline continues the parent's WAL (the switch segment copies it).
    for (const t of lineageOf(tli)) {
      const prev = await known(t, segno - 1n);
      if (prev && prev.summary.continuation.nextSegno === segno && !prev.summary.partial) {
        return { state: prev.summary.continuation, eventState: prev.summary.eventState };
      }
    }
    return null;
  };

  const byTimeline = new Map<TimelineId, StoredWalSegment[]>();
  for await (const s of db.wal.listSegments(opts.timeline)) {
    const list = byTimeline.get(s.timeline) ?? [];
    list.push(s);
    byTimeline.set(s.timeline, list);
  }

  // Parents first, so a child's first segment can continue from its parent's summary.
  for (const tli of [...byTimeline.keys()].sort((a, b) => a - b)) {
    for (const seg of byTimeline.get(tli)!) {
      const { segno } = parseSegmentName(seg.name, segSize);
      const key = `${tli}:${seg.name}`;
      let prev: Awaited<ReturnType<typeof previousState>> = null;
      if (present.has(key)) {
        // Done, unless it was read after a gap (restarted) that this run has just filled.
        if (segno === 0n || !lineageOf(tli).some((t) => writtenNow.has(`${t}:${segmentName(t, segno - 1n, segSize)}`))) {
          result.alreadySummarized++;
          continue;
        }
        const mine = await known(tli, segno);
        prev = mine && !mine.restarted ? null : await previousState(tli, segno);
        if (mine && (!mine.restarted || prev === null)) {
          result.alreadySummarized++;
          continue;
        }
      } else prev = await previousState(tli, segno);

      let fresh = prev === null;
      let summary: SegmentSummary;
      result.read++;
      try {
        const buf = await readSegmentBytes(db, seg);
        try {
          summary = summarizeSegment(buf, { name: seg.name, segSize, expectedSystemId: systemId, continuation: prev?.state ?? null, eventState: prev?.eventState ?? null });
        } catch (err) {
          // A continuation that does not fit (the previous summary came from other bytes): the
          // segment itself may be fine, so read it once more on its own.
          if (!prev || !isPitrdError(err, 'WAL_INVALID')) throw err;
          summary = summarizeSegment(buf, { name: seg.name, segSize, expectedSystemId: systemId, continuation: null });
          fresh = true;
        }
      } catch (err) {
        result.failed.push({ timeline: tli, segment: seg.name, code: isPitrdError(err) ? err.code : 'INTERNAL', message: err instanceof Error ? err.message : String(err) });
        continue;
      }
      if (fresh) result.restartedAt.push(seg.name);
      const record: StoredSummaryJson = { ...summaryToJson(summary), restarted: fresh };
      // The event index before the summary: a crash between the two leaves the segment without a
      // summary, so the next run reads it again and replaces its index entry (idempotent).
      await db.events.putSegment(tli, seg.name, segno, record.events ?? []);
      await db.walSummaries.put(tli, seg.name, record);
      if (summary.events.some((e) => e.kind === 'schema' || e.kind === 'drop' || e.kind === 'truncate' || e.kind === 'rewrite')) result.catalogChanged = true;
      present.add(key);
      cache.set(key, { summary, restarted: fresh });
      writtenNow.add(key);
    }
  }
  return result;
}
