import { PitrdError } from '../errors.js';
import type { Lsn, TimelineId } from '../types.js';
import { formatLsn, parseLsn } from './lsn.js';
import { segnoOf } from './segment.js';

/**
 * Timeline history files (`TTTTTTTT.history`): one line per ancestor, `parentTLI <tab> switchLSN
 * <tab> reason`, `#` comments and blank lines allowed. Entry i says: timeline `parent` was
 * followed up to (not including) `switchLsn`, then its child took over.
 */
export interface TimelineHistoryEntry {
  parent: TimelineId;
  switchLsn: Lsn;
  reason: string;
}

export interface TimelineHistory {
  timeline: TimelineId;
  /** Oldest ancestor first, as PostgreSQL writes them. */
  entries: TimelineHistoryEntry[];
}

export function parseTimelineHistory(timeline: TimelineId, content: string): TimelineHistory {
  const entries: TimelineHistoryEntry[] = [];
  const lines = content.split('\n');
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const bad = (why: string) =>
      new PitrdError('WAL_INVALID', `timeline history ${timeline} line ${i + 1} "${line}": ${why}`, { context: { timeline, line: i + 1 } });
    const m = /^(\d+)\s+([0-9A-Fa-f]+\/[0-9A-Fa-f]+)(?:\s+(.*))?$/.exec(line);
    if (!m) throw bad('expected "parentTLI switchLSN reason"');
    const parent = Number(m[1]);
    if (!Number.isSafeInteger(parent) || parent < 1 || parent > 0xffffffff) throw bad(`timeline ${m[1]} is out of range`);
    let switchLsn: Lsn;
    try {
      switchLsn = parseLsn(m[2]!);
    } catch {
      throw bad(`switch point ${m[2]} is not an LSN`);
    }
    const prev = entries[entries.length - 1];
    // PostgreSQL's readTimeLineHistory insists on strictly increasing timeline ids.
    if (prev && parent <= prev.parent) throw bad(`timeline ${parent} does not follow ${prev.parent} (must increase)`);
    if (prev && switchLsn < prev.switchLsn) throw bad(`switch point ${formatLsn(switchLsn)} is before ${formatLsn(prev.switchLsn)}`);
    if (parent >= timeline) throw bad(`parent timeline ${parent} is not older than ${timeline}`);
    entries.push({ parent, switchLsn, reason: (m[3] ?? '').trim() });
  });
  return { timeline, entries };
}

export function formatTimelineHistory(h: TimelineHistory): string {
  return h.entries.map((e) => `${e.parent}\t${formatLsn(e.switchLsn)}\t${e.reason}\n`).join('');
}

/** Which timeline of `history`'s lineage produced the WAL at `lsn`. */
export function timelineOfLsn(history: TimelineHistory, lsn: Lsn): TimelineId {
  for (const e of history.entries) if (lsn < e.switchLsn) return e.parent;
  return history.timeline;
}

/** The LSN range [begin, end) during which `tli` is the producer in `history`'s lineage, or null. */
export function timelineRange(history: TimelineHistory, tli: TimelineId): { begin: Lsn; end: Lsn | null } | null {
  let begin = 0n;
  for (const e of history.entries) {
    if (e.parent === tli) return { begin, end: e.switchLsn };
    begin = e.switchLsn;
  }
  return tli === history.timeline ? { begin, end: null } : null;
}

/**
 * Is the WAL at `lsn` on timeline `tli` part of timeline `of`'s past? True when `tli` is `of`
 * itself or an ancestor that was still current at `lsn` (before its switch point).
 */
export function isAncestor(history: TimelineHistory, tli: TimelineId, lsn: Lsn): boolean {
  const r = timelineRange(history, tli);
  return r !== null && (r.end === null || lsn < r.end);
}

/**
 * `timeline`, then its ancestors newest first: the timelines whose WAL recovery along `timeline`
 * may read (what restore_command is allowed to fetch). `history` is `timeline`'s; absent for
 * timeline 1 or an unreadable file, when the lineage is the timeline alone.
 */
export function lineageTimelines(timeline: TimelineId, history: TimelineHistory | undefined): TimelineId[] {
  return [timeline, ...[...(history?.entries ?? [])].reverse().map((e) => e.parent)];
}

/** One timeline of a lineage and the first segment number recovery reads from it. */
export interface LineageStep {
  tli: TimelineId;
  fromSegno: bigint;
  /** Where the lineage left this timeline; null for the lineage's own (newest) timeline. */
  switchLsn: Lsn | null;
}

/**
 * A timeline's lineage as restore_command recovery reads it, oldest first: each timeline with the
 * first segment read from it. The switch segment is read from the child, which holds a copy of
 * the parent's WAL up to the switch point followed by its own.
 */
export function lineageSteps(timeline: TimelineId, history: TimelineHistory | undefined, segSize: number): LineageStep[] {
  const steps: LineageStep[] = [];
  let begin = 0n;
  for (const e of history?.entries ?? []) {
    steps.push({ tli: e.parent, fromSegno: segnoOf(begin, segSize), switchLsn: e.switchLsn });
    begin = e.switchLsn;
  }
  steps.push({ tli: timeline, fromSegno: segnoOf(begin, segSize), switchLsn: null });
  return steps;
}

/** The timeline whose file holds segment `segno` in a lineage: the newest that had begun. */
export function stepTimeline(steps: readonly LineageStep[], segno: bigint): TimelineId {
  for (let i = steps.length - 1; i > 0; i--) if (segno >= steps[i]!.fromSegno) return steps[i]!.tli;
  return steps[0]!.tli;
}
