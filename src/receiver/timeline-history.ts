/**
 * Timeline history files (`TTTTTTTT.history`): one line per ancestor timeline,
 * `parentTLI <tab> switchpoint LSN <tab> reason`. Comments start with '#'. Pure.
 * (Kept in src/receiver until src/wal grows a home for it.)
 */
import { PitrdError } from '../errors.js';
import type { Lsn, TimelineId } from '../types.js';
import { parseLsn } from '../wal/lsn.js';

export interface TimelineHistoryEntry {
  timeline: TimelineId;
  /** First LSN that is no longer on `timeline`. */
  switchpoint: Lsn;
  reason: string;
}

export function parseTimelineHistory(text: string): TimelineHistoryEntry[] {
  const entries: TimelineHistoryEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(\d+)\s+([0-9A-Fa-f]+\/[0-9A-Fa-f]+)\s*(.*)$/.exec(line);
    if (!m) throw new PitrdError('WAL_INVALID', `timeline history line "${line}" is not "TLI<tab>X/Y<tab>reason"`, { context: { line } });
    const timeline = Number(m[1]);
    const prev = entries[entries.length - 1];
    if (prev && timeline <= prev.timeline) {
      throw new PitrdError('WAL_INVALID', `timeline history is not in increasing timeline order at "${line}"`, { context: { line } });
    }
    entries.push({ timeline, switchpoint: parseLsn(m[2]!), reason: m[3] ?? '' });
  }
  return entries;
}
