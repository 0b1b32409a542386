/**
 * The one loader of what the recovery window is computed from: stored summaries of still-archived
 * segments, timeline histories and backup records. The API's window (./window.ts) and the restore
 * plan (src/restore/plan.ts) both read it, then src/wal's pure window/admission code.
 */
import type { DatabaseRepository } from '../repository/index.js';
import type { Lsn } from '../types.js';
import { readSegment, decodeRecord, type SegmentSummary, type WindowInput, type WindowSegment, type XidCandidate } from '../wal/index.js';
import { databaseIdentity, loadHistories, loadSummaries, readSummary, windowBackups } from './load.js';

/** The window fields of a summary (its continuation's partial bytes stay behind: plain, small data). */
export function windowSegment(s: SegmentSummary): WindowSegment {
  return {
    timeline: s.timeline,
    segno: s.segno,
    endLsn: s.endLsn,
    firstCommitTime: s.firstCommitTime,
    lastCommitTime: s.lastCommitTime,
    lastCommitLsn: s.lastCommitLsn,
    lastRecordLsn: s.continuation.prevRecordLsn,
    minXid: s.minXid,
    maxXid: s.maxXid,
    restorePoints: s.restorePoints,
    checkpoints: s.checkpoints.map((c) => ({ time: c.time })),
  };
}

/**
 * Load the window input of a database (run summarizeArchive first for segments archived since).
 * Reads no segment: one LIST of the archive, the stored summaries, histories and backup records.
 * A summary outlives its segment when the object is lost or removed by hand: only segments still
 * archived with the same content count. A segment without a readable summary counts as missing.
 */
export async function loadWindowInput(db: DatabaseRepository): Promise<WindowInput> {
  const { segSize } = await databaseIdentity(db);
  const { summaries } = await loadSummaries(db);
  const { histories } = await loadHistories(db);
  const backups = windowBackups(await db.backups.list());
  const archived = new Map<string, string>();
  for await (const s of db.wal.listSegments()) archived.set(`${s.timeline}:${s.name}`, s.sha256);
  const segments = [...summaries.values()].filter((s) => archived.get(`${s.timeline}:${s.name}`) === s.sha256).map(windowSegment);
  return { segSize, segments, histories, backups };
}

/**
 * The LSN of transaction `xid`'s commit or abort record, looked for in `candidates` (segments
 * whose summary's xid range holds it, src/wal's xidCandidates), or null when none holds it.
 * Reads those segments only, each resumed from its predecessor's summary.
 */
export async function locateXid(db: DatabaseRepository, candidates: readonly XidCandidate[], xid: number): Promise<Lsn | null> {
  const { segSize, systemId } = await databaseIdentity(db);
  for (const c of candidates) {
    const bytes = await db.wal.getSegment(c.timeline, c.name);
    const prev = c.prev ? ((await readSummary(db, c.prev.timeline, c.prev.name))?.summary.continuation ?? null) : null;
    let r;
    try {
      r = readSegment(bytes, { name: c.name, segSize, expectedSystemId: systemId, continuation: prev });
    } catch {
      // A predecessor state that does not fit (e.g. across a timeline switch): read from the
      // segment's first whole record; a commit record is never the one spanning the boundary
      // in a way that matters here (its start is what we look for, and it is then in the predecessor).
      r = readSegment(bytes, { name: c.name, segSize, expectedSystemId: systemId });
    }
    for (const rec of r.records) {
      const e = decodeRecord(rec);
      if ((e.kind === 'commit' || e.kind === 'abort') && e.xid === xid) return e.lsn;
    }
  }
  return null;
}
