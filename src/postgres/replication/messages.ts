/**
 * Encoding and decoding of the CopyBoth sub-protocol of physical streaming replication
 * (PostgreSQL docs, "Streaming Replication Protocol"). Pure: no I/O.
 *
 *   server → client  'w' XLogData:            walStart(8) walEnd(8) sendTime(8) data…   (25-byte header)
 *   server → client  'k' primary keepalive:    walEnd(8) sendTime(8) replyRequested(1)
 *   client → server  'r' standby status update: write(8) flush(8) apply(8) clock(8) replyRequested(1)
 */
import { PitrdError } from '../../errors.js';
import type { Lsn } from '../../types.js';

/** PostgreSQL timestamps count microseconds since 2000-01-01 00:00 UTC. */
export const PG_EPOCH_MS = 946_684_800_000;

export const XLOGDATA_HEADER = 25;
const KEEPALIVE_SIZE = 18;
export const STATUS_UPDATE_SIZE = 34;

export interface XLogData {
  kind: 'xlogdata';
  walStart: Lsn;
  walEnd: Lsn;
  /** Server clock when sent, ms since the Unix epoch. */
  sendTimeMs: number;
  /** A view into the message; copy it before the next message arrives if you keep it. */
  data: Buffer;
}

export interface Keepalive {
  kind: 'keepalive';
  walEnd: Lsn;
  sendTimeMs: number;
  replyRequested: boolean;
}

export type ReplicationMessage = XLogData | Keepalive;

export function pgTimestampToMs(micros: bigint): number {
  return Number(micros / 1000n) + PG_EPOCH_MS;
}

export function msToPgTimestamp(ms: number): bigint {
  return BigInt(Math.round(ms - PG_EPOCH_MS)) * 1000n;
}

/** Decode one CopyData payload sent by a walsender. Throws REPLICATION_ERROR on anything else. */
export function decodeMessage(buf: Buffer): ReplicationMessage {
  const type = buf[0];
  if (type === 0x77 /* 'w' */) {
    if (buf.length < XLOGDATA_HEADER) throw malformed('XLogData', buf.length);
    return {
      kind: 'xlogdata',
      walStart: buf.readBigUInt64BE(1),
      walEnd: buf.readBigUInt64BE(9),
      sendTimeMs: pgTimestampToMs(buf.readBigInt64BE(17)),
      data: buf.subarray(XLOGDATA_HEADER),
    };
  }
  if (type === 0x6b /* 'k' */) {
    if (buf.length < KEEPALIVE_SIZE) throw malformed('keepalive', buf.length);
    return {
      kind: 'keepalive',
      walEnd: buf.readBigUInt64BE(1),
      sendTimeMs: pgTimestampToMs(buf.readBigInt64BE(9)),
      replyRequested: buf[17] !== 0,
    };
  }
  throw new PitrdError('REPLICATION_ERROR', `unexpected CopyData message type 0x${(type ?? 0).toString(16)} (${buf.length} bytes) from the walsender`, {
    context: { type, length: buf.length },
    retryable: true,
  });
}

function malformed(what: string, length: number): PitrdError {
  return new PitrdError('REPLICATION_ERROR', `truncated ${what} message from the walsender (${length} bytes)`, { context: { length }, retryable: true });
}

export interface StatusUpdate {
  /** Last byte received (written) + 1. */
  write: Lsn;
  /** Last byte durable + 1: this advances the slot. */
  flush: Lsn;
  /** pitrd replays nothing: 0 (invalid) unless told otherwise. */
  apply?: Lsn;
  nowMs: number;
  replyRequested?: boolean;
}

export function encodeStatusUpdate(s: StatusUpdate): Buffer {
  const buf = Buffer.alloc(STATUS_UPDATE_SIZE);
  buf[0] = 0x72; // 'r'
  buf.writeBigUInt64BE(s.write, 1);
  buf.writeBigUInt64BE(s.flush, 9);
  buf.writeBigUInt64BE(s.apply ?? 0n, 17);
  buf.writeBigInt64BE(msToPgTimestamp(s.nowMs), 25);
  buf[33] = s.replyRequested ? 1 : 0;
  return buf;
}
