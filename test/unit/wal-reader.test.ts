/**
 * The reader on synthetic WAL laid out exactly as PostgreSQL does (page headers, continuation
 * records, 8-byte alignment), for the cases a live server rarely produces on demand: a record
 * header split across pages, an overwritten contrecord, a broken xl_prev chain.
 */
import { describe, expect, it } from 'vitest';
import { PitrdError } from '../../src/errors.js';
import {
  continuationFromJson,
  continuationToJson,
  crc32c,
  decodeRecord,
  readSegment,
  segmentName,
  summarizeSegment,
  type WalContinuation,
} from '../../src/wal/index.js';

const SEG = 1 << 20;
const PAGE = 8192;
const SYSID = 7300000000000000001n;

interface Rec {
  rmid: number;
  info: number;
  xid: number;
  main: Buffer;
}

function commit(xid: number, usSince2000: bigint): Rec {
  const main = Buffer.alloc(8);
  main.writeBigInt64LE(usSince2000);
  return { rmid: 1, info: 0x00, xid, main };
}
function blob(len: number): Rec {
  const main = Buffer.alloc(len, 0x61);
  return { rmid: 21, info: 0, xid: 0, main };
}

/** Lay records out from `start` into 1 MiB segments; returns segno → bytes and record LSNs. */
function layout(recs: Rec[], start: bigint, opts: { overwriteAt?: number } = {}) {
  const segs = new Map<bigint, Buffer>();
  const lsns: bigint[] = [];
  let pos = start;
  let prev = 0n;
  const bufAt = (lsn: bigint) => {
    const segno = lsn / BigInt(SEG);
    if (!segs.has(segno)) segs.set(segno, Buffer.alloc(SEG));
    return { b: segs.get(segno)!, off: Number(lsn % BigInt(SEG)) };
  };
  const pageHeader = (remLen: number, extraInfo = 0) => {
    const { b, off } = bufAt(pos);
    const long = off === 0;
    b.writeUInt16LE(0xd110, off);
    b.writeUInt16LE((long ? 2 : 0) | (remLen > 0 ? 1 : 0) | extraInfo, off + 2);
    b.writeUInt32LE(1, off + 4);
    b.writeBigUInt64LE(pos, off + 8);
    b.writeUInt32LE(remLen, off + 16);
    if (long) {
      b.writeBigUInt64LE(SYSID, off + 24);
      b.writeUInt32LE(SEG, off + 32);
      b.writeUInt32LE(PAGE, off + 36);
    }
    pos += BigInt(long ? 40 : 24);
  };
  if (pos % BigInt(PAGE) === 0n) pageHeader(0);
  recs.forEach((r, i) => {
    // Main data only: XLR_BLOCK_ID_DATA_SHORT (1-byte length) or _LONG (4-byte length).
    const long = r.main.length > 255;
    const data = Buffer.concat([long ? Buffer.from([254, 0, 0, 0, 0]) : Buffer.from([255, r.main.length]), r.main]);
    if (long) data.writeUInt32LE(r.main.length, 1);
    const rec = Buffer.concat([Buffer.alloc(24), data]);
    rec.writeUInt32LE(rec.length, 0);
    rec.writeUInt32LE(r.xid, 4);
    rec.writeBigUInt64LE(prev, 8);
    rec[16] = r.info;
    rec[17] = r.rmid;
    rec.writeUInt32LE(crc32c(Buffer.concat([rec.subarray(24), rec.subarray(0, 20)])), 20);
    lsns.push(pos);
    prev = pos;
    let done = 0;
    // An "overwritten" record: only its first page is written, then the server gave up on it.
    const limit = opts.overwriteAt === i ? Math.min(rec.length, PAGE - Number(pos % BigInt(PAGE))) : rec.length;
    while (done < limit) {
      if (pos % BigInt(PAGE) === 0n) pageHeader(rec.length - done);
      const { b, off } = bufAt(pos);
      const n = Math.min(limit - done, PAGE - (off % PAGE));
      rec.copy(b, off, done, done + n);
      done += n;
      pos += BigInt(n);
    }
    if (opts.overwriteAt === i) {
      pos += BigInt(PAGE) - (pos % BigInt(PAGE) || BigInt(PAGE));
      pageHeader(0, 0x0008);
      lsns.pop();
      prev = lsns[lsns.length - 1] ?? 0n;
      return;
    }
    pos = (pos + 7n) & ~7n;
  });
  return { segs, lsns };
}

const name = (segno: bigint) => segmentName(1, segno, SEG);

describe('WAL reader on synthetic segments', () => {
  it('reads a record whose header is split across a page boundary', () => {
    // Fill so that the next record starts 8 bytes before the end of the first page.
    const filler = PAGE - 40 - 8 - 24 - 5; // long page header + one record (DATA_LONG) leave 8 bytes
    const recs = [blob(filler), commit(700, 123_456_789n), commit(701, 123_456_790n)];
    const { segs, lsns } = layout(recs, 0n);
    expect(Number(lsns[1]! % BigInt(PAGE))).toBe(PAGE - 8);
    const r = readSegment(segs.get(0n)!, { name: name(0n) });
    expect(r.records.map((x) => x.lsn)).toEqual(lsns);
    const ev = decodeRecord(r.records[1]!);
    expect(ev).toMatchObject({ kind: 'commit', xid: 700, time: '2000-01-01T00:02:03.456789Z' });
    expect(r.endOfWal).toBe(true);
  });

  it('carries a record across a segment boundary through the JSON continuation', () => {
    // The blob starts in segment 1, fills all of segment 2 and ends in segment 3.
    const recs = [blob(SEG - 20_000), commit(800, 1n), blob(2 * SEG), commit(801, 2n)];
    const { segs, lsns } = layout(recs, BigInt(SEG));
    let cont: WalContinuation | null = null;
    const got: bigint[] = [];
    for (const segno of [1n, 2n, 3n]) {
      const s = summarizeSegment(segs.get(segno)!, { name: name(segno), continuation: cont, expectedSystemId: SYSID });
      if (segno === 2n) expect(s.continuation.partial?.got).toBeGreaterThan(SEG);
      got.push(...(s.commits ? [s.lastCommitLsn!] : []));
      cont = continuationFromJson(JSON.parse(JSON.stringify(continuationToJson(s.continuation))));
    }
    expect(got).toEqual([lsns[1], lsns[3]]);
    // Without the state, segment 3 alone still finds the commit after the tail it skips.
    expect(summarizeSegment(segs.get(3n)!, { name: name(3n) }).lastCommitLsn).toBe(lsns[3]);
    // A continuation from the wrong place is refused.
    expect(() => readSegment(segs.get(3n)!, { name: name(3n), continuation: cont })).toThrow(/does not follow the previous segment/);
  });

  it('starts mid-record without a continuation by skipping to the next record', () => {
    const { segs, lsns } = layout([blob(20_000), commit(900, 5n)], BigInt(SEG) - 8192n);
    const r = readSegment(segs.get(1n)!, { name: name(1n) });
    expect(r.records.map((x) => x.lsn)).toEqual([lsns[1]]);
  });

  it('accepts an overwritten contrecord and rejects a missing contrecord flag', () => {
    const { segs, lsns } = layout([commit(1, 1n), blob(20_000), commit(2, 2n)], 0n, { overwriteAt: 1 });
    const r = readSegment(segs.get(0n)!, { name: name(0n) });
    expect(r.records.map((x) => x.xid)).toEqual([1, 2]);
    expect(r.records[1]!.lsn).toBe(lsns[1]);
    const b = Buffer.from(segs.get(0n)!);
    b.writeUInt16LE(0, PAGE + 2); // drop XLP_FIRST_IS_OVERWRITE_CONTRECORD
    expect(() => readSegment(b, { name: name(0n) })).toThrow(/has no XLP_FIRST_IS_CONTRECORD flag/);
  });

  it('rejects a broken xl_prev chain and an invalid resource manager', () => {
    const { segs, lsns } = layout([commit(1, 1n), commit(2, 2n)], 0n);
    const b = Buffer.from(segs.get(0n)!);
    b.writeBigUInt64LE(12345n, Number(lsns[1]!) + 8);
    expect(() => readSegment(b, { name: name(0n) })).toThrow(/xl_prev 0\/3039 does not point at the previous record/);
    const c = Buffer.from(segs.get(0n)!);
    c[Number(lsns[0]!) + 17] = 99;
    let err: unknown;
    try {
      readSegment(c, { name: name(0n) });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PitrdError);
    expect((err as PitrdError).message).toMatch(/WAL segment 000000010000000000000000 at LSN 0\/28: invalid resource manager id 99/);
  });
});
