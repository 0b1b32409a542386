import { PitrdError } from '../errors.js';
import type { Lsn, TimelineId } from '../types.js';
import { CRC32C_INIT, crc32cFinal, crc32cUpdate } from './crc32c.js';
import * as F from './format.js';
import { formatLsn } from './lsn.js';
import { parseSegmentName, segmentName, segmentStartLsn } from './segment.js';

/** One WAL record as stored: header fields plus the whole record bytes (header included). */
export interface WalRecord {
  lsn: Lsn;
  /** First byte after the record (before alignment padding). */
  endLsn: Lsn;
  xid: number;
  prev: Lsn;
  info: number;
  rmid: number;
  /** PostgreSQL major that wrote it (from the page magic): block image flags differ by major. */
  major: number;
  bytes: Buffer;
}

/** A record whose start was read but whose end lies in a later page/segment. */
export interface PartialRecord {
  startLsn: Lsn;
  totalLen: number;
  /** Bytes read so far; null when we started mid-record and are only skipping its tail. */
  data: Buffer | null;
  got: number;
}

/** What reading segment N leaves behind for reading segment N+1 (see toJSON in summary.ts). */
export interface WalContinuation {
  systemId: bigint;
  segSize: number;
  timeline: TimelineId;
  nextSegno: bigint;
  prevRecordLsn: Lsn | null;
  partial: PartialRecord | null;
}

export interface ReadSegmentOptions {
  /** The segment's file name (TTTTTTTTXXXXXXXXYYYYYYYY): where its pages must claim to be. */
  name: string;
  /** Expected wal_segment_size; taken from the first page header when omitted. */
  segSize?: number;
  /** Reject segments of another cluster. */
  expectedSystemId?: bigint;
  /** State left by the previous segment, to finish a record that spans the boundary. */
  continuation?: WalContinuation | null;
}

export interface ReadSegmentResult {
  name: string;
  timeline: TimelineId;
  segno: bigint;
  systemId: bigint;
  segSize: number;
  blockSize: number;
  startLsn: Lsn;
  /** End of the valid WAL read: end of the last complete record (or of the bytes of a partial one). */
  endLsn: Lsn;
  records: WalRecord[];
  /** An XLOG_SWITCH record ended this segment early. */
  switched: boolean;
  /** Zeros were met before the end of the segment: the WAL stops here (unfinished segment). */
  endOfWal: boolean;
  continuation: WalContinuation;
  /** PostgreSQL major that wrote the segment (its page magic). */
  major: number;
}

const MAX_RECORD_LEN = 1020 * 1024 * 1024; // XLogRecordMaxSize
const align = (n: number) => (n + F.MAXALIGN - 1) & ~(F.MAXALIGN - 1);

function isZero(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (buf[i] !== 0) return false;
  return true;
}

/**
 * Read every record of one WAL segment, validating page headers (magic, address, timeline,
 * system identifier) and record headers (length, resource manager, xl_prev, CRC-32C) the way
 * PostgreSQL's xlogreader does. Anything inconsistent is a WAL_INVALID naming segment and LSN.
 */
export function readSegment(buf: Buffer, opts: ReadSegmentOptions): ReadSegmentResult {
  const name = opts.name;
  const fail = (lsn: Lsn | null, why: string, extra: Record<string, unknown> = {}): never => {
    const at = lsn === null ? '' : ` at LSN ${formatLsn(lsn)}`;
    throw new PitrdError('WAL_INVALID', `WAL segment ${name}${at}: ${why}`, {
      context: { segment: name, ...(lsn === null ? {} : { lsn: formatLsn(lsn) }), ...extra },
    });
  };

  if (buf.length < F.SIZE_OF_LONG_PAGE_HEADER) fail(null, `truncated: only ${buf.length} bytes, not even a page header`);
  const magic0 = buf.readUInt16LE(0);
  const major = F.majorOfPageMagic(magic0) ?? fail(null, `not a WAL segment of PostgreSQL 13 to 18: page magic 0x${magic0.toString(16).padStart(4, '0')}`);
  const info0 = buf.readUInt16LE(2);
  if (!(info0 & F.XLP_LONG_HEADER)) fail(null, 'first page has no long header (XLP_LONG_HEADER missing)');
  const systemId = buf.readBigUInt64LE(24);
  const hdrSegSize = buf.readUInt32LE(32);
  const blockSize = buf.readUInt32LE(36);
  const segSize = opts.segSize ?? hdrSegSize;
  if (hdrSegSize !== segSize) fail(null, `page header says wal_segment_size ${hdrSegSize}, expected ${segSize}`);
  if (segSize < 1 << 20 || segSize > 1 << 30 || (segSize & (segSize - 1)) !== 0) fail(null, `implausible wal_segment_size ${segSize} in page header`);
  if (blockSize < 1024 || blockSize > 32768 || (blockSize & (blockSize - 1)) !== 0) fail(null, `implausible XLOG_BLCKSZ ${blockSize} in page header`);
  if (opts.expectedSystemId !== undefined && systemId !== opts.expectedSystemId) {
    fail(null, `belongs to another cluster: system identifier ${systemId}, expected ${opts.expectedSystemId}`, { systemId: systemId.toString() });
  }
  const { timeline, segno } = parseSegmentName(name, segSize);
  const startLsn = segmentStartLsn(segno, segSize);
  if (buf.length !== segSize) fail(startLsn + BigInt(buf.length), `truncated: ${buf.length} bytes, expected wal_segment_size ${segSize}`, { bytes: buf.length });

  const cont = opts.continuation ?? null;
  if (cont) {
    if (cont.systemId !== systemId) fail(startLsn, `system identifier ${systemId} differs from the previous segment's ${cont.systemId}: another cluster`);
    if (cont.segSize !== segSize) fail(startLsn, `wal_segment_size ${segSize} differs from the previous segment's ${cont.segSize}`);
    if (cont.nextSegno !== segno) {
      fail(startLsn, `does not follow the previous segment (expected ${segmentName(timeline, cont.nextSegno, segSize)})`);
    }
  }

  const records: WalRecord[] = [];
  let partial: PartialRecord | null = cont?.partial ? { ...cont.partial, data: cont.partial.data ? Buffer.from(cont.partial.data) : null } : null;
  let prevRecordLsn: Lsn | null = cont?.prevRecordLsn ?? null;
  let lastTli = 0;
  let endLsn = startLsn;
  let switched = false;
  let endOfWal = false;

  const finish = (rec: Buffer, lsn: Lsn): void => {
    const totLen = rec.readUInt32LE(0);
    const xlPrev = rec.readBigUInt64LE(8);
    if (prevRecordLsn !== null && xlPrev !== prevRecordLsn) {
      fail(lsn, `record's xl_prev ${formatLsn(xlPrev)} does not point at the previous record ${formatLsn(prevRecordLsn)}`);
    }
    const crc = crc32cFinal(crc32cUpdate(crc32cUpdate(CRC32C_INIT, rec, F.SIZE_OF_XLOG_RECORD, totLen), rec, 0, 20));
    const stored = rec.readUInt32LE(20);
    if (crc !== stored) fail(lsn, `record CRC-32C mismatch: computed 0x${crc.toString(16)}, stored 0x${stored.toString(16)}`);
    const record: WalRecord = { lsn, endLsn: lsn + BigInt(totLen), xid: rec.readUInt32LE(4), prev: xlPrev, info: rec[16]!, rmid: rec[17]!, major, bytes: rec };
    records.push(record);
    prevRecordLsn = lsn;
    if (record.rmid === F.RM_XLOG_ID && (record.info & 0xf0) === F.XLOG_SWITCH) switched = true;
  };

  const checkHeader = (hdr: Buffer, off: number, lsn: Lsn): void => {
    const totLen = hdr.readUInt32LE(off);
    if (totLen < F.SIZE_OF_XLOG_RECORD || totLen > MAX_RECORD_LEN) fail(lsn, `invalid record length ${totLen}`);
    const rmid = hdr[off + 17]!;
    if (rmid > F.RM_MAX_BUILTIN_ID && rmid < 128) fail(lsn, `invalid resource manager id ${rmid}`);
  };

  pages: for (let pageOff = 0; pageOff < segSize; pageOff += blockSize) {
    const pageLsn = startLsn + BigInt(pageOff);
    const pageEnd = pageOff + blockSize;
    const magic = buf.readUInt16LE(pageOff);
    if (magic === 0 && isZero(buf, pageOff, pageEnd)) {
      endOfWal = true; // the unwritten tail of an unfinished segment
      break;
    }
    if (magic !== magic0) fail(pageLsn, `bad page magic 0x${magic.toString(16).padStart(4, '0')} (the segment's first page has 0x${magic0.toString(16)})`);
    const info = buf.readUInt16LE(pageOff + 2);
    if (info & ~F.XLP_ALL_FLAGS) fail(pageLsn, `invalid page info bits 0x${info.toString(16)}`);
    const isLong = (info & F.XLP_LONG_HEADER) !== 0;
    if (isLong !== (pageOff === 0)) fail(pageLsn, isLong ? 'unexpected long page header' : 'missing long page header');
    const tli = buf.readUInt32LE(pageOff + 4);
    const pageAddr = buf.readBigUInt64LE(pageOff + 8);
    if (pageAddr !== pageLsn) fail(pageLsn, `page address ${formatLsn(pageAddr)} does not match its position (file misnamed, or pages from elsewhere)`);
    // Pages copied from the parent timeline at a switch carry the older id; never a newer one.
    if (tli > timeline || tli < lastTli || tli === 0) fail(pageLsn, `page timeline ${tli} is out of sequence (segment timeline ${timeline}, previous page ${lastTli})`);
    lastTli = tli;
    const remLen = buf.readUInt32LE(pageOff + 16);
    let pos = pageOff + (isLong ? F.SIZE_OF_LONG_PAGE_HEADER : F.SIZE_OF_SHORT_PAGE_HEADER);

    if (partial && !(info & F.XLP_FIRST_IS_CONTRECORD)) {
      // The server abandoned the partial record (crash/promotion) and said so with this flag.
      if (info & F.XLP_FIRST_IS_OVERWRITE_CONTRECORD) partial = null;
      else fail(pageLsn, `record at ${formatLsn(partial.startLsn)} continues here but the page has no XLP_FIRST_IS_CONTRECORD flag`);
    } else if (!partial && info & F.XLP_FIRST_IS_CONTRECORD) {
      // We start in the middle of a record that began in a segment we were not given: skip it.
      partial = { startLsn: pageLsn, totalLen: remLen, data: null, got: 0 };
    }
    if (partial) {
      const want = partial.totalLen - partial.got;
      if (partial.data !== null && remLen !== want) fail(pageLsn, `xlp_rem_len ${remLen} disagrees with the ${want} bytes still expected of the record at ${formatLsn(partial.startLsn)}`);
      const take = Math.min(want, pageEnd - pos);
      if (partial.data) {
        buf.copy(partial.data, partial.got, pos, pos + take);
        // A header split across pages can only be checked once it is whole.
        if (partial.got < F.SIZE_OF_XLOG_RECORD && partial.got + take >= F.SIZE_OF_XLOG_RECORD) checkHeader(partial.data, 0, partial.startLsn);
      }
      partial.got += take;
      pos += take;
      endLsn = pageLsn + BigInt(pos - pageOff);
      if (partial.got < partial.totalLen) continue;
      const done = partial;
      partial = null;
      if (done.data) finish(done.data, done.startLsn);
      if (switched) break;
      pos = align(pos);
    }

    while (pos < pageEnd) {
      const lsn = startLsn + BigInt(pos);
      const totLen = buf.readUInt32LE(pos);
      if (totLen === 0) {
        endOfWal = true; // no record was ever written here
        break pages;
      }
      const avail = pageEnd - pos;
      if (avail >= F.SIZE_OF_XLOG_RECORD) checkHeader(buf, pos, lsn);
      else if (totLen < F.SIZE_OF_XLOG_RECORD || totLen > MAX_RECORD_LEN) fail(lsn, `invalid record length ${totLen}`);
      if (totLen <= avail) {
        finish(buf.subarray(pos, pos + totLen), lsn);
        endLsn = lsn + BigInt(totLen);
        if (switched) break pages;
        pos = align(pos + totLen);
      } else {
        const data = Buffer.alloc(totLen);
        buf.copy(data, 0, pos, pageEnd);
        partial = { startLsn: lsn, totalLen: totLen, data, got: avail };
        endLsn = lsn + BigInt(avail);
        pos = pageEnd;
      }
    }
  }

  return {
    name,
    timeline,
    segno,
    systemId,
    segSize,
    blockSize,
    startLsn,
    endLsn,
    records,
    switched,
    endOfWal,
    major,
    continuation: {
      systemId,
      segSize,
      timeline,
      nextSegno: segno + 1n,
      prevRecordLsn,
      partial: switched || endOfWal ? null : partial,
    },
  };
}
