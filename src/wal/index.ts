export * from './lsn.js';
export * from './segment.js';
export * from './crc32c.js';
export * from './history.js';
export { XLOG_PAGE_MAGIC_PG15, timestampTzToIso, isoToTimestampTz } from './format.js';
export * from './reader.js';
export * from './decode.js';
export * from './summary.js';
export * from './window.js';
