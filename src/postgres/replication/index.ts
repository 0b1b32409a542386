/**
 * The replication protocol, spoken over a `replication=true` connection: the one frame reader
 * (zero-copy CopyData, a maximum message length), the walsender's commands and the CopyBoth
 * stream of START_REPLICATION (the receiver), and BASE_BACKUP (base backups).
 */
export { ReplicationConnection } from './connection.js';
export type { ReplicationConnectionOptions, SlotPosition, TimelineEnd } from './connection.js';
export { identifySystem } from './identify.js';
export type { IdentifySystem } from './identify.js';
export { BaseBackupConnection } from './base-backup.js';
export type { BaseBackupResult } from './base-backup.js';
export { baseBackupCommandText, baseBackupDecoder } from './base-backup-wire.js';
export type { BaseBackupCommand, BaseBackupMessages, BaseBackupWire } from './base-backup-wire.js';
export { FrameReader, MAX_MESSAGE_BYTES } from './frame-reader.js';
export type { FrameReaderOptions } from './frame-reader.js';
export { RecvSlab, RecvSlabPool } from './recv-slabs.js';
export type { SlabHold } from './recv-slabs.js';
export { decodeMessage, encodeStatusUpdate, msToPgTimestamp, pgTimestampToMs, PG_EPOCH_MS, STATUS_UPDATE_SIZE, XLOGDATA_HEADER } from './messages.js';
export type { Keepalive, ReplicationMessage, StatusUpdate, XLogData } from './messages.js';
