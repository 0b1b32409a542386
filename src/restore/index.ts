/**
 * Restores: plan (which backup, is the target reachable), extract a base backup into a new
 * PGDATA, run PostgreSQL to the recovery target with a prefetching restore_command, record
 * restores/{id}.json. `fetchWalFile` is the `pitrd wal-fetch` restore_command.
 */
export { executeRestore, prepareRestore, recordRestore, runRestore } from './run.js';
export type { PreparedRestore, RunRestoreOptions, RestoreResult } from './run.js';
export type { RestoreProgress, RestoreProgressListener } from './progress.js';
export { planRestore, repositoryCatalog } from './plan.js';
export type { PlanCatalog, RestorePlan } from './plan.js';
export { fetchWalFile, readWalFile } from './wal-fetch.js';
export type { WalFetchOutcome } from './wal-fetch.js';
export { Prefetcher, replayOrder } from './prefetch.js';
export { extractBackup, assertEmptyTarget } from './extract.js';
export { recoverySettings, assertTarget, targetReachedPattern } from './target.js';
export { parseRecoveryTarget, parseTargetOrEvent } from './parse-target.js';
export type { ParsedTarget } from './parse-target.js';
export { normaliseTime } from './target-time.js';
export type { TargetField } from './parse-target.js';
export type { RecoveryTarget, RecoveryOptions, TargetAction } from './target.js';
export { copyPaddedPartial, segmentAfterArchive, servableFromSpool, assertSpoolOf } from './spool-partial.js';
