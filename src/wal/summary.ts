import { createHash } from 'node:crypto';
import { PitrdError } from '../errors.js';
import type { Lsn, TimelineId } from '../types.js';
import { decodeRecord, type WalEvent } from './decode.js';
import { EventExtractor, type EventState, type IndexEvent, type IndexEventJson } from './events.js';
import { formatLsn, parseLsn } from './lsn.js';
import { readSegment, type ReadSegmentOptions, type WalContinuation } from './reader.js';

export interface RestorePointInfo {
  name: string;
  time: string;
  lsn: Lsn;
}

export interface CheckpointInfo {
  lsn: Lsn;
  redo: Lsn;
  timeline: TimelineId;
  shutdown: boolean;
  time: string;
}

/** What the archive needs to know about one segment, without re-reading it. */
export interface SegmentSummary {
  name: string;
  timeline: TimelineId;
  segno: bigint;
  systemId: string;
  startLsn: Lsn;
  endLsn: Lsn;
  /** ISO 8601 UTC with microseconds; null when the segment holds no commit. */
  firstCommitTime: string | null;
  lastCommitTime: string | null;
  /** LSN of the last commit record, the latest point a time target can reach in this segment. */
  lastCommitLsn: Lsn | null;
  minXid: number | null;
  maxXid: number | null;
  commits: number;
  aborts: number;
  restorePoints: RestorePointInfo[];
  checkpoints: CheckpointInfo[];
  endOfRecovery: { lsn: Lsn; time: string; timeline: TimelineId; prevTimeline: TimelineId }[];
  switched: boolean;
  /** The segment stops early (zeros): it was not finished when copied. */
  partial: boolean;
  sha256: string;
  continuation: WalContinuation;
  /** The events of the event index whose commit (or restore point) is in this segment. */
  events: IndexEvent[];
  /** Open transactions' writes at the segment's end, for the next segment's extractor. */
  eventState: EventState;
}

/**
 * Read, validate and summarise one segment; pass `continuation` (and `eventState`) from the
 * previous one. Summaries written before the event index have neither events nor state.
 */
export function summarizeSegment(buf: Buffer, opts: ReadSegmentOptions & { eventState?: EventState | null }): SegmentSummary {
  const r = readSegment(buf, opts);
  const extractor = new EventExtractor(opts.continuation ? opts.eventState : null);
  const s: SegmentSummary = {
    name: r.name,
    timeline: r.timeline,
    segno: r.segno,
    systemId: r.systemId.toString(),
    startLsn: r.startLsn,
    endLsn: r.endLsn,
    firstCommitTime: null,
    lastCommitTime: null,
    lastCommitLsn: null,
    minXid: null,
    maxXid: null,
    commits: 0,
    aborts: 0,
    restorePoints: [],
    checkpoints: [],
    endOfRecovery: [],
    switched: r.switched,
    partial: r.endOfWal,
    sha256: createHash('sha256').update(buf).digest('hex'),
    continuation: r.continuation,
    events: extractor.events,
    eventState: {},
  };
  for (const rec of r.records) {
    const e = decodeRecord(rec);
    addEvent(s, e);
    extractor.observe(rec, e);
  }
  s.eventState = extractor.snapshot();
  return s;
}

function addEvent(s: SegmentSummary, e: WalEvent): void {
  switch (e.kind) {
    case 'commit':
    case 'abort':
      if (e.kind === 'commit') {
        s.commits++;
        s.firstCommitTime ??= e.time;
        s.lastCommitTime = e.time;
        s.lastCommitLsn = e.lsn;
      } else s.aborts++;
      // xids wrap around; the range is as met, which is what "xid range" means within a segment.
      if (e.xid !== 0) {
        s.minXid = s.minXid === null ? e.xid : Math.min(s.minXid, e.xid);
        s.maxXid = s.maxXid === null ? e.xid : Math.max(s.maxXid, e.xid);
      }
      break;
    case 'restore_point':
      s.restorePoints.push({ name: e.name, time: e.time, lsn: e.lsn });
      break;
    case 'checkpoint':
      s.checkpoints.push({ lsn: e.lsn, redo: e.redo, timeline: e.timeline, shutdown: e.shutdown, time: e.time });
      break;
    case 'end_of_recovery':
      s.endOfRecovery.push({ lsn: e.lsn, time: e.time, timeline: e.timeline, prevTimeline: e.prevTimeline });
      break;
    default:
      break;
  }
}

// ---- JSON form: LSNs as 'X/Y', bigints as decimal strings, partial bytes as base64 ----

export interface ContinuationJson {
  systemId: string;
  segSize: number;
  timeline: TimelineId;
  nextSegno: string;
  prevRecordLsn: string | null;
  partial: { startLsn: string; totalLen: number; got: number; data: string | null } | null;
}

export type SegmentSummaryJson = Omit<
  SegmentSummary,
  'segno' | 'startLsn' | 'endLsn' | 'lastCommitLsn' | 'restorePoints' | 'checkpoints' | 'endOfRecovery' | 'continuation' | 'events' | 'eventState'
> & {
  segno: string;
  startLsn: string;
  endLsn: string;
  lastCommitLsn: string | null;
  restorePoints: { name: string; time: string; lsn: string }[];
  checkpoints: { lsn: string; redo: string; timeline: TimelineId; shutdown: boolean; time: string }[];
  endOfRecovery: { lsn: string; time: string; timeline: TimelineId; prevTimeline: TimelineId }[];
  continuation: ContinuationJson;
  /** Absent in summaries written before the event index. */
  events?: IndexEventJson[];
  eventState?: EventState;
};

export function continuationToJson(c: WalContinuation): ContinuationJson {
  return {
    systemId: c.systemId.toString(),
    segSize: c.segSize,
    timeline: c.timeline,
    nextSegno: c.nextSegno.toString(),
    prevRecordLsn: c.prevRecordLsn === null ? null : formatLsn(c.prevRecordLsn),
    partial: c.partial
      ? { startLsn: formatLsn(c.partial.startLsn), totalLen: c.partial.totalLen, got: c.partial.got, data: c.partial.data ? c.partial.data.toString('base64') : null }
      : null,
  };
}

export function continuationFromJson(j: ContinuationJson): WalContinuation {
  const data = j.partial?.data != null ? Buffer.alloc(j.partial.totalLen) : null;
  if (data && j.partial?.data) {
    const got = Buffer.from(j.partial.data, 'base64');
    if (got.length > data.length) throw new PitrdError('WAL_INVALID', `continuation holds ${got.length} bytes of a ${data.length}-byte record`);
    got.copy(data);
  }
  return {
    systemId: BigInt(j.systemId),
    segSize: j.segSize,
    timeline: j.timeline,
    nextSegno: BigInt(j.nextSegno),
    prevRecordLsn: j.prevRecordLsn === null ? null : parseLsn(j.prevRecordLsn),
    partial: j.partial ? { startLsn: parseLsn(j.partial.startLsn), totalLen: j.partial.totalLen, got: j.partial.got, data } : null,
  };
}

export function summaryToJson(s: SegmentSummary): SegmentSummaryJson {
  return {
    ...s,
    segno: s.segno.toString(),
    startLsn: formatLsn(s.startLsn),
    endLsn: formatLsn(s.endLsn),
    lastCommitLsn: s.lastCommitLsn === null ? null : formatLsn(s.lastCommitLsn),
    restorePoints: s.restorePoints.map((p) => ({ ...p, lsn: formatLsn(p.lsn) })),
    checkpoints: s.checkpoints.map((c) => ({ ...c, lsn: formatLsn(c.lsn), redo: formatLsn(c.redo) })),
    endOfRecovery: s.endOfRecovery.map((e) => ({ ...e, lsn: formatLsn(e.lsn) })),
    continuation: continuationToJson(s.continuation),
    events: s.events.map(eventToJson),
  };
}

export function eventToJson(e: IndexEvent): IndexEventJson {
  return { ...e, lsn: formatLsn(e.lsn) };
}

export function eventFromJson(e: IndexEventJson): IndexEvent {
  return { ...e, lsn: parseLsn(e.lsn) };
}

export function summaryFromJson(j: SegmentSummaryJson): SegmentSummary {
  return {
    ...j,
    segno: BigInt(j.segno),
    startLsn: parseLsn(j.startLsn),
    endLsn: parseLsn(j.endLsn),
    lastCommitLsn: j.lastCommitLsn === null ? null : parseLsn(j.lastCommitLsn),
    restorePoints: j.restorePoints.map((p) => ({ ...p, lsn: parseLsn(p.lsn) })),
    checkpoints: j.checkpoints.map((c) => ({ ...c, lsn: parseLsn(c.lsn), redo: parseLsn(c.redo) })),
    endOfRecovery: j.endOfRecovery.map((e) => ({ ...e, lsn: parseLsn(e.lsn) })),
    continuation: continuationFromJson(j.continuation),
    events: (j.events ?? []).map(eventFromJson),
    eventState: j.eventState ?? {},
  };
}
