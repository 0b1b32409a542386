import { PitrdError } from '../errors.js';
import type { Lsn, TimelineId } from '../types.js';
import * as F from './format.js';
import { formatLsn } from './lsn.js';
import type { WalRecord } from './reader.js';

/** The records recovery targets depend on, decoded; everything else is `other`. */
export type WalEvent =
  | {
      kind: 'commit' | 'abort';
      lsn: Lsn;
      xid: number;
      time: string;
      prepared: boolean;
      subxacts: number[];
      /** The database the transaction ran in (xl_xact_dbinfo), when the record says. */
      dbId: number | null;
      /** Relation files the transaction drops at commit/abort (xl_xact_relfilenodes / relfilelocators). */
      dropped: RelFile[];
    }
  | { kind: 'restore_point'; lsn: Lsn; name: string; time: string }
  | { kind: 'checkpoint'; lsn: Lsn; shutdown: boolean; redo: Lsn; timeline: TimelineId; prevTimeline: TimelineId; time: string }
  | { kind: 'end_of_recovery'; lsn: Lsn; time: string; timeline: TimelineId; prevTimeline: TimelineId }
  | { kind: 'switch'; lsn: Lsn }
  | { kind: 'other'; lsn: Lsn };

function bad(rec: WalRecord, why: string): PitrdError {
  return new PitrdError('WAL_INVALID', `WAL record at LSN ${formatLsn(rec.lsn)} (rmgr ${rec.rmid}, info 0x${rec.info.toString(16)}): ${why}`, {
    context: { lsn: formatLsn(rec.lsn), rmid: rec.rmid },
  });
}

/** A relation file (RelFileNode, RelFileLocator from 16 on): tablespace, database, relation file number. */
export interface RelFile {
  spc: number;
  db: number;
  rel: number;
}

/** One block reference of a record (XLogRecordBlockHeader): which relation file, fork and block. */
export interface BlockRef {
  id: number;
  fork: number;
  relFile: RelFile;
  block: number;
  hasImage: boolean;
}

/** The block references of a record and its main data. */
export interface RecordLayout {
  blocks: BlockRef[];
  main: Buffer;
}

const readRelFile = (b: Buffer, pos: number): RelFile => ({ spc: b.readUInt32LE(pos), db: b.readUInt32LE(pos + 4), rel: b.readUInt32LE(pos + 8) });

/** The main data of a record (see recordLayout). */
export function recordMainData(rec: WalRecord): Buffer {
  return recordLayout(rec).main;
}

/**
 * Walk the block references after the record header (XLogRecordBlockHeader and friends): each
 * block's relation file, fork and block number, then the main data, which always comes last.
 * Checks that the declared lengths add up to xl_tot_len.
 */
export function recordLayout(rec: WalRecord): RecordLayout {
  const b = rec.bytes;
  const blocks: BlockRef[] = [];
  let lastRel: RelFile | null = null;
  const total = b.length;
  let pos = F.SIZE_OF_XLOG_RECORD;
  let payload = 0;
  let mainLen = 0;
  const need = (n: number) => {
    if (pos + n > total) throw bad(rec, `block header runs past the record end (${total} bytes)`);
  };
  while (pos < total - payload) {
    need(1);
    const id = b[pos++]!;
    if (id === F.XLR_BLOCK_ID_DATA_SHORT) {
      need(1);
      mainLen = b[pos++]!;
      break;
    } else if (id === F.XLR_BLOCK_ID_DATA_LONG) {
      need(4);
      mainLen = b.readUInt32LE(pos);
      pos += 4;
      break;
    } else if (id === F.XLR_BLOCK_ID_ORIGIN) {
      need(2);
      pos += 2;
    } else if (id === F.XLR_BLOCK_ID_TOPLEVEL_XID) {
      need(4);
      pos += 4;
    } else if (id <= F.XLR_MAX_BLOCK_ID) {
      need(3);
      const forkFlags = b[pos]!;
      payload += b.readUInt16LE(pos + 1);
      pos += 3;
      const hasImage = (forkFlags & F.BKPBLOCK_HAS_IMAGE) !== 0;
      if (hasImage) {
        need(5);
        payload += b.readUInt16LE(pos); // bimg_len
        const bimgInfo = b[pos + 4]!;
        pos += 5;
        // Only a compressed image with a hole stores the hole length explicitly.
        if (bimgInfo & F.BKPIMAGE_HAS_HOLE && bimgInfo & F.bkpImageCompressedMask(rec.major)) {
          need(2);
          pos += 2;
        }
      }
      if (!(forkFlags & F.BKPBLOCK_SAME_REL)) {
        need(F.SIZE_OF_REL_FILE_NODE);
        lastRel = readRelFile(b, pos);
        pos += F.SIZE_OF_REL_FILE_NODE;
      } else if (lastRel === null) {
        throw bad(rec, `block ${id} says BKPBLOCK_SAME_REL but no block before it names a relation`);
      }
      need(4);
      blocks.push({ id, fork: forkFlags & F.BKPBLOCK_FORK_MASK, relFile: lastRel, block: b.readUInt32LE(pos), hasImage });
      pos += 4; // BlockNumber
    } else {
      throw bad(rec, `invalid block_id ${id}`);
    }
  }
  if (pos + payload + mainLen !== total) {
    throw bad(rec, `headers (${pos}) + block data (${payload}) + main data (${mainLen}) != xl_tot_len ${total}`);
  }
  return { blocks, main: b.subarray(total - mainLen) };
}

function readTimestampTz(rec: WalRecord, d: Buffer, off: number): string {
  if (d.length < off + 8) throw bad(rec, `main data too short (${d.length} bytes) for a timestamp at offset ${off}`);
  return F.timestampTzToIso(d.readBigInt64LE(off));
}

/** xl_xact_commit / xl_xact_abort: time, xinfo, then the sub-records xinfo announces. */
function decodeXact(rec: WalRecord, d: Buffer, op: number): WalEvent {
  const time = readTimestampTz(rec, d, 0);
  let pos = 8;
  const need = (n: number) => {
    if (pos + n > d.length) throw bad(rec, `transaction record main data too short (${d.length} bytes) at offset ${pos}`);
  };
  let xinfo = 0;
  if (rec.info & F.XLOG_XACT_HAS_INFO) {
    need(4);
    xinfo = d.readUInt32LE(pos);
    pos += 4;
  }
  const isCommit = op === F.XLOG_XACT_COMMIT || op === F.XLOG_XACT_COMMIT_PREPARED;
  const counted = (size: number) => {
    need(4);
    const n = d.readInt32LE(pos);
    if (n < 0) throw bad(rec, `negative item count ${n}`);
    pos += 4;
    need(n * size);
    const start = pos;
    pos += n * size;
    return { n, start };
  };
  let dbId: number | null = null;
  if (xinfo & F.XACT_XINFO_HAS_DBINFO) {
    need(8);
    dbId = d.readUInt32LE(pos);
    pos += 8;
  }
  const subxacts: number[] = [];
  if (xinfo & F.XACT_XINFO_HAS_SUBXACTS) {
    const { n, start } = counted(4);
    for (let i = 0; i < n; i++) subxacts.push(d.readUInt32LE(start + 4 * i));
  }
  const dropped: RelFile[] = [];
  if (xinfo & F.XACT_XINFO_HAS_RELFILENODES) {
    const { n, start } = counted(F.SIZE_OF_REL_FILE_NODE);
    for (let i = 0; i < n; i++) dropped.push(readRelFile(d, start + F.SIZE_OF_REL_FILE_NODE * i));
  }
  if (xinfo & F.XACT_XINFO_HAS_DROPPED_STATS) counted(F.xactStatsItemSize(rec.major));
  if (isCommit && xinfo & F.XACT_XINFO_HAS_INVALS) counted(F.SIZE_OF_SHARED_INVAL_MESSAGE);
  let xid = rec.xid;
  const prepared = op === F.XLOG_XACT_COMMIT_PREPARED || op === F.XLOG_XACT_ABORT_PREPARED;
  if (xinfo & F.XACT_XINFO_HAS_TWOPHASE) {
    need(4);
    xid = d.readUInt32LE(pos);
    pos += 4;
  } else if (prepared) {
    throw bad(rec, 'prepared transaction record without the two-phase xid (XACT_XINFO_HAS_TWOPHASE)');
  }
  return { kind: isCommit ? 'commit' : 'abort', lsn: rec.lsn, xid, time, prepared, subxacts, dbId, dropped };
}

export function decodeRecord(rec: WalRecord): WalEvent {
  if (rec.rmid === F.RM_XACT_ID) {
    const op = rec.info & F.XLOG_XACT_OPMASK;
    if (op === F.XLOG_XACT_COMMIT || op === F.XLOG_XACT_ABORT || op === F.XLOG_XACT_COMMIT_PREPARED || op === F.XLOG_XACT_ABORT_PREPARED) {
      return decodeXact(rec, recordMainData(rec), op);
    }
  } else if (rec.rmid === F.RM_XLOG_ID) {
    const kind = rec.info & 0xf0;
    if (kind === F.XLOG_SWITCH) return { kind: 'switch', lsn: rec.lsn };
    if (kind === F.XLOG_RESTORE_POINT) {
      const d = recordMainData(rec);
      if (d.length < 8 + 64) throw bad(rec, `restore point main data is ${d.length} bytes, expected 72`);
      const nameBytes = d.subarray(8, 8 + 64);
      const nul = nameBytes.indexOf(0);
      return { kind: 'restore_point', lsn: rec.lsn, time: readTimestampTz(rec, d, 0), name: nameBytes.subarray(0, nul < 0 ? 64 : nul).toString('utf8') };
    }
    if (kind === F.XLOG_CHECKPOINT_SHUTDOWN || kind === F.XLOG_CHECKPOINT_ONLINE) {
      const d = recordMainData(rec);
      if (d.length < 88) throw bad(rec, `checkpoint main data is ${d.length} bytes, expected 88`);
      // CheckPoint.time is a pg_time_t: seconds since the Unix epoch.
      const time = new Date(Number(d.readBigInt64LE(64)) * 1000).toISOString().replace(/\.\d{3}Z$/, '.000000Z');
      return {
        kind: 'checkpoint',
        lsn: rec.lsn,
        shutdown: kind === F.XLOG_CHECKPOINT_SHUTDOWN,
        redo: d.readBigUInt64LE(0),
        timeline: d.readUInt32LE(8),
        prevTimeline: d.readUInt32LE(12),
        time,
      };
    }
    if (kind === F.XLOG_END_OF_RECOVERY) {
      const d = recordMainData(rec);
      if (d.length < 16) throw bad(rec, `end-of-recovery main data is ${d.length} bytes, expected 16`);
      return { kind: 'end_of_recovery', lsn: rec.lsn, time: readTimestampTz(rec, d, 0), timeline: d.readUInt32LE(8), prevTimeline: d.readUInt32LE(12) };
    }
  }
  return { kind: 'other', lsn: rec.lsn };
}
