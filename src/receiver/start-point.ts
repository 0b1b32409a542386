/**
 * Where to START_REPLICATION, chosen the way pg_receivewal chooses it: right after the last
 * complete segment we hold (archived or spooled), or at the start of the segment we were writing;
 * otherwise at the slot's restart_lsn; otherwise at the server's current position. Always a
 * segment boundary. Pure.
 */
import type { Lsn, TimelineId } from '../types.js';
import { parseSegmentName, segmentStartLsn } from '../wal/segment.js';

export interface NamedSegment {
  timeline: TimelineId;
  name: string;
}

export interface StartPointInput {
  segSize: number;
  archiveLast: NamedSegment | null;
  spoolComplete: NamedSegment[];
  spoolPartials: NamedSegment[];
  slot: { restartLsn: Lsn | null; restartTimeline: TimelineId | null } | null;
  server: { timeline: TimelineId; xlogpos: Lsn };
}

export type StartSource = 'archive' | 'spool' | 'partial' | 'slot' | 'server';

export interface StartPoint {
  lsn: Lsn;
  timeline: TimelineId;
  source: StartSource;
  /** WAL we never received and the server no longer keeps: [from, to). */
  gap?: { from: Lsn; to: Lsn };
}

export function floorToSegment(lsn: Lsn, segSize: number): Lsn {
  return lsn - (lsn % BigInt(segSize));
}

export function chooseStartPoint(input: StartPointInput): StartPoint {
  const { segSize } = input;
  let best: StartPoint | null = null;
  const consider = (seg: NamedSegment, complete: boolean, source: StartSource) => {
    const { segno } = parseSegmentName(seg.name, segSize);
    const lsn = segmentStartLsn(complete ? segno + 1n : segno, segSize);
    // Highest position wins; on a tie the higher timeline (pg_receivewal's rule).
    if (best === null || lsn > best.lsn || (lsn === best.lsn && seg.timeline > best.timeline)) {
      best = { lsn, timeline: seg.timeline, source };
    }
  };
  if (input.archiveLast) consider(input.archiveLast, true, 'archive');
  for (const s of input.spoolComplete) consider(s, true, 'spool');
  for (const s of input.spoolPartials) consider(s, false, 'partial');

  const slotLsn = input.slot?.restartLsn ?? null;
  const slotStart: StartPoint | null =
    slotLsn !== null && slotLsn !== 0n
      ? { lsn: floorToSegment(slotLsn, segSize), timeline: input.slot?.restartTimeline ?? input.server.timeline, source: 'slot' }
      : null;

  const found = best as StartPoint | null;
  if (found) {
    if (slotStart && found.lsn < slotStart.lsn) {
      // The slot moved past what we hold (recreated, or advanced by someone else): that WAL is
      // gone from the server. Start where the server can serve and report the hole.
      return { ...slotStart, gap: { from: found.lsn, to: slotStart.lsn } };
    }
    return found;
  }
  if (slotStart) return slotStart;
  return { lsn: floorToSegment(input.server.xlogpos, segSize), timeline: input.server.timeline, source: 'server' };
}
