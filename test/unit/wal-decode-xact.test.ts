/**
 * Commit and abort records' variable parts per major (xact.h): the sub-records xinfo announces
 * follow each other, so one wrong size moves everything after it. 18 widened
 * xl_xact_stats_item's object id to 64 bits (16 bytes, 12 before): a two-phase commit that drops
 * relations carries its prepared xid after those items.
 */
import { describe, expect, it } from 'vitest';
import { decodeRecord, type WalRecord } from '../../src/wal/index.js';
import * as F from '../../src/wal/format.js';

const TIME = 789_012_345_678_901n; // µs since 2000-01-01

/** A transaction record (rmgr 1) whose only block is its main data, as XLogInsert lays it out. */
function xactRecord(major: number, op: number, opts: { stats: number; invals: number; twophaseXid: number; subxacts?: number[] }): WalRecord {
  const parts: Buffer[] = [];
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n);
    return b;
  };
  const time = Buffer.alloc(8);
  time.writeBigInt64LE(TIME);
  parts.push(time);
  let xinfo = F.XACT_XINFO_HAS_DBINFO | F.XACT_XINFO_HAS_TWOPHASE;
  if (opts.subxacts?.length) xinfo |= F.XACT_XINFO_HAS_SUBXACTS;
  if (opts.stats) xinfo |= F.XACT_XINFO_HAS_DROPPED_STATS;
  if (opts.invals) xinfo |= F.XACT_XINFO_HAS_INVALS;
  parts.push(u32(xinfo), Buffer.alloc(8, 1)); // xinfo, xl_xact_dbinfo
  if (opts.subxacts?.length) parts.push(u32(opts.subxacts.length), ...opts.subxacts.map(u32));
  if (opts.stats) {
    parts.push(u32(opts.stats));
    // Items of 0xEE bytes: read as a count or an xid, they would be nonsense.
    parts.push(Buffer.alloc(opts.stats * F.xactStatsItemSize(major), 0xee));
  }
  if (opts.invals) parts.push(u32(opts.invals), Buffer.alloc(opts.invals * F.SIZE_OF_SHARED_INVAL_MESSAGE, 0xdd));
  parts.push(u32(opts.twophaseXid));
  const main = Buffer.concat(parts);
  if (main.length > 255) throw new Error('keep the synthetic main data short');
  const bytes = Buffer.concat([Buffer.alloc(F.SIZE_OF_XLOG_RECORD), Buffer.from([F.XLR_BLOCK_ID_DATA_SHORT, main.length]), main]);
  bytes.writeUInt32LE(bytes.length, 0);
  const info = op | F.XLOG_XACT_HAS_INFO;
  return { lsn: 0x1000028n, endLsn: 0x1000028n + BigInt(bytes.length), xid: 0, prev: 0n, info, rmid: F.RM_XACT_ID, major, bytes };
}

describe('transaction records per major', () => {
  it('the dropped-statistics item is 12 bytes up to 17 and 16 from 18', () => {
    expect([15, 16, 17, 18].map(F.xactStatsItemSize)).toEqual([12, 12, 12, 16]);
  });

  for (const major of [15, 16, 17, 18]) {
    it(`PostgreSQL ${major}: a two-phase commit and abort dropping statistics decode their prepared xid`, () => {
      const c = decodeRecord(xactRecord(major, F.XLOG_XACT_COMMIT_PREPARED, { stats: 3, invals: 2, twophaseXid: 4242, subxacts: [7, 8] }));
      expect(c).toMatchObject({ kind: 'commit', lsn: 0x1000028n, xid: 4242, time: F.timestampTzToIso(TIME), prepared: true, subxacts: [7, 8] });
      // An abort carries no invalidation messages.
      const a = decodeRecord(xactRecord(major, F.XLOG_XACT_ABORT_PREPARED, { stats: 2, invals: 0, twophaseXid: 4343 }));
      expect(a).toMatchObject({ kind: 'abort', xid: 4343, prepared: true });
    });
  }

  it('read with 17’s item size, 18’s record is not what it says (why the size goes by the page magic’s major)', () => {
    const rec = { ...xactRecord(18, F.XLOG_XACT_COMMIT_PREPARED, { stats: 3, invals: 2, twophaseXid: 4242 }), major: 17 };
    let xid: number | null = null;
    try {
      const e = decodeRecord(rec);
      xid = e.kind === 'commit' ? e.xid : null;
    } catch {
      xid = null;
    }
    expect(xid).not.toBe(4242);
  });
});
