import { PitrdError } from '../errors.js';
import type { Lsn, TimelineId } from '../types.js';

/**
 * WAL segment names: TTTTTTTT XXXXXXXX YYYYYYYY, 8 hex digits each — the timeline, then the
 * segment number split as (segno / segmentsPerXLogId, segno % segmentsPerXLogId), where
 * segmentsPerXLogId = 2^32 / wal_segment_size (PostgreSQL's XLogFileName).
 */
export const DEFAULT_WAL_SEGMENT_SIZE = 16 * 1024 * 1024;

const SEGMENT_RE = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$/;
const HISTORY_RE = /^([0-9A-F]{8})\.history$/;

export interface SegmentId {
  timeline: TimelineId;
  segno: bigint;
}

export function assertSegmentSize(size: number): void {
  if (!Number.isInteger(size) || size < 1 << 20 || size > 1 << 30 || (size & (size - 1)) !== 0) {
    throw new PitrdError('VALIDATION_ERROR', `wal_segment_size ${size} is not a power of two between 1 MiB and 1 GiB`, { context: { wal_segment_size: size } });
  }
}

function segmentsPerId(segSize: number): bigint {
  return 0x100000000n / BigInt(segSize);
}

const hex8 = (n: bigint | number) => n.toString(16).toUpperCase().padStart(8, '0');

export function segmentName(timeline: TimelineId, segno: bigint, segSize: number): string {
  const per = segmentsPerId(segSize);
  return hex8(timeline) + hex8(segno / per) + hex8(segno % per);
}

export function isSegmentName(name: string): boolean {
  return SEGMENT_RE.test(name);
}

export function parseSegmentName(name: string, segSize: number): SegmentId {
  const m = SEGMENT_RE.exec(name);
  if (!m) throw new PitrdError('VALIDATION_ERROR', `"${name}" is not a WAL segment name (24 upper-case hex digits)`, { context: { segment: name } });
  const per = segmentsPerId(segSize);
  const low = BigInt('0x' + m[3]);
  if (low >= per) {
    throw new PitrdError('VALIDATION_ERROR', `"${name}" is not a valid segment name for wal_segment_size ${segSize}`, { context: { segment: name } });
  }
  return { timeline: Number.parseInt(m[1]!, 16), segno: BigInt('0x' + m[2]) * per + low };
}

/** The segment holding the byte at `lsn`. */
export function segnoOf(lsn: Lsn, segSize: number): bigint {
  return lsn / BigInt(segSize);
}

/** First LSN of a segment. */
export function segmentStartLsn(segno: bigint, segSize: number): Lsn {
  return segno * BigInt(segSize);
}

/** Offset of `lsn` inside its segment. */
export function segmentOffset(lsn: Lsn, segSize: number): number {
  return Number(lsn % BigInt(segSize));
}

export function historyFileName(timeline: TimelineId): string {
  return `${hex8(timeline)}.history`;
}

export function parseHistoryFileName(name: string): TimelineId | null {
  const m = HISTORY_RE.exec(name);
  return m ? Number.parseInt(m[1]!, 16) : null;
}
