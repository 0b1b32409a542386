export { createReceiver } from './receiver.js';
export type { Receiver, ReceiverOptions, ReceiverRepository } from './receiver.js';
export type { ReceiverStatus, ReceiverState, SlotState } from './status.js';
export { initialStatus } from './status.js';
export type { Logger } from './logger.js';
export { silentLogger } from './logger.js';
export { scanSpool, type SpoolContents } from './spool.js';
export { adoptLegacySpools, spoolDirOf } from './spool-dirs.js';
