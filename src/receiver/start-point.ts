/**
 * Where to START_REPLICATION. Pure. The rule (an invariant, checked again by
 * startInvariantViolation at every start): never past the lowest WAL byte that is neither
 * archived nor durable in the spool, unless the server no longer has that byte, and then the
 * hole is reported, never skipped silently.
 *
 * What we hold: complete segments, archived or in the spool (a spool segment gets its final name
 * only after its fsync). A `.partial` file is never trusted: its bytes may not be durable, so its
 * segment is received again from its start (the writer truncates it). Normally the held WAL ends
 * at one position C (after the last complete segment) and at most one partial sits at C. A crash
 * while a full segment is being fsync'd and renamed, with the writer already filling the next
 * one, leaves two partials: the lower one was never made durable, so the start is C (the lowest),
 * not the highest partial. A partial below C that nothing holds (left by an older version that
 * did skip it) is a hole: the start goes back to it while the server still has it.
 */
import type { Lsn, TimelineId } from '../types.js';
import { parseSegmentName, segmentStartLsn } from '../wal/segment.js';

export interface NamedSegment {
  timeline: TimelineId;
  name: string;
}

export interface PartialSegment extends NamedSegment {
  /** The archive holds this segment complete: true/false; null: the archive could not be asked. Absent: false. */
  archived?: boolean | null;
}

export interface StartPointInput {
  segSize: number;
  archiveLast: NamedSegment | null;
  spoolComplete: NamedSegment[];
  spoolPartials: PartialSegment[];
  slot: { restartLsn: Lsn | null; restartTimeline: TimelineId | null } | null;
  server: { timeline: TimelineId; xlogpos: Lsn };
}

export type StartSource = 'archive' | 'spool' | 'partial' | 'slot' | 'server';

export interface LsnRange {
  from: Lsn;
  to: Lsn;
}

export interface StartPoint {
  lsn: Lsn;
  timeline: TimelineId;
  source: StartSource;
  /** WAL we never received durably and the server no longer keeps: [from, to) (the first such range). */
  gap?: LsnRange;
  /** Every such range, lowest first (only when there is more than one). */
  gaps?: LsnRange[];
  /** Partial files a complete copy supersedes (in the spool, the archive, or a later timeline): safe to delete. */
  stalePartials?: string[];
}

export function floorToSegment(lsn: Lsn, segSize: number): Lsn {
  return lsn - (lsn % BigInt(segSize));
}

interface Unheld {
  lsn: Lsn;
  /** End of the unheld range; null: open (the tail, everything after what we hold). */
  end: Lsn | null;
  timeline: TimelineId;
  source: StartSource;
  /** The archive could not be asked whether it holds this segment. */
  uncertain: boolean;
}

/** The classification both chooseStartPoint and startInvariantViolation build on. */
interface Holdings {
  tail: Unheld | null;
  holes: Unheld[];
  stale: string[];
  slotStart: { lsn: Lsn; timeline: TimelineId } | null;
}

function segStart(s: NamedSegment, segSize: number, complete: boolean): Lsn {
  const { segno } = parseSegmentName(s.name, segSize);
  return segmentStartLsn(complete ? segno + 1n : segno, segSize);
}

/** Higher position wins; on a tie the higher timeline (pg_receivewal's rule). */
function higher(a: { lsn: Lsn; timeline: TimelineId }, b: { lsn: Lsn; timeline: TimelineId }): boolean {
  return a.lsn > b.lsn || (a.lsn === b.lsn && a.timeline > b.timeline);
}

function holdings(input: StartPointInput): Holdings {
  const { segSize } = input;
  const complete: Array<NamedSegment & { source: StartSource }> = [
    ...(input.archiveLast ? [{ ...input.archiveLast, source: 'archive' as const }] : []),
    ...input.spoolComplete.map((s) => ({ ...s, source: 'spool' as const })),
  ];
  // C: right after the highest complete segment.
  let cont: Unheld | null = null;
  for (const s of complete) {
    const c: Unheld = { lsn: segStart(s, segSize, true), end: null, timeline: s.timeline, source: s.source, uncertain: false };
    if (cont === null || higher(c, cont)) cont = c;
  }
  const inSpool = new Set(input.spoolComplete.map((s) => s.name));
  const stale: string[] = [];
  const holes: Unheld[] = [];
  const tops: Unheld[] = [];
  for (const p of input.spoolPartials) {
    const lsn = segStart(p, segSize, false);
    // A complete segment of a later timeline at or after it: the timeline switched inside this
    // segment, and the later timeline's copy holds its bytes up to the switch.
    const laterTimeline = complete.some((s) => s.timeline > p.timeline && segStart(s, segSize, false) >= lsn);
    if (inSpool.has(p.name) || p.archived === true || laterTimeline) {
      stale.push(p.name + '.partial');
      continue;
    }
    const u: Unheld = { lsn, end: lsn + BigInt(segSize), timeline: p.timeline, source: 'partial', uncertain: p.archived === null };
    if (cont !== null && lsn < cont.lsn && p.timeline <= cont.timeline) holes.push(u);
    else tops.push({ ...u, end: null });
  }
  let tail = cont;
  if (tail === null) {
    // Nothing complete anywhere: the lowest partial (two partials: the lower one never became durable).
    for (const t of tops) if (tail === null || t.lsn < tail.lsn || (t.lsn === tail.lsn && t.timeline > tail.timeline)) tail = t;
  } else {
    // A partial of a later timeline starting right at C: continue on that timeline.
    for (const t of tops) if (t.lsn === tail.lsn && t.timeline > tail.timeline) tail = t;
  }
  holes.sort((a, b) => (a.lsn < b.lsn ? -1 : a.lsn > b.lsn ? 1 : 0));
  const slotLsn = input.slot?.restartLsn ?? null;
  const slotStart = slotLsn !== null && slotLsn !== 0n ? { lsn: floorToSegment(slotLsn, segSize), timeline: input.slot?.restartTimeline ?? input.server.timeline } : null;
  return { tail, holes, stale, slotStart };
}

export function chooseStartPoint(input: StartPointInput): StartPoint {
  const h = holdings(input);
  const extra = h.stale.length ? { stalePartials: h.stale } : {};
  const unheld = [...h.holes, ...(h.tail ? [h.tail] : [])];
  if (unheld.length === 0) {
    if (h.slotStart) return { ...h.slotStart, source: 'slot', ...extra };
    return { lsn: floorToSegment(input.server.xlogpos, input.segSize), timeline: input.server.timeline, source: 'server', ...extra };
  }
  const gaps: LsnRange[] = [];
  let start: StartPoint | null = null;
  for (const u of unheld) {
    if (h.slotStart === null || u.lsn >= h.slotStart.lsn) {
      start = { lsn: u.lsn, timeline: u.timeline, source: u.source };
      break;
    }
    // The server no longer has u.lsn. A partial the archive could not be asked about is not
    // called lost (it may well be archived); the continuity check of the archive will tell.
    if (u.end !== null && u.end <= h.slotStart.lsn) {
      if (!u.uncertain) gaps.push({ from: u.lsn, to: u.end });
      continue;
    }
    gaps.push({ from: u.lsn, to: h.slotStart.lsn });
    start = { ...h.slotStart, source: 'slot' };
    break;
  }
  start ??= h.slotStart ? { ...h.slotStart, source: 'slot' } : { lsn: floorToSegment(input.server.xlogpos, input.segSize), timeline: input.server.timeline, source: 'server' };
  return { ...start, ...(gaps.length ? { gap: gaps[0]! } : {}), ...(gaps.length > 1 ? { gaps } : {}), ...extra };
}

/**
 * The start invariant, checked by the session before every START_REPLICATION (independently of
 * how the start was chosen): the start is a segment boundary, and it is not past the lowest byte
 * neither archived nor durable in the spool, unless that byte is below what the server still has
 * and the start reports the gap from there. Null when it holds, else what is wrong.
 */
export function startInvariantViolation(input: StartPointInput, start: StartPoint): string | null {
  if (start.lsn % BigInt(input.segSize) !== 0n) return `start ${start.lsn} is not a segment boundary`;
  const h = holdings(input);
  const gaps = [...(start.gap ? [start.gap] : []), ...(start.gaps ?? [])];
  for (const u of [...h.holes, ...(h.tail ? [h.tail] : [])]) {
    if (start.lsn <= u.lsn) continue;
    const serverHasIt = h.slotStart === null || u.lsn >= h.slotStart.lsn;
    if (serverHasIt) return `start ${start.lsn} is past ${u.lsn}, a WAL byte neither archived nor durable in the spool that the server still has`;
    if (u.uncertain) continue;
    if (!gaps.some((g) => g.from <= u.lsn && u.lsn < g.to)) return `start ${start.lsn} skips WAL from ${u.lsn} that is neither archived nor durable in the spool, without reporting it as a gap`;
  }
  return null;
}
