export { openRepository, reopenRepository, Repository } from './repository.js';
export type { OpenRepositoryOptions } from './repository.js';
export { DatabaseRepository } from './database.js';
export type { DatabaseInfoInput } from './database.js';
export { RepoWalArchive } from './wal-archive.js';
export { BackupStore } from './backups.js';
export { RestoreStore } from './restores.js';
export { byStart as drillsByStart, DRILL_PHASES, DRILL_STATUSES, DrillStore } from './drills.js';
export type { DrillFailure, DrillPhase, DrillRecord, DrillRecordInput, DrillStatus } from './drills.js';
export { WalSummaryStore } from './wal-summaries.js';
export type { StoredWalSummary } from './wal-summaries.js';
export { EventIndexStore, EVENT_CHUNK_SEGMENTS } from './event-index.js';
export type { StoredSegmentEvents } from './event-index.js';
export { RelationMapStore, RelationMapSchema, lsnKeyOf } from './relation-maps.js';
export type { RelationMap } from './relation-maps.js';
export { checkRepoJson, repoKeyFingerprint, REPO_FORMAT, RepoJsonSchema } from './repo-json.js';
export type { RepoJson } from './repo-json.js';
export {
  assertProjectId,
  COMPRESSION_EXT,
  DatabaseKeys,
  IDEMPOTENCY_PREFIX,
  idempotencyKey,
  LEGACY_DATABASES_PREFIX,
  newId,
  PROJECTS_KEY,
  PROJECTS_PREFIX,
  refKey,
  REGISTRY_PREFIX,
  registryKey,
  REPO_JSON_KEY,
  URL_SIGNING_SECRET_KEY,
} from './keys.js';
export { MetaStore, metaStoreOf } from './meta.js';
export type { Compression, DatabaseRef } from './keys.js';
export { BACKUP_STATUSES, BACKUP_TYPES, RESTORE_STATUSES } from './schemas.js';
export type { BackupFile, BackupRecord, BackupRecordInput, BackupStatus, BackupType, RestoreRecord, RestoreRecordInput, RestoreStatus } from './schemas.js';
export type { DatabaseInfo, StoredWalSegment, WalArchive, WalPutOutcome } from './types.js';
export { upgradeRepository } from './upgrade.js';
export type { UpgradeOptions, UpgradeReport } from './upgrade.js';
export { readObject, recordedSha256 } from './object-read.js';
