import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeStatusUpdate, msToPgTimestamp, pgTimestampToMs, PG_EPOCH_MS } from '../../src/postgres/index.js';
import { parseSizeSetting } from '../../src/postgres/index.js';
import { isPitrdError } from '../../src/errors.js';

function xlogData(start: bigint, end: bigint, micros: bigint, data: Buffer): Buffer {
  const b = Buffer.alloc(25 + data.length);
  b[0] = 0x77;
  b.writeBigUInt64BE(start, 1);
  b.writeBigUInt64BE(end, 9);
  b.writeBigInt64BE(micros, 17);
  data.copy(b, 25);
  return b;
}

describe('replication messages', () => {
  it('decodes XLogData with its payload at byte 25', () => {
    const payload = Buffer.from('hello wal');
    const m = decodeMessage(xlogData(0x1_0000_0000n, 0x1_0000_0100n, 1_000_000n, payload));
    expect(m.kind).toBe('xlogdata');
    if (m.kind !== 'xlogdata') return;
    expect(m.walStart).toBe(0x1_0000_0000n);
    expect(m.walEnd).toBe(0x1_0000_0100n);
    expect(m.sendTimeMs).toBe(PG_EPOCH_MS + 1000);
    expect(m.data.equals(payload)).toBe(true);
  });

  it('decodes a keepalive and its reply-requested flag', () => {
    const b = Buffer.alloc(18);
    b[0] = 0x6b;
    b.writeBigUInt64BE(0x2_0000_0010n, 1);
    b.writeBigInt64BE(0n, 9);
    b[17] = 1;
    const m = decodeMessage(b);
    expect(m).toEqual({ kind: 'keepalive', walEnd: 0x2_0000_0010n, sendTimeMs: PG_EPOCH_MS, replyRequested: true });
    b[17] = 0;
    expect(decodeMessage(b)).toMatchObject({ replyRequested: false });
  });

  it('rejects unknown and truncated messages with REPLICATION_ERROR', () => {
    expect(() => decodeMessage(Buffer.from([0x78, 1, 2]))).toThrow(/unexpected CopyData message type 0x78/);
    expect(() => decodeMessage(Buffer.from([0x77, 1, 2]))).toThrow(/truncated XLogData/);
    expect(() => decodeMessage(Buffer.from([0x6b]))).toThrow(/truncated keepalive/);
  });

  it('encodes a 34-byte standby status update with microseconds since 2000-01-01', () => {
    const now = Date.UTC(2026, 0, 1, 12, 0, 0);
    const b = encodeStatusUpdate({ write: 0x5_0000_1000n, flush: 0x5_0000_0800n, nowMs: now, replyRequested: true });
    expect(b.length).toBe(34);
    expect(String.fromCharCode(b[0]!)).toBe('r');
    expect(b.readBigUInt64BE(1)).toBe(0x5_0000_1000n);
    expect(b.readBigUInt64BE(9)).toBe(0x5_0000_0800n);
    expect(b.readBigUInt64BE(17)).toBe(0n);
    expect(b.readBigInt64BE(25)).toBe(BigInt(now - 946_684_800_000) * 1000n);
    expect(b[33]).toBe(1);
  });

  it('converts timestamps both ways', () => {
    const ms = Date.UTC(2030, 5, 6, 7, 8, 9, 123);
    expect(pgTimestampToMs(msToPgTimestamp(ms))).toBe(ms);
  });
});

describe('parseSizeSetting', () => {
  it('reads SHOW output units', () => {
    expect(parseSizeSetting('16MB')).toBe(16 * 1024 * 1024);
    expect(parseSizeSetting('1MB')).toBe(1024 * 1024);
    expect(parseSizeSetting('1GB')).toBe(1024 ** 3);
    expect(parseSizeSetting('8192')).toBe(8192);
    expect(() => parseSizeSetting('big')).toThrow(/cannot parse/);
  });
});
